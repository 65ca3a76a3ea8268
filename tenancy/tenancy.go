// Package tenancy holds the domain operations of organizations: creating
// one (its creator becomes owner), managing members and their roles, custom
// roles, plus the viewer's view of its own permissions.
//
// Each function takes the ent client and a context carrying an actor with
// resolved grants (authz.NewContext). It runs in one transaction (joining
// the caller's when the client is transactional) and relies on the privacy
// policies and hooks of the schema for every check, so that the GraphQL
// API and a Go program get the same answers.
//
// Concurrent calls on the same rows run one after the other: the checks
// lock what they read (on PostgreSQL, SELECT ... FOR UPDATE; SQLite runs
// one writer at a time), so that, for example, two parallel unassignments
// of a member's last two roles cannot both succeed. When PostgreSQL picks a
// call as the victim of a deadlock, or SQLite stays busy past its timeout,
// the call returns an error wrapping authz.ErrConcurrentUpdate, nothing of
// it is applied, and it may be retried as is.
package tenancy

import (
	"context"
	"fmt"
	"slices"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/role"
	"github.com/cf/identity/internal/bypass"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/internal/txn"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/validation"
)

func withTx[T any](ctx context.Context, client *ent.Client, fn func(*ent.Client) (T, error)) (T, error) {
	return txn.Run(ctx, client, fn)
}

func forUpdate(s *sql.Selector) { txn.ForUpdate(s) }

// CreateOrganization creates an organization and makes the acting user its
// owner.
func CreateOrganization(ctx context.Context, client *ent.Client, input ent.CreateOrganizationInput) (*ent.Organization, error) {
	a := actor.FromContext(ctx)
	org, err := withTx(ctx, client, func(c *ent.Client) (*ent.Organization, error) {
		o, err := c.Organization.Create().SetInput(input).Save(ctx)
		if err != nil {
			return nil, err
		}
		if a != nil && a.UserID() != "" && !a.IsSystem() {
			// The creator was just allowed to create the organization; its
			// owner membership is the one write package bypass permits here.
			err := c.Membership.Create().
				SetOrganizationID(o.ID).
				SetUserID(a.UserID()).
				SetJoinedAt(time.Now()).
				AddRoleIDs(permission.OwnerRoleID).
				Exec(bypass.Allow(ctx, bypass.CreatorOwner))
			if err != nil {
				return nil, err
			}
		}
		return o, nil
	})
	if err != nil {
		return nil, err
	}
	if a != nil && !a.IsSystem() {
		if _, err := authz.Reload(ctx, client); err != nil {
			return nil, err
		}
	}
	return org, nil
}

// AddMemberInput describes a new member.
type AddMemberInput struct {
	OrganizationID pulid.ID
	UserID         pulid.ID
	// RoleIDs default to the built-in member role.
	RoleIDs    []pulid.ID
	Title      *string
	Department *string
}

// AddMember adds a user to an organization with roles (member:invite, and
// role levels not above the actor's).
func AddMember(ctx context.Context, client *ent.Client, in AddMemberInput) (*ent.Membership, error) {
	roles := in.RoleIDs
	if len(roles) == 0 {
		roles = []pulid.ID{permission.MemberRoleID}
	}
	return withTx(ctx, client, func(c *ent.Client) (*ent.Membership, error) {
		return c.Membership.Create().
			SetOrganizationID(in.OrganizationID).
			SetUserID(in.UserID).
			SetNillableTitle(in.Title).
			SetNillableDepartment(in.Department).
			SetJoinedAt(time.Now()).
			AddRoleIDs(roles...).
			Save(ctx)
	})
}

// RemoveMember removes a membership (member:remove, or the member leaving).
// The last owner of an organization cannot be removed.
func RemoveMember(ctx context.Context, client *ent.Client, id pulid.ID) error {
	_, err := withTx(ctx, client, func(c *ent.Client) (struct{}, error) {
		return struct{}{}, c.Membership.DeleteOneID(id).Exec(ctx)
	})
	return err
}

func member(ctx context.Context, c *ent.Client, id pulid.ID) (*ent.Membership, error) {
	return c.Membership.Query().Where(membership.ID(id)).WithRoles().Only(ctx)
}

// AssignRole adds a role to a membership (role:assign). Assigning a role
// the member holds changes nothing and records nothing.
func AssignRole(ctx context.Context, client *ent.Client, membershipID, roleID pulid.ID) (*ent.Membership, error) {
	return withTx(ctx, client, func(c *ent.Client) (*ent.Membership, error) {
		return changeRoles(ctx, c, membershipID, func([]pulid.ID) ([]pulid.ID, []pulid.ID) {
			return []pulid.ID{roleID}, nil
		})
	})
}

// UnassignRole removes a role from a membership (role:assign). A member
// keeps at least one role, and an organization keeps an owner (both checked
// by the schema's membership guard). Removing a role the member does not
// hold changes nothing and records nothing.
func UnassignRole(ctx context.Context, client *ent.Client, membershipID, roleID pulid.ID) (*ent.Membership, error) {
	return withTx(ctx, client, func(c *ent.Client) (*ent.Membership, error) {
		return changeRoles(ctx, c, membershipID, func([]pulid.ID) ([]pulid.ID, []pulid.ID) {
			return nil, []pulid.ID{roleID}
		})
	})
}

// SetMemberRoles replaces the roles of a membership (role:assign). The
// membership is locked before its roles are read, so that of parallel
// calls each replaces what the previous one committed and the member ends
// with the set of one of them.
func SetMemberRoles(ctx context.Context, client *ent.Client, membershipID pulid.ID, roleIDs []pulid.ID) (*ent.Membership, error) {
	if len(roleIDs) == 0 {
		return nil, validation.Errorf("roleIDs", "a member needs at least one role")
	}
	return withTx(ctx, client, func(c *ent.Client) (*ent.Membership, error) {
		return changeRoles(ctx, c, membershipID, func(held []pulid.ID) (add, remove []pulid.ID) {
			for _, id := range held {
				if !slices.Contains(roleIDs, id) {
					remove = append(remove, id)
				}
			}
			return roleIDs, remove
		})
	})
}

// BulkAssignRole adds a role to many memberships at once: all of them or,
// on the first refusal, none. The memberships are written in ID order
// whatever the order given (a membership named twice is written once), so
// that parallel bulk assignments lock them in the same order and do not
// deadlock. A member holding the role already is left as is.
func BulkAssignRole(ctx context.Context, client *ent.Client, roleID pulid.ID, membershipIDs []pulid.ID) ([]*ent.Membership, error) {
	if len(membershipIDs) == 0 {
		return nil, validation.Errorf("membershipIDs", "name at least one membership")
	}
	if len(membershipIDs) > 1000 {
		return nil, validation.Errorf("membershipIDs", "at most 1000 memberships at once")
	}
	ordered := slices.Clone(membershipIDs)
	slices.Sort(ordered)
	ordered = slices.Compact(ordered)
	return withTx(ctx, client, func(c *ent.Client) ([]*ent.Membership, error) {
		for _, id := range ordered {
			_, err := changeRoles(ctx, c, id, func([]pulid.ID) ([]pulid.ID, []pulid.ID) {
				return []pulid.ID{roleID}, nil
			})
			if err != nil {
				return nil, fmt.Errorf("membership %s: %w", id, err)
			}
		}
		return c.Membership.Query().Where(membership.IDIn(membershipIDs...)).WithRoles().All(ctx)
	})
}

// changeRoles locks a membership, reads the roles it holds, and applies
// the roles plan asks to add and remove, leaving out what would not change
// (a role held already, or not held). An effective change is written and
// recorded as one role.assigned or role.unassigned activity per role, with
// the member's role keys before and after; no change writes nothing but
// still needs role:assign.
func changeRoles(ctx context.Context, c *ent.Client, id pulid.ID, plan func(held []pulid.ID) (add, remove []pulid.ID)) (*ent.Membership, error) {
	if _, err := c.Membership.Query().Where(membership.ID(id), forUpdate).IDs(ctx); err != nil {
		return nil, err
	}
	m, err := member(ctx, c, id)
	if err != nil {
		return nil, err
	}
	held := make([]pulid.ID, len(m.Edges.Roles))
	for i, r := range m.Edges.Roles {
		held[i] = r.ID
	}
	wantAdd, wantRemove := plan(held)
	var add, remove []pulid.ID
	for _, r := range wantAdd {
		if !slices.Contains(held, r) && !slices.Contains(add, r) {
			add = append(add, r)
		}
	}
	for _, r := range wantRemove {
		if slices.Contains(held, r) && !slices.Contains(remove, r) && !slices.Contains(add, r) {
			remove = append(remove, r)
		}
	}
	if len(add)+len(remove) == 0 {
		// Nothing changes, but the answer still needs the permission.
		if g, ok := authz.FromContext(ctx); !ok || !g.Allowed(permission.RoleAssign, m.OrganizationID) {
			return nil, fmt.Errorf("%w: changing roles needs %s", privacy.Deny, permission.RoleAssign)
		}
		return m, nil
	}
	if err := c.Membership.UpdateOneID(id).AddRoleIDs(add...).RemoveRoleIDs(remove...).Exec(trail.Domain(ctx)); err != nil {
		return nil, err
	}
	after, err := member(ctx, c, id)
	if err != nil {
		return nil, err
	}
	// The write was allowed: the keys of the roles involved are read as
	// the system (a custom role may be out of the actor's role:read).
	sys := actor.NewContext(ctx, actor.System("role change record"))
	roles, err := c.Role.Query().Where(role.IDIn(slices.Concat(held, add)...)).All(sys)
	if err != nil {
		return nil, err
	}
	keyOf := func(r pulid.ID) string {
		for _, x := range roles {
			if x.ID == r {
				return x.Key
			}
		}
		return ""
	}
	keys := func(rs []*ent.Role) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.Key
		}
		slices.Sort(out)
		return out
	}
	before, now := keys(m.Edges.Roles), keys(after.Edges.Roles)
	var events []trail.Event
	for _, change := range []struct {
		verb string
		ids  []pulid.ID
	}{{"role.assigned", add}, {"role.unassigned", remove}} {
		for _, r := range change.ids {
			events = append(events, trail.Event{Verb: change.verb, ObjectType: "Membership", ObjectID: id, Organization: m.OrganizationID,
				Targets: []string{"Role:" + string(r), "User:" + string(m.UserID)},
				Data: map[string]any{"role": string(r), "role_key": keyOf(r), "user": string(m.UserID),
					"changes": map[string]any{"roles": map[string]any{"old": before, "new": now}}}})
		}
	}
	if err := trail.RecordAll(ctx, c, events); err != nil {
		return nil, err
	}
	return after, nil
}

// CreateRole creates a custom role in an organization (role:create; level
// and permissions within the actor's own).
func CreateRole(ctx context.Context, client *ent.Client, input ent.CreateRoleInput) (*ent.Role, error) {
	if input.OrganizationID == nil {
		return nil, validation.Errorf("organizationID", "custom roles belong to an organization")
	}
	return withTx(ctx, client, func(c *ent.Client) (*ent.Role, error) {
		return c.Role.Create().SetInput(input).Save(ctx)
	})
}

// UpdateRole updates a custom role (role:update). Built-in roles are
// immutable.
func UpdateRole(ctx context.Context, client *ent.Client, id pulid.ID, input ent.UpdateRoleInput) (*ent.Role, error) {
	return withTx(ctx, client, func(c *ent.Client) (*ent.Role, error) {
		return c.Role.UpdateOneID(id).SetInput(input).Save(ctx)
	})
}

// DeleteRole deletes a custom role (role:delete). A role still assigned is
// refused with authz.ErrRoleInUse unless unassign is true, in which case it
// is first removed from its members (role:assign); a member for whom it is
// the only role makes the whole call fail (a member keeps a role). The role
// is locked first, so that an assignment running at the same time either
// commits before (and is then unassigned or refused with ErrRoleInUse) or
// fails because the role is gone.
func DeleteRole(ctx context.Context, client *ent.Client, id pulid.ID, unassign bool) error {
	if slices.ContainsFunc(permission.Builtins, func(b permission.Builtin) bool { return b.ID == id }) {
		return fmt.Errorf("%w: %w", privacy.Deny, authz.ErrBuiltinRole)
	}
	_, err := withTx(ctx, client, func(c *ent.Client) (struct{}, error) {
		if unassign {
			if _, err := c.Role.Query().Where(role.ID(id), role.OrganizationIDNotNil(), forUpdate).IDs(ctx); err != nil {
				return struct{}{}, err
			}
			ms, err := c.Membership.Query().Where(membership.HasRolesWith(role.ID(id))).Order(membership.ByID()).IDs(ctx)
			if err != nil {
				return struct{}{}, err
			}
			for _, m := range ms {
				if err := c.Membership.UpdateOneID(m).RemoveRoleIDs(id).Exec(ctx); err != nil {
					return struct{}{}, fmt.Errorf("unassigning from %s: %w", m, err)
				}
			}
		}
		return struct{}{}, c.Role.DeleteOneID(id).Exec(ctx)
	})
	return err
}
