package authz_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/organization"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
)

// grantsWorld is a user with memberships in organizations of every state.
type grantsWorld struct {
	client *ent.Client
	drv    *testdb.CountingDriver
	sys    context.Context
	user   pulid.ID
	// active: member and viewer; admin: admin; suspended, deleted: the
	// organization is; invited: the membership is.
	active, admin, suspended, deleted, invited pulid.ID
}

func newGrantsWorld(t *testing.T, db testdb.Target) *grantsWorld {
	t.Helper()
	c, drv := testdb.Counted(t, db)
	sys := actor.NewContext(context.Background(), actor.System("test"))
	w := &grantsWorld{client: c, drv: drv, sys: sys}
	w.user = c.User.Create().SetEmail("u@example.com").SetStatus(user.StatusActive).SaveX(sys).ID
	org := func(slug string, status organization.Status, ms membership.Status, roles ...pulid.ID) pulid.ID {
		o := c.Organization.Create().SetName(slug).SetSlug(slug).SetStatus(status).SaveX(sys)
		c.Membership.Create().SetOrganizationID(o.ID).SetUserID(w.user).SetStatus(ms).AddRoleIDs(roles...).ExecX(sys)
		return o.ID
	}
	w.active = org("active", organization.StatusActive, membership.StatusActive, permission.MemberRoleID, permission.ViewerRoleID)
	w.admin = org("admin", organization.StatusActive, membership.StatusActive, permission.AdminRoleID)
	w.suspended = org("suspended", organization.StatusSuspended, membership.StatusActive, permission.AdminRoleID)
	w.deleted = org("deleted", organization.StatusActive, membership.StatusActive, permission.AdminRoleID)
	c.Organization.UpdateOneID(w.deleted).SetDeletedAt(time.Now()).ExecX(sys)
	w.invited = org("invited", organization.StatusActive, membership.StatusInvited, permission.AdminRoleID)
	return w
}

// TestGrants resolves the grants of one user for each kind of actor and
// state of its account: only active memberships of active organizations
// count, an organization key or an active organization narrows them to one,
// scopes narrow the permissions, and an account that may not sign in has
// none. Each resolution is one statement.
func TestGrants(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newGrantsWorld(t, db)
		memberPerms := func() []string {
			var ps []string
			for _, r := range []pulid.ID{permission.MemberRoleID, permission.ViewerRoleID} {
				ps = append(ps, w.client.Role.GetX(w.sys, r).Permissions...)
			}
			slices.Sort(ps)
			return slices.Compact(ps)
		}()
		cases := []struct {
			name    string
			actor   func() *actor.Actor
			account func() // changes the user first
			wantErr error
			orgs    []pulid.ID
			perms   map[pulid.ID][]string // checked where set
			roles   map[pulid.ID][]string
		}{
			{name: "user", actor: func() *actor.Actor { return actor.User(w.user, actor.PlatformNone) },
				orgs:  []pulid.ID{w.active, w.admin},
				perms: map[pulid.ID][]string{w.active: memberPerms},
				roles: map[pulid.ID][]string{w.active: {"member", "viewer"}, w.admin: {"admin"}}},
			{name: "user in its active organization", actor: func() *actor.Actor {
				return actor.User(w.user, actor.PlatformNone).WithOrganization(w.admin)
			}, orgs: []pulid.ID{w.admin}},
			{name: "user in a suspended organization", actor: func() *actor.Actor {
				return actor.User(w.user, actor.PlatformNone).WithOrganization(w.suspended)
			}, wantErr: authz.ErrNotMember},
			{name: "user in an organization it is invited to", actor: func() *actor.Actor {
				return actor.User(w.user, actor.PlatformNone).WithOrganization(w.invited)
			}, wantErr: authz.ErrNotMember},
			{name: "organization key", actor: func() *actor.Actor {
				return actor.APIKey("key_x", w.user, actor.PlatformNone, w.admin, []string{permission.MemberRead})
			}, orgs: []pulid.ID{w.admin}, perms: map[pulid.ID][]string{w.admin: {permission.MemberRead}}},
			{name: "organization key of a deleted organization", actor: func() *actor.Actor {
				return actor.APIKey("key_x", w.user, actor.PlatformNone, w.deleted, []string{actor.ScopeAll})
			}, wantErr: authz.ErrNotMember},
			{name: "personal key with one scope", actor: func() *actor.Actor {
				return actor.APIKey("key_x", w.user, actor.PlatformNone, "", []string{permission.MemberRead})
			}, orgs: []pulid.ID{w.active, w.admin},
				perms: map[pulid.ID][]string{w.active: {permission.MemberRead}, w.admin: {permission.MemberRead}}},
			{name: "suspended user", actor: func() *actor.Actor { return actor.User(w.user, actor.PlatformNone) },
				account: func() { w.client.User.UpdateOneID(w.user).SetStatus(user.StatusSuspended).ExecX(w.sys) },
				wantErr: authz.ErrInactive},
			{name: "banned user", actor: func() *actor.Actor { return actor.User(w.user, actor.PlatformNone) },
				account: func() {
					w.client.User.UpdateOneID(w.user).SetStatus(user.StatusActive).SetBannedAt(time.Now()).SetBanReason("test").ExecX(w.sys)
				},
				wantErr: authz.ErrInactive},
			{name: "deleted user", actor: func() *actor.Actor { return actor.User(w.user, actor.PlatformNone) },
				account: func() {
					w.client.User.UpdateOneID(w.user).ClearBannedAt().ExecX(w.sys)
					w.client.User.DeleteOneID(w.user).ExecX(w.sys)
				},
				wantErr: authz.ErrInactive},
			{name: "unknown user", actor: func() *actor.Actor { return actor.User(pulid.New("usr"), actor.PlatformNone) },
				wantErr: authz.ErrInactive},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if c.account != nil {
					c.account()
				}
				w.drv.Reset()
				ctx, err := authz.NewContext(context.Background(), w.client, c.actor())
				if n := w.drv.Count(); n != 1 {
					t.Errorf("%d statements, want 1", n)
				}
				if c.wantErr != nil {
					if !errors.Is(err, c.wantErr) {
						t.Fatalf("NewContext = %v, want %v", err, c.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				g, ok := authz.FromContext(ctx)
				if !ok {
					t.Fatal("no grants on the context")
				}
				var orgs []pulid.ID
				for _, o := range g.Organizations() {
					orgs = append(orgs, o.OrganizationID)
				}
				slices.Sort(orgs)
				want := slices.Clone(c.orgs)
				slices.Sort(want)
				if !slices.Equal(orgs, want) {
					t.Errorf("organizations %v, want %v", orgs, want)
				}
				for org, ps := range c.perms {
					if got := g.In(org).Permissions(); !slices.Equal(got, ps) {
						t.Errorf("permissions in %s: %v, want %v", org, got, ps)
					}
				}
				for org, keys := range c.roles {
					var got []string
					for _, r := range g.In(org).Roles {
						got = append(got, r.Key)
					}
					if !slices.Equal(got, keys) {
						t.Errorf("roles in %s: %v, want %v (highest level first)", org, got, keys)
					}
				}
			})
		}
	})
}
