package tenancy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/refreshtoken"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/internal/txn"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/validation"
)

// The membership status graph. A membership is invited (it waits for its
// user to accept), active, or suspended (its user keeps the account, but has
// no permission in that organization: authz.NewContext loads active
// memberships only). The schema's membership guard enforces the graph on
// every write of cf_memberships.status, by anyone, the system included.
var memberTransitions = map[membership.Status][]membership.Status{
	membership.StatusInvited:   {membership.StatusActive},
	membership.StatusActive:    {membership.StatusSuspended},
	membership.StatusSuspended: {membership.StatusActive},
}

// CreatableMemberStatuses are the statuses a new membership may start in.
var CreatableMemberStatuses = []membership.Status{membership.StatusInvited, membership.StatusActive}

// MemberTransitionAllowed reports whether the membership status graph
// allows a move from one status to another: invited to active (accepting
// an invitation), active to suspended and suspended to active. A status
// never moves to itself.
func MemberTransitionAllowed(from, to membership.Status) bool {
	return slices.Contains(memberTransitions[from], to)
}

// NextMemberStatuses returns the statuses a membership in status from may
// move to.
func NextMemberStatuses(from membership.Status) []membership.Status {
	return slices.Clone(memberTransitions[from])
}

// ErrMemberTransition is matched by a *MemberTransitionError.
var ErrMemberTransition = errors.New("tenancy: membership status change not allowed")

// MemberTransitionError refuses a membership status change: one the status
// graph does not allow (From is empty for a new membership), or invited to
// active outside the acceptance of the invitation. Nothing was written.
type MemberTransitionError struct {
	From, To membership.Status
}

func (e *MemberTransitionError) Error() string {
	switch {
	case e.From == e.To:
		return fmt.Sprintf("tenancy: the membership is already %s", e.To)
	case e.From == "":
		return fmt.Sprintf("tenancy: a new membership starts invited or active, not %s", e.To)
	case e.From == membership.StatusInvited && e.To == membership.StatusActive:
		return "tenancy: an invited membership becomes active when its user accepts the invitation, not by reactivation"
	}
	next := NextMemberStatuses(e.From)
	if len(next) == 0 {
		return fmt.Sprintf("tenancy: a %s membership cannot change status", e.From)
	}
	names := make([]string, len(next))
	for i, s := range next {
		names[i] = string(s)
	}
	return fmt.Sprintf("tenancy: a %s membership cannot become %s (it may become %s)", e.From, e.To, strings.Join(names, " or "))
}

// Is reports whether target is ErrMemberTransition.
func (e *MemberTransitionError) Is(target error) bool { return target == ErrMemberTransition }

// Errors of the manager of a membership. Each comes wrapped in a
// *validation.Error for the field managerID; errors.Is reaches both.
var (
	// ErrForeignManager: the manager is not a member of the membership's
	// organization (or does not exist).
	ErrForeignManager = errors.New("tenancy: the manager must be a member of the same organization")
	// ErrManagerCycle: the membership would be its own manager, or the
	// manager already reports to it, directly or through others.
	ErrManagerCycle = errors.New("tenancy: the manager chain would loop")
	// ErrManagerChainTooLong: the chain of managers above the new manager
	// is longer than MaxManagerDepth.
	ErrManagerChainTooLong = errors.New("tenancy: the manager chain is too long")
)

// MaxManagerDepth is the most managers a chain may have above a new
// manager: a write walks that chain to look for a loop, and refuses a
// longer one with ErrManagerChainTooLong.
const MaxManagerDepth = 1000

// ErrSuspendSelf is matched by the error of suspending one's own
// membership; it is also a *validation.Error for the field id.
var ErrSuspendSelf = errors.New("tenancy: you cannot suspend your own membership; another member with member:update can")

// MaxReason is the longest reason SuspendMember and ReactivateMember take,
// in characters.
const MaxReason = 500

// RevokedMemberSuspended is the revoked_reason of the sessions and refresh
// tokens that suspending a member revokes.
const RevokedMemberSuspended = "member_suspended"

// UpdateMemberInput is what UpdateMember changes; nil fields stay as they
// are.
type UpdateMemberInput struct {
	Title      *string
	Department *string
	// ManagerID is the membership of the new manager, in the same
	// organization; ClearManager removes the manager. Not both.
	ManagerID    *pulid.ID
	ClearManager bool
	// Status moves the membership along the status graph: active to
	// suspended, suspended to active (as SuspendMember and
	// ReactivateMember do).
	Status *membership.Status
}

func (in UpdateMemberInput) empty() bool {
	return in.Title == nil && in.Department == nil && in.ManagerID == nil && !in.ClearManager && in.Status == nil
}

// UpdateMember changes the title, department, manager or status of
// membership id, as the actor of ctx, in one transaction. It needs
// member:update in the membership's organization and a level not below the
// member's (a privacy.Deny or authz.ErrAboveLevel otherwise); a membership
// the actor cannot see is an *ent.NotFoundError, as an unknown ID is.
//
// The manager must be a member of the same organization (ErrForeignManager)
// and the change must not make a loop of managers (ErrManagerCycle), both
// as a *validation.Error for managerID. A status change follows the rules
// of SuspendMember and ReactivateMember (a *MemberTransitionError, and
// nothing else written, otherwise). An empty input is a *validation.Error.
//
// It records member.updated with the values before and after of the fields
// that changed (nothing when none did), and member.suspended or
// member.reactivated when the status changes.
func UpdateMember(ctx context.Context, client *ent.Client, id pulid.ID, in UpdateMemberInput) (*ent.Membership, error) {
	if in.empty() {
		return nil, validation.Errorf("input", "nothing to change: set title, department, managerID, clearManager or status")
	}
	if in.ManagerID != nil && in.ClearManager {
		return nil, validation.Errorf("managerID", "set managerID or clearManager, not both")
	}
	return txn.Run(ctx, client, func(c *ent.Client) (*ent.Membership, error) {
		return updateMember(ctx, c, id, in, "")
	})
}

// SuspendMember suspends membership id, as the actor of ctx (member:update,
// as UpdateMember). The user keeps their account and their other
// memberships, but has no permission in the organization until reactivated;
// their sessions active in the organization, and those sessions' refresh
// tokens, are revoked at once (session.revoked recorded for each). Only an
// active membership is suspended (a *MemberTransitionError otherwise), not
// one's own (ErrSuspendSelf), and not the last active owner
// (authz.ErrLastOwner). The reason is optional (at most MaxReason
// characters, trimmed) and recorded with member.suspended.
func SuspendMember(ctx context.Context, client *ent.Client, id pulid.ID, reason string) (*ent.Membership, error) {
	return moveMember(ctx, client, id, membership.StatusSuspended, reason)
}

// ReactivateMember gives suspended membership id its permissions back, as
// the actor of ctx (member:update, as UpdateMember). Revoked sessions stay
// revoked. Only a suspended membership is reactivated: an active or
// invited one is refused with a *MemberTransitionError (an invited member
// becomes active by accepting the invitation). The reason is optional (at
// most MaxReason characters, trimmed) and recorded with member.reactivated.
func ReactivateMember(ctx context.Context, client *ent.Client, id pulid.ID, reason string) (*ent.Membership, error) {
	return moveMember(ctx, client, id, membership.StatusActive, reason)
}

func moveMember(ctx context.Context, client *ent.Client, id pulid.ID, to membership.Status, reason string) (*ent.Membership, error) {
	r := strings.TrimSpace(reason)
	if n := utf8.RuneCountInString(r); n > MaxReason {
		return nil, validation.Errorf("reason", "at most %d characters, got %d", MaxReason, n)
	}
	return txn.Run(ctx, client, func(c *ent.Client) (*ent.Membership, error) {
		return updateMember(ctx, c, id, UpdateMemberInput{Status: &to}, r)
	})
}

// updateMember applies in to membership id within transaction c.
func updateMember(ctx context.Context, c *ent.Client, id pulid.ID, in UpdateMemberInput, reason string) (*ent.Membership, error) {
	// The read is filtered by the policy: a membership out of reach is
	// not found, as an unknown one.
	old, err := c.Membership.Query().Where(membership.ID(id), lockMember).Only(ctx)
	if err != nil {
		return nil, err
	}
	statusChanges := in.Status != nil && *in.Status != old.Status
	if statusChanges {
		// The graph is the membership guard's; these are the domain's
		// own rules on top of it.
		if old.Status == membership.StatusInvited && *in.Status == membership.StatusActive {
			return nil, &MemberTransitionError{From: old.Status, To: *in.Status}
		}
		if a := actor.FromContext(ctx); *in.Status == membership.StatusSuspended && a != nil && a.UserID() != "" && a.UserID() == old.UserID {
			return nil, validation.Wrap("id", ErrSuspendSelf)
		}
	}
	before, after := map[string]any{}, map[string]any{}
	u := c.Membership.UpdateOneID(id)
	if in.Title != nil {
		u.SetTitle(*in.Title)
		if *in.Title != old.Title {
			before["title"], after["title"] = old.Title, *in.Title
		}
	}
	if in.Department != nil {
		u.SetDepartment(*in.Department)
		if *in.Department != old.Department {
			before["department"], after["department"] = old.Department, *in.Department
		}
	}
	switch {
	case in.ManagerID != nil:
		u.SetManagerID(*in.ManagerID)
		if old.ManagerID == nil || *old.ManagerID != *in.ManagerID {
			before["manager_id"], after["manager_id"] = idOrNil(old.ManagerID), string(*in.ManagerID)
		}
	case in.ClearManager:
		u.ClearManager()
		if old.ManagerID != nil {
			before["manager_id"], after["manager_id"] = idOrNil(old.ManagerID), nil
		}
	}
	if in.Status != nil {
		// Written even when unchanged: the guard refuses a status that
		// moves to itself with a *MemberTransitionError.
		u.SetStatus(*in.Status)
	}
	m, err := u.Save(trail.Domain(ctx))
	if err != nil {
		return nil, err
	}
	var events []trail.Event
	if len(before) > 0 {
		events = append(events, trail.Event{Verb: "member.updated", ObjectType: "Membership", ObjectID: id, Organization: old.OrganizationID,
			Data: map[string]any{"changes": trail.Changes(before, after), "user_id": string(old.UserID)}})
	}
	if statusChanges {
		data := map[string]any{
			"changes": trail.Changes(map[string]any{"status": string(old.Status)}, map[string]any{"status": string(*in.Status)}),
			"user_id": string(old.UserID),
		}
		if reason != "" {
			data["reason"] = reason
		}
		verb := "member.reactivated"
		if *in.Status == membership.StatusSuspended {
			verb = "member.suspended"
		}
		events = append(events, trail.Event{Verb: verb, ObjectType: "Membership", ObjectID: id, Organization: old.OrganizationID, Data: data})
	}
	if err := trail.RecordAll(ctx, c, events); err != nil {
		return nil, err
	}
	if statusChanges && *in.Status == membership.StatusSuspended {
		if err := revokeOrgSessions(ctx, c, old, time.Now()); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// lockMember locks the membership a query selects until the end of the
// transaction, as the membership guard does (PostgreSQL: FOR NO KEY
// UPDATE, which keeps other writers of the row out but lets a write that
// only refers to it, such as naming it as a manager, go on; SQLite runs one
// writer at a time).
func lockMember(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.For(sql.LockNoKeyUpdate)
	}
}

func idOrNil(id *pulid.ID) any {
	if id == nil {
		return nil
	}
	return string(*id)
}

// revokeOrgSessions revokes the live sessions of m's user whose active
// organization is m's, and their refresh tokens, recording session.revoked
// for each (with the actor of ctx), in at most four statements whatever
// their number. The member no longer holds the permission to see them, and
// the actor may lack session:revoke: the writes run as the system.
func revokeOrgSessions(ctx context.Context, c *ent.Client, m *ent.Membership, now time.Time) error {
	sys := trail.Domain(actor.NewContext(ctx, actor.System("member suspended")))
	live, err := c.Session.Query().
		Where(entsession.UserID(m.UserID), entsession.OrganizationID(m.OrganizationID), entsession.RevokedAtIsNil(), forUpdate).
		Order(entsession.ByID()).IDs(sys)
	if err != nil {
		return fmt.Errorf("tenancy: reading the member's sessions: %w", err)
	}
	if len(live) == 0 {
		return nil
	}
	if err := c.Session.Update().Where(entsession.IDIn(live...), entsession.RevokedAtIsNil()).
		SetRevokedAt(now).SetRevokedReason(RevokedMemberSuspended).Exec(sys); err != nil {
		return fmt.Errorf("tenancy: revoking the member's sessions: %w", err)
	}
	if err := c.RefreshToken.Update().Where(refreshtoken.FamilyIDIn(live...), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(now).SetRevokedReason(RevokedMemberSuspended).Exec(sys); err != nil {
		return fmt.Errorf("tenancy: revoking the member's refresh tokens: %w", err)
	}
	events := make([]trail.Event, len(live))
	for i, sid := range live {
		events[i] = trail.Event{Verb: "session.revoked", ObjectType: "Session", ObjectID: sid, Organization: m.OrganizationID,
			Data: map[string]any{"reason": RevokedMemberSuspended, "user_id": string(m.UserID), "membership_id": string(m.ID)}}
	}
	return trail.RecordAll(ctx, c, events)
}

// Limits of MembersQuery.
const (
	DefaultMembersLimit = 100
	MaxMembersLimit     = 1000
)

// MembersQuery selects a page of the members of an organization.
type MembersQuery struct {
	// Status keeps the memberships in this status only.
	Status *membership.Status
	// Limit is the page size: DefaultMembersLimit when 0, at most
	// MaxMembersLimit.
	Limit int
	// After starts the page after this membership ID (the last of the
	// previous page): pages are in membership ID order, which is the
	// order of creation.
	After pulid.ID
}

// Member is a membership with what a roster shows of it.
type Member struct {
	// Membership holds the status, title, department and joined time;
	// its edges user, roles and manager are loaded as below.
	Membership *ent.Membership
	// User is nil when the actor may not read users (user:read).
	User *ent.User
	// Roles are the membership's roles the actor may see (built-in ones,
	// custom ones with role:read).
	Roles []*ent.Role
	// Manager is the manager's membership, with its user in
	// Manager.Edges.User (nil as User is); nil when there is none.
	Manager *ent.Membership
}

// Members returns a page of the members of organization orgID, as the
// actor of ctx: the memberships its policy lets it read (member:read in the
// organization; one's own membership always), each with its user, roles
// and manager. An organization the actor may not read, or that does not
// exist, gives an empty list, not an error, as ent privacy filters do. It
// costs the same number of SQL statements whatever the number of members:
// at most five (memberships, users, roles, managers, the managers' users).
func Members(ctx context.Context, client *ent.Client, orgID pulid.ID, q MembersQuery) ([]*Member, error) {
	if orgID == "" {
		return nil, validation.Errorf("organizationID", "name the organization")
	}
	limit := q.Limit
	switch {
	case limit == 0:
		limit = DefaultMembersLimit
	case limit < 0 || limit > MaxMembersLimit:
		return nil, validation.Errorf("limit", "between 1 and %d, got %d", MaxMembersLimit, limit)
	}
	query := client.Membership.Query().Where(membership.OrganizationID(orgID))
	if q.Status != nil {
		if err := membership.StatusValidator(*q.Status); err != nil {
			return nil, validation.Errorf("status", "%q is not a membership status (invited, active or suspended)", *q.Status)
		}
		query.Where(membership.StatusEQ(*q.Status))
	}
	if q.After != "" {
		query.Where(membership.IDGT(q.After))
	}
	ms, err := query.Order(membership.ByID()).Limit(limit).
		WithUser().
		WithRoles().
		WithManager(func(mq *ent.MembershipQuery) { mq.WithUser() }).
		All(ctx)
	if err != nil {
		return nil, fmt.Errorf("tenancy: listing members: %w", err)
	}
	out := make([]*Member, len(ms))
	for i, m := range ms {
		out[i] = &Member{Membership: m, User: m.Edges.User, Roles: m.Edges.Roles, Manager: m.Edges.Manager}
	}
	return out, nil
}
