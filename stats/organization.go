package stats

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/apikey"
	"github.com/cf/identity/ent/invitation"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/role"
	"github.com/cf/identity/ent/session"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
)

// OrganizationFigures holds the figures of one organization.
type OrganizationFigures struct {
	OrganizationID pulid.ID
	// At is the instant the figures are relative to ("now").
	At time.Time
	// MembersByStatus counts the memberships of the organization per
	// status: invited, active and suspended, in that order, zero
	// included.
	MembersByStatus []StatusCount
	// MembersByRole counts the active members per role they hold, built-in
	// and custom roles alike; a member with two roles counts for both.
	// Roles no active member holds are left out. Highest level first,
	// then by key.
	MembersByRole []RoleCount
	// PendingInvitations counts the invitations that are pending and whose
	// expiry is after At.
	PendingInvitations int
	// ActiveSessions counts the sessions active in the organization (their
	// organization is this one, as the organization's session:read sees
	// them) whose user is an active member, neither revoked nor past
	// either expiry. Sessions of members active in another organization or
	// in none are not the organization's and are not counted.
	ActiveSessions int
	// ActiveAPIKeys counts the organization's API keys that are not
	// revoked and have no expiry or one after At (personal keys of its
	// members are not the organization's).
	ActiveAPIKeys int
	// Activities24h and Activities7d count the organization's activities
	// of the 24 hours and 7 days before At.
	Activities24h, Activities7d int
}

// Organization returns the figures of organization orgID. The actor of
// ctx needs activity:read and member:read in it (platform staff hold
// both through their role): a member lacking one gets a *DeniedError; for
// anyone else, as for an ID that names no organization (or a deleted
// one), it returns a *NotFoundError.
//
// It costs eight SQL statements: the organization's existence, the
// memberships grouped by status, the active members' roles grouped by
// role, pending invitations, sessions, API keys, and the activities of the
// last 7 days and of the last 24 hours.
func Organization(ctx context.Context, client *ent.Client, orgID pulid.ID) (*OrganizationFigures, error) {
	if err := inOrganization(ctx, client, "organization statistics", "id", orgID, permission.ActivityRead, permission.MemberRead); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	o := &OrganizationFigures{OrganizationID: orgID, At: now}
	sys := system(ctx)

	var byStatus []statusRow
	if err := client.Membership.Query().Where(membership.OrganizationID(orgID)).
		GroupBy(membership.FieldStatus).Aggregate(count).Scan(sys, &byStatus); err != nil {
		return nil, fmt.Errorf("stats: counting members: %w", err)
	}
	o.MembersByStatus = statuses([]membership.Status{membership.StatusInvited, membership.StatusActive, membership.StatusSuspended}, byStatus)

	var byRole []struct {
		ID    pulid.ID `sql:"id"`
		Key   string   `sql:"key"`
		Name  string   `sql:"name"`
		Level int      `sql:"level"`
		Count int      `sql:"count"`
	}
	if err := client.Role.Query().Where(heldByActiveMembersOf(orgID)).
		GroupBy(role.FieldID, role.FieldKey, role.FieldName, role.FieldLevel).Aggregate(count).Scan(sys, &byRole); err != nil {
		return nil, fmt.Errorf("stats: counting members per role: %w", err)
	}
	o.MembersByRole = make([]RoleCount, len(byRole))
	for i, r := range byRole {
		o.MembersByRole[i] = RoleCount{RoleID: r.ID, Key: r.Key, Name: r.Name, Level: r.Level, Count: r.Count}
	}
	slices.SortFunc(o.MembersByRole, func(a, b RoleCount) int {
		return cmp.Or(cmp.Compare(b.Level, a.Level), cmp.Compare(a.Key, b.Key), cmp.Compare(a.RoleID, b.RoleID))
	})

	counts := []struct {
		what string
		n    *int
		q    interface {
			Count(context.Context) (int, error)
		}
	}{
		{"invitations", &o.PendingInvitations, client.Invitation.Query().Where(invitation.OrganizationID(orgID),
			invitation.StatusEQ(invitation.StatusPending), invitation.ExpiresAtGT(now))},
		{"sessions", &o.ActiveSessions, client.Session.Query().Where(session.OrganizationID(orgID),
			session.RevokedAtIsNil(), session.ExpiresAtGT(now), session.IdleExpiresAtGT(now), userIsActiveMemberOf(orgID))},
		{"API keys", &o.ActiveAPIKeys, client.APIKey.Query().Where(apikey.OrganizationID(orgID),
			apikey.RevokedAtIsNil(), apikey.Or(apikey.ExpiresAtIsNil(), apikey.ExpiresAtGT(now)))},
		{"activities", &o.Activities7d, client.Activity.Query().Where(activity.OrganizationID(orgID),
			activity.CreatedAtGTE(now.Add(-7*24*time.Hour)))},
		{"activities", &o.Activities24h, client.Activity.Query().Where(activity.OrganizationID(orgID),
			activity.CreatedAtGTE(now.Add(-24*time.Hour)))},
	}
	for _, c := range counts {
		var err error
		if *c.n, err = c.q.Count(sys); err != nil {
			return nil, fmt.Errorf("stats: counting %s: %w", c.what, err)
		}
	}
	return o, nil
}

// heldByActiveMembersOf joins the roles of a query with their assignments
// to the active memberships of org: one row per (role, member), so that
// grouping by role counts the members. The join starts from the
// organization's memberships (index cf_memberships_organization_status)
// and reaches the assignments through the primary key of
// cf_membership_roles.
func heldByActiveMembersOf(org pulid.ID) func(*sql.Selector) {
	return func(s *sql.Selector) {
		mr := sql.Table(role.MembershipsTable)
		m := sql.Table(membership.Table)
		s.Join(mr).On(s.C(role.FieldID), mr.C(role.MembershipsPrimaryKey[1])).
			Join(m).On(mr.C(role.MembershipsPrimaryKey[0]), m.C(membership.FieldID))
		s.Where(sql.And(
			sql.EQ(m.C(membership.FieldOrganizationID), org),
			sql.EQ(m.C(membership.FieldStatus), membership.StatusActive),
		))
	}
}

// userIsActiveMemberOf restricts sessions to those whose user is an active
// member of org.
func userIsActiveMemberOf(org pulid.ID) func(*sql.Selector) {
	return func(s *sql.Selector) {
		m := sql.Table(membership.Table)
		members := sql.Select(m.C(membership.FieldUserID)).From(m).
			Where(sql.And(
				sql.EQ(m.C(membership.FieldOrganizationID), org),
				sql.EQ(m.C(membership.FieldStatus), membership.StatusActive),
			))
		s.Where(sql.In(s.C(session.FieldUserID), members))
	}
}
