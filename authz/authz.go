// Package authz resolves what an actor may do: its permissions in each
// organization (the union of the roles of its membership there), its
// platform permissions, and the narrowing by API key scopes and by the
// active organization.
//
// Resolution happens once per actor: NewContext loads the actor's
// memberships and roles (two SQL statements) and keeps the result on the
// actor, so that the privacy policies of every query and mutation of a
// request read it from memory.
package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/organization"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/role"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
)

// Errors of the package. Domain functions wrap them with details.
var (
	// ErrNotLoaded is returned by policies when a user or API key actor
	// reaches the client without NewContext having resolved its grants.
	ErrNotLoaded = errors.New("authz: the actor's permissions are not loaded; build the context with authz.NewContext")
	// ErrNotMember is returned by NewContext when the active organization
	// is not one the actor belongs to.
	ErrNotMember = errors.New("authz: not a member of the organization")
	// ErrInactive is returned by NewContext for a user who may not act
	// (not active, banned, or deleted).
	ErrInactive = errors.New("authz: user is not active")
	// ErrUnknownOrganization is returned by NewContext to platform staff
	// (who may act in organizations they do not belong to) when the active
	// organization does not exist or is deleted. Other actors get
	// ErrNotMember for it, as for any organization they do not belong to,
	// so that they learn nothing about which organizations exist.
	ErrUnknownOrganization = errors.New("authz: the organization does not exist")
)

type grantsKey struct{}

// RoleRef names a role that grants permissions in an organization.
type RoleRef struct {
	ID    pulid.ID
	Key   string
	Level int
}

// OrgGrant is what an actor holds in one organization.
type OrgGrant struct {
	OrganizationID pulid.ID
	MembershipID   pulid.ID
	Roles          []RoleRef
	// Level is the highest level among Roles.
	Level          int
	FullDataAccess bool
	from           map[string][]string // permission -> keys of the roles granting it
}

// Permissions returns the permissions held in the organization, sorted.
func (o *OrgGrant) Permissions() []string {
	ps := make([]string, 0, len(o.from))
	for p := range o.from {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// GrantedBy returns the keys of the roles that grant p, sorted.
func (o *OrgGrant) GrantedBy(p string) []string { return slices.Clone(o.from[p]) }

// Grants is the resolved authority of one actor.
type Grants struct {
	actor        *actor.Actor
	platformRole actor.PlatformRole // as stored, not as claimed
	platform     map[string]bool
	orgs         map[pulid.ID]*OrgGrant
	display      string
	// held are the organization permissions the user holds through a role
	// of any of its active organizations, not narrowed by the active
	// organization or the credential's scopes.
	held map[string]bool
}

// HeldAnywhere reports whether the acting user holds organization
// permission p through a role of one of its active organizations, whatever
// organization the actor acts in and whatever its credential's scopes
// (what a personal key of the user could be given; see rule.APIKey).
// False for the system and for organization keys.
func (g *Grants) HeldAnywhere(p string) bool { return g.held[p] }

// Display returns how the actor is shown in the activity trail: the
// user's display name, or its email without one (for an API key, its
// owner's); a system actor's reason.
func (g *Grants) Display() string {
	if g.actor.IsSystem() {
		return g.actor.Reason()
	}
	return g.display
}

// Actor returns the actor the grants belong to.
func (g *Grants) Actor() *actor.Actor { return g.actor }

// Organizations returns the grants per organization the actor acts in,
// sorted by organization ID.
func (g *Grants) Organizations() []*OrgGrant {
	out := make([]*OrgGrant, 0, len(g.orgs))
	for _, o := range g.orgs {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].OrganizationID < out[j].OrganizationID })
	return out
}

// In returns the grant of organization org, or nil.
func (g *Grants) In(org pulid.ID) *OrgGrant { return g.orgs[org] }

// PlatformRole returns the platform role of the acting user as stored in
// the database (the actor's claim is not trusted); "" for the system.
func (g *Grants) PlatformRole() actor.PlatformRole { return g.platformRole }

// Platform reports whether platform permission p is in effect for the
// actor: held through its stored platform role (and, for a personal key,
// its scopes), and the actor acts across organizations. While the actor
// acts in one organization (actor.WithOrganization, X-Organization-ID),
// Platform is false for every p: its platform role then counts only as
// organization permissions of that organization (see Can), so that a
// superadmin acting in organization A reads and writes nothing outside A
// and no platform-wide operation (creating users, granting platform roles,
// impersonating) runs under an organization.
func (g *Grants) Platform(p string) bool {
	return g.platform[p] && g.actor.ActiveOrganization() == ""
}

// PlatformCan is Platform with its reason.
func (g *Grants) PlatformCan(p string) (bool, string) {
	switch {
	case !g.platform[p]:
		return false, p + " is held through platform roles only"
	case g.actor.ActiveOrganization() != "":
		return false, fmt.Sprintf("platform permissions are not in effect while the request acts in organization %s", g.actor.ActiveOrganization())
	}
	return true, "platform role " + string(g.platformRole)
}

// ActiveOrganization returns the organization the actor acts in, or ""
// when it acts in all of its organizations.
func (g *Grants) ActiveOrganization() pulid.ID { return g.actor.ActiveOrganization() }

// IsSystem reports whether the grants are those of the system actor.
func (g *Grants) IsSystem() bool { return g.actor.IsSystem() }

// UserID returns the acting user, or "" for the system and organization
// keys (which act for their organization, not for a person).
func (g *Grants) UserID() pulid.ID {
	if g.actor.Kind() == actor.KindAPIKey && g.actor.OrganizationID() != "" {
		return ""
	}
	return g.actor.UserID()
}

// Self returns the acting user when the actor may use scope on the user's
// own rows (a user always may; a personal key needs the scope), or "".
// Self does not look at the active organization: for a row of an
// organization use SelfIn.
func (g *Grants) Self(scope string) pulid.ID {
	if id := g.UserID(); id != "" && g.actor.HasScope(scope) {
		return id
	}
	return ""
}

// SelfIn is Self for an own row of organization org ("" for a row of no
// organization): while the actor acts in one organization, its own rows of
// other organizations are out of its reach too.
func (g *Grants) SelfIn(scope string, org pulid.ID) pulid.ID {
	if a := g.actor.ActiveOrganization(); a != "" && org != "" && org != a {
		return ""
	}
	return g.Self(scope)
}

// platformGrants reports whether a platform permission of the actor
// covers organization permission p in every organization.
func (g *Grants) platformGrants(p string) (string, bool) {
	if g.actor.IsSystem() {
		return "system actor " + g.actor.Reason(), true
	}
	return coveredBy(func(q string) bool { return g.platform[q] }, g.platformRole, p)
}

// PlatformCovers reports whether platform role r (as stored) grants
// permission p: a platform permission of the role, or an organization
// permission the role holds in every organization (superadmin: all of
// them; admin: those of organizations, members, roles, users, activity and
// preferences; support: every read).
func PlatformCovers(r actor.PlatformRole, p string) bool {
	if e, ok := permission.Lookup(p); ok && e.Platform {
		return slices.Contains(permission.Platform(string(r)), p)
	}
	held := permission.Platform(string(r))
	_, ok := coveredBy(func(q string) bool { return slices.Contains(held, q) }, r, p)
	return ok
}

func coveredBy(holds func(string) bool, r actor.PlatformRole, p string) (string, bool) {
	switch {
	case holds(permission.PlatformRoleGrant): // superadmin
		return "platform role superadmin", true
	case holds(permission.PlatformOrganizationManage) && manageable(p):
		return "platform role admin", true
	case holds(permission.PlatformRead) && strings.HasSuffix(p, ":read"):
		return "platform role " + string(r), true
	}
	return "", false
}

func manageable(p string) bool {
	r, _, _ := strings.Cut(p, ":")
	return r == "organization" || r == "member" || r == "role" || r == "user" || r == "activity" || r == "preference"
}

// Can reports whether the actor holds permission p in organization org, and
// why (the roles or platform role that grant it, or why not).
func (g *Grants) Can(p string, org pulid.ID) (bool, string) {
	if a := g.actor.ActiveOrganization(); a != "" && org != a {
		return false, fmt.Sprintf("the request acts in organization %s only", a)
	}
	if why, ok := g.platformGrants(p); ok {
		return true, why
	}
	o := g.orgs[org]
	if o == nil {
		return false, "not a member of the organization"
	}
	if roles := o.from[p]; len(roles) > 0 {
		return true, "granted by role " + strings.Join(roles, ", ")
	}
	if g.actor.Kind() == actor.KindAPIKey && !g.actor.HasScope(p) {
		return false, fmt.Sprintf("the API key's scopes do not include %s", p)
	}
	return false, fmt.Sprintf("no role of the membership grants %s", p)
}

// Allowed is Can without the reason.
func (g *Grants) Allowed(p string, org pulid.ID) bool {
	ok, _ := g.Can(p, org)
	return ok
}

// OrgsWith returns the organizations in which the actor holds p. all is true
// when a platform role grants p everywhere (restricted to the active
// organization, if any, in orgs).
func (g *Grants) OrgsWith(p string) (orgs []pulid.ID, all bool) {
	if _, ok := g.platformGrants(p); ok {
		if a := g.actor.ActiveOrganization(); a != "" {
			return []pulid.ID{a}, false
		}
		return nil, true
	}
	for id, o := range g.orgs {
		if len(o.from[p]) > 0 {
			orgs = append(orgs, id)
		}
	}
	slices.Sort(orgs)
	return orgs, false
}

// Level returns the actor's highest role level in org: the level of its
// own roles, or above every role for the system, superadmins and platform
// admins.
func (g *Grants) Level(org pulid.ID) int {
	if g.actor.IsSystem() || g.platform[permission.PlatformRoleGrant] || g.platform[permission.PlatformOrganizationManage] {
		return 1 << 20
	}
	if o := g.orgs[org]; o != nil {
		return o.Level
	}
	return -1
}

// FromContext returns the grants of the actor of ctx. The system actor has
// grants without loading; a user or API key actor has them after
// NewContext (or Load). ok is false when there is no actor or the grants
// were not loaded.
func FromContext(ctx context.Context) (*Grants, bool) {
	a := actor.FromContext(ctx)
	if a == nil {
		return nil, false
	}
	if a.IsSystem() {
		return &Grants{actor: a, platform: map[string]bool{}}, true
	}
	v, err := a.Memo(grantsKey{}, func() (any, error) { return nil, ErrNotLoaded })
	if err != nil || v == nil {
		return nil, false
	}
	return v.(*Grants), true
}

// NewContext returns a copy of ctx carrying a, with a's grants resolved from
// the database through client. It fails with ErrInactive for a user who may
// not act, and, when a has an active organization, with ErrNotMember if it
// is not one of a's (active) organizations. Platform staff may act in any
// organization that exists: for them an organization that does not exist
// or is deleted fails with ErrUnknownOrganization.
func NewContext(ctx context.Context, client *ent.Client, a *actor.Actor) (context.Context, error) {
	ctx = actor.NewContext(ctx, a)
	if a.IsSystem() {
		return ctx, nil
	}
	g, err := Load(ctx, client)
	if err != nil {
		return nil, err
	}
	if org := a.ActiveOrganization(); org != "" && g.orgs[org] == nil {
		if !g.platform[permission.PlatformRead] {
			return nil, fmt.Errorf("%w %s", ErrNotMember, org)
		}
		sys := actor.NewContext(ctx, actor.System("authz"))
		ok, err := client.Organization.Query().Where(organization.ID(org), organization.DeletedAtIsNil()).Exist(sys)
		if err != nil {
			return nil, fmt.Errorf("authz: loading the active organization: %w", err)
		}
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrUnknownOrganization, org)
		}
	}
	return ctx, nil
}

// Load resolves (or returns the already resolved) grants of the actor of
// ctx.
func Load(ctx context.Context, client *ent.Client) (*Grants, error) {
	a := actor.FromContext(ctx)
	if a == nil {
		return nil, errors.New("authz: no actor on the context")
	}
	if a.IsSystem() {
		g, _ := FromContext(ctx)
		return g, nil
	}
	v, err := a.Memo(grantsKey{}, func() (any, error) { return load(ctx, client, a) })
	if err != nil {
		return nil, err
	}
	return v.(*Grants), nil
}

// Reload drops the memoized grants of the actor of ctx and loads them again,
// after a change of the actor's own memberships.
func Reload(ctx context.Context, client *ent.Client) (*Grants, error) {
	actor.FromContext(ctx).Forget(grantsKey{})
	return Load(ctx, client)
}

// grantRow is one row of load's statement: the user, and one role of one
// of its active memberships (membership and role columns are NULL for a
// user without one).
type grantRow struct {
	PlatformRole   string         `sql:"platform_role"`
	Status         string         `sql:"status"`
	BannedAt       sql.NullTime   `sql:"banned_at"`
	BanExpiresAt   sql.NullTime   `sql:"ban_expires_at"`
	Email          string         `sql:"email"`
	DisplayName    string         `sql:"display_name"`
	MembershipID   sql.NullString `sql:"membership_id"`
	OrganizationID sql.NullString `sql:"organization_id"`
	RoleID         sql.NullString `sql:"role_id"`
	RoleKey        sql.NullString `sql:"role_key"`
	RoleLevel      sql.NullInt64  `sql:"role_level"`
	FullDataAccess sql.NullBool   `sql:"role_full_data_access"`
	Permissions    []byte         `sql:"role_permissions"`
}

// load resolves the grants of a in one statement: the user joined with its
// active memberships in active organizations (only the one of an
// organization key) and their roles. With an active organization, the
// grants in effect are those of that organization; the others count only
// for HeldAnywhere.
func load(ctx context.Context, client *ent.Client, a *actor.Actor) (*Grants, error) {
	sys := actor.NewContext(ctx, actor.System("authz"))
	// An organization key reaches its organization alone. An active
	// organization narrows what is in effect, not what is held (see
	// HeldAnywhere), so all memberships are read for it.
	only := a.OrganizationID()
	var rows []grantRow
	err := client.User.Query().Where(user.ID(a.UserID())).
		Select(user.FieldPlatformRole, user.FieldStatus, user.FieldBannedAt, user.FieldBanExpiresAt,
			user.FieldEmail, user.FieldDisplayName).
		Modify(func(s *sql.Selector) {
			m := sql.Table(membership.Table).As("m")
			o := sql.Table(organization.Table).As("o")
			mr := sql.Table(membership.RolesTable).As("mr")
			r := sql.Table(role.Table).As("r")
			// The organization's conditions sit in the membership's join,
			// so that a membership of an inactive organization joins as
			// none rather than dropping the user's row.
			on := []*sql.Predicate{
				sql.ColumnsEQ(m.C(membership.FieldUserID), s.C(user.FieldID)),
				sql.EQ(m.C(membership.FieldStatus), string(membership.StatusActive)),
				sql.Exists(sql.Select(o.C(organization.FieldID)).From(o).Where(sql.And(
					sql.ColumnsEQ(o.C(organization.FieldID), m.C(membership.FieldOrganizationID)),
					sql.IsNull(o.C(organization.FieldDeletedAt)),
					sql.EQ(o.C(organization.FieldStatus), string(organization.StatusActive)),
				))),
			}
			if only != "" {
				on = append(on, sql.EQ(m.C(membership.FieldOrganizationID), string(only)))
			}
			s.LeftJoin(m).OnP(sql.And(on...)).
				LeftJoin(mr).On(mr.C(membership.RolesPrimaryKey[0]), m.C(membership.FieldID)).
				LeftJoin(r).On(r.C(role.FieldID), mr.C(membership.RolesPrimaryKey[1]))
			s.AppendSelect(
				sql.As(m.C(membership.FieldID), "membership_id"),
				sql.As(m.C(membership.FieldOrganizationID), "organization_id"),
				sql.As(r.C(role.FieldID), "role_id"),
				sql.As(r.C(role.FieldKey), "role_key"),
				sql.As(r.C(role.FieldLevel), "role_level"),
				sql.As(r.C(role.FieldFullDataAccess), "role_full_data_access"),
				sql.As(r.C(role.FieldPermissions), "role_permissions"),
			).OrderBy(m.C(membership.FieldID), r.C(role.FieldID))
		}).
		Scan(sys, &rows)
	if err != nil {
		return nil, fmt.Errorf("authz: loading grants: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: user %s does not exist", ErrInactive, a.UserID())
	}
	u := rows[0]
	if u.Status != string(user.StatusActive) {
		return nil, fmt.Errorf("%w: user %s is %s", ErrInactive, a.UserID(), u.Status)
	}
	if u.BannedAt.Valid && (!u.BanExpiresAt.Valid || time.Now().Before(u.BanExpiresAt.Time)) {
		return nil, fmt.Errorf("%w: user %s is banned", ErrInactive, a.UserID())
	}
	g := &Grants{actor: a, platformRole: actor.PlatformRole(u.PlatformRole), platform: map[string]bool{}, orgs: map[pulid.ID]*OrgGrant{}, display: u.Email}
	if u.DisplayName != "" {
		g.display = u.DisplayName
	}
	// The platform role comes from the database, not from the caller's claim.
	for _, p := range permission.Platform(u.PlatformRole) {
		if a.Kind() == actor.KindAPIKey && (a.OrganizationID() != "" || !a.HasScope(p)) {
			continue
		}
		g.platform[p] = true
	}
	if a.OrganizationID() == "" {
		g.held = map[string]bool{}
	}
	for _, row := range rows {
		if !row.MembershipID.Valid {
			continue
		}
		org := pulid.ID(row.OrganizationID.String)
		var ps []string
		if row.RoleID.Valid {
			if err := json.Unmarshal(row.Permissions, &ps); err != nil {
				return nil, fmt.Errorf("authz: the permissions of role %s: %w", row.RoleID.String, err)
			}
			if row.FullDataAccess.Bool {
				// Full data access: every organization read permission.
				ps = append(ps, permission.OrganizationReads()...)
			}
			if g.held != nil {
				for _, p := range ps {
					g.held[p] = true
				}
			}
		}
		if active := a.ActiveOrganization(); active != "" && org != active {
			continue // held (above), not in effect
		}
		o := g.orgs[org]
		if o == nil {
			o = &OrgGrant{OrganizationID: org, MembershipID: pulid.ID(row.MembershipID.String), Level: -1, from: map[string][]string{}}
			g.orgs[org] = o
		}
		if !row.RoleID.Valid {
			continue
		}
		level := int(row.RoleLevel.Int64)
		o.Roles = append(o.Roles, RoleRef{ID: pulid.ID(row.RoleID.String), Key: row.RoleKey.String, Level: level})
		o.Level = max(o.Level, level)
		o.FullDataAccess = o.FullDataAccess || row.FullDataAccess.Bool
		for _, p := range ps {
			if a.Kind() == actor.KindAPIKey && !a.HasScope(p) {
				continue
			}
			if !slices.Contains(o.from[p], row.RoleKey.String) {
				o.from[p] = append(o.from[p], row.RoleKey.String)
			}
		}
	}
	for _, o := range g.orgs {
		// Highest level first; roles of one level in the order of their IDs.
		sort.SliceStable(o.Roles, func(i, j int) bool { return o.Roles[i].Level > o.Roles[j].Level })
	}
	return g, nil
}

// Errors of the role and membership rules.
var (
	// ErrBuiltinRole is returned for a change of a built-in role.
	ErrBuiltinRole = errors.New("authz: built-in roles cannot be changed or deleted")
	// ErrRoleInUse is returned when deleting a role that members still hold.
	ErrRoleInUse = errors.New("authz: the role is assigned to members")
	// ErrLastOwner is returned when a change would leave an organization
	// without an active owner.
	ErrLastOwner = errors.New("authz: an organization must keep an owner")
	// ErrAboveLevel is returned when an actor grants, assigns, edits or acts
	// on a role or member above its own level.
	ErrAboveLevel = errors.New("authz: above your role level")
	// ErrForeignRole is returned when a role of another organization is
	// assigned.
	ErrForeignRole = errors.New("authz: the role belongs to another organization")
	// ErrExceedsOwn is returned when a role or key would hold permissions its
	// creator does not hold.
	ErrExceedsOwn = errors.New("authz: permissions exceed your own")
	// ErrImpersonated is returned when an impersonated session (an actor
	// with an impersonator) tries what would take the account over:
	// another impersonation, a change of the user's password or email, or
	// of its credentials (API keys, linked OAuth accounts, other
	// sessions). It is returned wrapped with privacy.Deny.
	ErrImpersonated = errors.New("authz: not allowed in an impersonated session")
)

// Impersonated returns the error refusing doing ("changing the email",
// say) to an impersonated actor, which matches ErrImpersonated and
// privacy.Deny, or nil when the actor of ctx is not an impersonation.
func Impersonated(ctx context.Context, doing string) error {
	a := actor.FromContext(ctx)
	if a == nil || a.Impersonator() == "" {
		return nil
	}
	return impersonatedError(doing)
}

type impersonatedError string

func (e impersonatedError) Error() string {
	return privacy.Deny.Error() + ", " + string(e) + " is not allowed in an impersonated session"
}

func (e impersonatedError) Is(target error) bool {
	return target == ErrImpersonated || target == privacy.Deny
}
