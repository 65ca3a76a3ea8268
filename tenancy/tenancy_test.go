package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/credential"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/tenancy"
	"github.com/cf/identity/validation"
)

type world struct {
	c                         *ent.Client
	owner, admin, member, out *ent.User
	org                       *ent.Organization
	adminM, memberM           *ent.Membership
}

func sys() context.Context { return actor.NewContext(context.Background(), actor.System("test")) }

func as(t *testing.T, c *ent.Client, u *ent.User) context.Context {
	t.Helper()
	ctx, err := authz.NewContext(context.Background(), c, actor.User(u.ID, actor.PlatformRole(u.PlatformRole)))
	if err != nil {
		t.Fatalf("authz.NewContext(%s): %v", u.Email, err)
	}
	return ctx
}

func newWorld(t *testing.T, db testdb.Target) *world {
	t.Helper()
	c, _ := testdb.Migrated(t, db)
	w := &world{c: c}
	mk := func(email string) *ent.User {
		return c.User.Create().SetEmail(email).SetStatus(user.StatusActive).SaveX(sys())
	}
	w.owner, w.admin, w.member, w.out = mk("owner@a.com"), mk("admin@a.com"), mk("member@a.com"), mk("out@b.com")
	org, err := tenancy.CreateOrganization(as(t, c, w.owner), c, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	w.org = org
	// Members join as the system: adding a user directly is a platform act
	// (organizations grow by invitation); TestAddMemberIsAPlatformAct.
	octx := sys()
	if w.adminM, err = tenancy.AddMember(octx, c, tenancy.AddMemberInput{OrganizationID: org.ID, UserID: w.admin.ID, RoleIDs: []pulid.ID{permission.AdminRoleID}}); err != nil {
		t.Fatalf("AddMember admin: %v", err)
	}
	if w.memberM, err = tenancy.AddMember(octx, c, tenancy.AddMemberInput{OrganizationID: org.ID, UserID: w.member.ID}); err != nil {
		t.Fatalf("AddMember member: %v", err)
	}
	return w
}

func TestCreatorBecomesOwner(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		v, err := tenancy.ViewerOf(as(t, w.c, w.owner))
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Organizations) != 1 || v.Organizations[0].OrganizationID != w.org.ID || v.Organizations[0].Level != 100 {
			t.Fatalf("viewer organizations = %+v", v.Organizations)
		}
		d, err := tenancy.Can(as(t, w.c, w.member), permission.MemberInvite, w.org.ID)
		if err != nil || d.Allowed {
			t.Fatalf("member can member:invite = %+v, %v", d, err)
		}
		d, _ = tenancy.Can(as(t, w.c, w.admin), permission.MemberInvite, w.org.ID)
		if !d.Allowed || d.Reason != "granted by role admin" {
			t.Fatalf("admin can member:invite = %+v", d)
		}
		d, _ = tenancy.Can(as(t, w.c, w.out), permission.OrganizationRead, w.org.ID)
		if d.Allowed {
			t.Fatalf("outsider can read the organization: %+v", d)
		}
	})
}

func TestRoleRules(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		owner, admin, member := as(t, c, w.owner), as(t, c, w.admin), as(t, c, w.member)
		lvl := 60
		custom, err := tenancy.CreateRole(admin, c, ent.CreateRoleInput{OrganizationID: &w.org.ID, Key: "support_agent", Name: "Support agent", Level: &lvl, Permissions: []string{permission.MemberRead, permission.ActivityRead}})
		if err != nil {
			t.Fatalf("admin creates a role: %v", err)
		}
		high := 90
		tests := []struct {
			name string
			do   func() error
			want error
		}{
			{"member cannot create roles", func() error {
				_, err := tenancy.CreateRole(member, c, ent.CreateRoleInput{OrganizationID: &w.org.ID, Key: "x1", Name: "X"})
				return err
			}, privacy.Deny},
			{"admin cannot create a role above its level", func() error {
				_, err := tenancy.CreateRole(admin, c, ent.CreateRoleInput{OrganizationID: &w.org.ID, Key: "x2", Name: "X", Level: &high})
				return err
			}, authz.ErrAboveLevel},
			{"admin cannot grant a permission it lacks", func() error {
				_, err := tenancy.CreateRole(admin, c, ent.CreateRoleInput{OrganizationID: &w.org.ID, Key: "x3", Name: "X", Permissions: []string{permission.OrganizationDelete}})
				return err
			}, authz.ErrExceedsOwn},
			{"built-in roles are immutable, even for the owner", func() error {
				name := "Boss"
				_, err := tenancy.UpdateRole(owner, c, permission.OwnerRoleID, ent.UpdateRoleInput{Name: &name})
				return err
			}, authz.ErrBuiltinRole},
			{"built-in roles cannot be deleted", func() error { return tenancy.DeleteRole(owner, c, permission.ViewerRoleID, true) }, authz.ErrBuiltinRole},
			{"admin cannot assign owner", func() error {
				_, err := tenancy.AssignRole(admin, c, w.memberM.ID, permission.OwnerRoleID)
				return err
			}, authz.ErrAboveLevel},
			{"member cannot assign roles", func() error {
				_, err := tenancy.AssignRole(member, c, w.memberM.ID, custom.ID)
				return err
			}, nil}, // checked below: not found or denied
			{"admin cannot demote the owner", func() error {
				owners := c.Membership.Query().Where(membership.UserID(w.owner.ID)).OnlyX(sys())
				_, err := tenancy.SetMemberRoles(admin, c, owners.ID, []pulid.ID{permission.MemberRoleID})
				return err
			}, authz.ErrAboveLevel},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.do()
				if err == nil {
					t.Fatal("succeeded, want a refusal")
				}
				if tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
			})
		}
		// Assigned roles cannot be deleted unless asked to unassign.
		if _, err := tenancy.AssignRole(admin, c, w.memberM.ID, custom.ID); err != nil {
			t.Fatalf("admin assigns a custom role: %v", err)
		}
		if err := tenancy.DeleteRole(admin, c, custom.ID, false); !errors.Is(err, authz.ErrRoleInUse) {
			t.Fatalf("delete assigned role = %v, want ErrRoleInUse", err)
		}
		if err := tenancy.DeleteRole(admin, c, custom.ID, true); err != nil {
			t.Fatalf("delete with unassign: %v", err)
		}
		m := c.Membership.Query().Where(membership.ID(w.memberM.ID)).WithRoles().OnlyX(sys())
		if len(m.Edges.Roles) != 1 || m.Edges.Roles[0].ID != permission.MemberRoleID {
			t.Fatalf("member roles after delete = %v", m.Edges.Roles)
		}
	})
}

func TestBulkAssignIsAllOrNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		// The admin may assign viewer to the member but not touch the owner.
		ownerM := c.Membership.Query().Where(membership.UserID(w.owner.ID)).OnlyX(sys())
		_, err := tenancy.BulkAssignRole(as(t, c, w.admin), c, permission.ViewerRoleID, []pulid.ID{w.memberM.ID, ownerM.ID})
		if !errors.Is(err, authz.ErrAboveLevel) {
			t.Fatalf("bulk assign over the owner = %v, want ErrAboveLevel", err)
		}
		m := c.Membership.Query().Where(membership.ID(w.memberM.ID)).WithRoles().OnlyX(sys())
		if len(m.Edges.Roles) != 1 {
			t.Fatalf("member got %d roles after a refused bulk assignment; want it untouched", len(m.Edges.Roles))
		}
		ms, err := tenancy.BulkAssignRole(as(t, c, w.admin), c, permission.ViewerRoleID, []pulid.ID{w.memberM.ID, w.adminM.ID})
		if err != nil || len(ms) != 2 {
			t.Fatalf("bulk assign = %d, %v", len(ms), err)
		}
	})
}

func TestLastOwner(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		ownerM := c.Membership.Query().Where(membership.UserID(w.owner.ID)).OnlyX(sys())
		if err := tenancy.RemoveMember(as(t, c, w.owner), c, ownerM.ID); !errors.Is(err, authz.ErrLastOwner) {
			t.Fatalf("last owner leaves = %v, want ErrLastOwner", err)
		}
		if _, err := tenancy.SetMemberRoles(as(t, c, w.owner), c, ownerM.ID, []pulid.ID{permission.AdminRoleID}); !errors.Is(err, authz.ErrLastOwner) {
			t.Fatalf("last owner demoted = %v, want ErrLastOwner", err)
		}
		// With a second owner, one of them may go — but two concurrent
		// removals cannot leave the organization without an owner.
		if _, err := tenancy.AssignRole(as(t, c, w.owner), c, w.adminM.ID, permission.OwnerRoleID); err != nil {
			t.Fatalf("promote admin to owner: %v", err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		// Both owners leave at the same time.
		leavers := []struct {
			u *ent.User
			m pulid.ID
		}{{w.owner, ownerM.ID}, {w.admin, w.adminM.ID}}
		ctxs := []context.Context{as(t, c, w.owner), as(t, c, w.admin)}
		for i, l := range leavers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = tenancy.RemoveMember(ctxs[i], c, l.m)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, authz.ErrLastOwner):
			default:
				t.Errorf("concurrent unassign: %v", err)
			}
		}
		left := c.Membership.Query().Where(membership.OrganizationID(w.org.ID)).WithRoles().AllX(sys())
		count := 0
		for _, m := range left {
			for _, r := range m.Edges.Roles {
				if r.ID == permission.OwnerRoleID {
					count++
				}
			}
		}
		if ok != 1 || count != 1 {
			t.Fatalf("concurrent removals: %d succeeded, %d owners left; want 1 and 1", ok, count)
		}
	})
}

func TestAPIKeys(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		admin := as(t, c, w.admin)
		key, k, err := credential.CreateAPIKey(admin, c, apikey.Params{Name: "ci", OrganizationID: w.org.ID, Scopes: []string{permission.MemberRead}})
		if err != nil {
			t.Fatalf("org key: %v", err)
		}
		if _, _, err := credential.CreateAPIKey(admin, c, apikey.Params{Name: "x", OrganizationID: w.org.ID, Scopes: []string{permission.OrganizationDelete}}); !errors.Is(err, authz.ErrExceedsOwn) {
			t.Fatalf("scope above the creator = %v, want ErrExceedsOwn", err)
		}
		if _, _, err := credential.CreateAPIKey(as(t, c, w.member), c, apikey.Params{Name: "x", OrganizationID: w.org.ID, Scopes: []string{permission.MemberRead}}); err == nil {
			t.Fatal("member created an organization key")
		}
		// The same rules hold for the client used without this package: an
		// admin cannot mint a key owned by the owner, nor one holding a
		// permission it lacks.
		if _, _, err := apikey.Create(admin, c, apikey.Params{Name: "x", OwnerID: w.owner.ID, OrganizationID: w.org.ID, Scopes: []string{permission.MemberRead}}); !errors.Is(err, privacy.Deny) {
			t.Fatalf("admin mints a key owned by the owner = %v, want a denial", err)
		}
		if _, _, err := apikey.Create(admin, c, apikey.Params{Name: "x", OwnerID: w.admin.ID, OrganizationID: w.org.ID, Scopes: []string{permission.OrganizationDelete}}); !errors.Is(err, authz.ErrExceedsOwn) {
			t.Fatalf("client key above the creator = %v, want ErrExceedsOwn", err)
		}
		a, err := apikey.Authenticate(context.Background(), c, key, k.CreatedAt)
		if err != nil {
			t.Fatal(err)
		}
		kctx, err := authz.NewContext(context.Background(), c, a)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := c.Membership.Query().Count(kctx); err != nil || n != 3 {
			t.Fatalf("org key sees %d memberships, %v; want 3", n, err)
		}
		if n, _ := c.Organization.Query().Count(kctx); n != 0 {
			t.Fatalf("org key without organization:read sees %d organizations", n)
		}
		if _, err := credential.RevokeAPIKey(as(t, c, w.member), c, k.ID); err == nil {
			t.Fatal("member revoked the organization key")
		}
		if _, err := credential.RevokeAPIKey(admin, c, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := apikey.Authenticate(context.Background(), c, key, k.CreatedAt); !errors.Is(err, apikey.ErrRevoked) {
			t.Fatalf("revoked key = %v", err)
		}
	})
}

func TestRefusalsExplainOrHide(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		member, out := as(t, c, w.member), as(t, c, w.out)
		// A member sees the organization but may not rename it: FORBIDDEN
		// with the permission it lacks.
		err := c.Organization.UpdateOneID(w.org.ID).SetName("Hacked").Exec(member)
		if !errors.Is(err, privacy.Deny) {
			t.Fatalf("member renames the organization = %v, want a privacy denial", err)
		}
		// An outsider does not learn that the organization exists.
		if err := c.Organization.UpdateOneID(w.org.ID).SetName("Hacked").Exec(out); !ent.IsNotFound(err) {
			t.Fatalf("outsider renames the organization = %v, want not found", err)
		}
		if got := c.Organization.GetX(sys(), w.org.ID).Name; got != "Acme" {
			t.Fatalf("name = %q after refused renames", got)
		}
		// Users change their own profile, and only that.
		if err := c.User.UpdateOneID(w.member.ID).SetDisplayName("Mem").Exec(member); err != nil {
			t.Fatalf("member updates own profile: %v", err)
		}
		if err := c.User.UpdateOneID(w.member.ID).SetStatus(user.StatusArchived).Exec(member); !errors.Is(err, privacy.Deny) {
			t.Fatalf("member changes own status = %v, want denial", err)
		}
		if err := c.User.UpdateOneID(w.owner.ID).SetDisplayName("Owned").Exec(member); !errors.Is(err, privacy.Deny) {
			t.Fatalf("member renames a fellow member = %v, want denial", err)
		}
		if err := c.User.UpdateOneID(w.owner.ID).SetDisplayName("Owned").Exec(out); !ent.IsNotFound(err) {
			t.Fatalf("outsider renames a user = %v, want not found", err)
		}
		// role:assign alone does not allow editing member fields.
		if err := c.Membership.UpdateOneID(w.memberM.ID).SetTitle("Boss").Exec(member); err == nil {
			t.Fatal("member edited a membership")
		}
	})
}

func TestPlatformRoles(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		mk := func(email string, role user.PlatformRole) context.Context {
			u := c.User.Create().SetEmail(email).SetStatus(user.StatusActive).SetPlatformRole(role).SaveX(sys())
			return as(t, c, u)
		}
		support := mk("support@x.com", user.PlatformRoleSupport)
		admin := mk("padmin@x.com", user.PlatformRoleAdmin)
		super := mk("super@x.com", user.PlatformRoleSuperadmin)

		if n := c.Organization.Query().CountX(support); n != 1 {
			t.Fatalf("support sees %d organizations, want 1", n)
		}
		if n := c.Membership.Query().CountX(support); n != 3 {
			t.Fatalf("support sees %d memberships, want 3", n)
		}
		if err := c.Organization.UpdateOneID(w.org.ID).SetName("x").Exec(support); err == nil {
			t.Fatal("support renamed an organization")
		}
		if err := c.User.UpdateOneID(w.member.ID).SetDisplayName("x").Exec(support); err == nil {
			t.Fatal("support edited a user")
		}
		if _, err := tenancy.AddMember(support, c, tenancy.AddMemberInput{OrganizationID: w.org.ID, UserID: w.out.ID}); err == nil {
			t.Fatal("support added a member")
		}

		if err := c.Organization.UpdateOneID(w.org.ID).SetPlan("pro").Exec(admin); err != nil {
			t.Fatalf("platform admin updates an organization: %v", err)
		}
		if err := c.User.Create().SetEmail("new@x.com").Exec(admin); err != nil {
			t.Fatalf("platform admin creates a user: %v", err)
		}
		if err := c.User.UpdateOneID(w.member.ID).SetPlatformRole(user.PlatformRoleAdmin).Exec(admin); !errors.Is(err, privacy.Deny) {
			t.Fatalf("platform admin grants a platform role = %v, want denial", err)
		}
		if err := c.User.UpdateOneID(w.member.ID).SetPlatformRole(user.PlatformRoleSupport).Exec(super); err != nil {
			t.Fatalf("superadmin grants a platform role: %v", err)
		}
		// The platform role is read from the database, not from the claim.
		forged, err := authz.NewContext(context.Background(), c, actor.User(w.out.ID, actor.PlatformSuperadmin))
		if err != nil {
			t.Fatal(err)
		}
		if n := c.Organization.Query().CountX(forged); n != 0 {
			t.Fatalf("a forged superadmin claim sees %d organizations", n)
		}
		// The viewer reports the stored platform role, not the claim.
		modest, err := authz.NewContext(context.Background(), c, actor.User(w.member.ID, actor.PlatformNone))
		if err != nil {
			t.Fatal(err)
		}
		if v, err := tenancy.ViewerOf(modest); err != nil || v.PlatformRole != "support" {
			t.Fatalf("viewer platform role = %v, %v; want the stored support", v, err)
		}
	})
}

func TestInactiveUsersCannotAct(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		past, future := w.org.CreatedAt.Add(-1e9), w.org.CreatedAt.Add(1e15)
		tests := []struct {
			name   string
			update func(*ent.UserUpdateOne) *ent.UserUpdateOne
			ok     bool
		}{
			{"suspended", func(u *ent.UserUpdateOne) *ent.UserUpdateOne { return u.SetStatus(user.StatusSuspended) }, false},
			{"banned without end", func(u *ent.UserUpdateOne) *ent.UserUpdateOne { return u.SetBannedAt(past).SetBanReason("spam") }, false},
			{"banned until later", func(u *ent.UserUpdateOne) *ent.UserUpdateOne { return u.SetBannedAt(past).SetBanExpiresAt(future) }, false},
			{"ban expired", func(u *ent.UserUpdateOne) *ent.UserUpdateOne { return u.SetBannedAt(past).SetBanExpiresAt(past) }, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u := c.User.Create().SetEmail(strings.ReplaceAll(tt.name, " ", "-") + "@x.com").SetStatus(user.StatusActive).SaveX(sys())
				tt.update(c.User.UpdateOne(u)).ExecX(sys())
				_, err := authz.NewContext(context.Background(), c, actor.User(u.ID, actor.PlatformNone))
				if tt.ok != (err == nil) || (err != nil && !errors.Is(err, authz.ErrInactive)) {
					t.Fatalf("NewContext = %v, want ok=%v", err, tt.ok)
				}
			})
		}
	})
}

// role:assign without member:update is enough to change roles.
func TestRoleAssignWithoutMemberUpdate(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		lvl := 60
		lead, err := tenancy.CreateRole(as(t, c, w.owner), c, ent.CreateRoleInput{OrganizationID: &w.org.ID, Key: "lead", Name: "Lead", Level: &lvl,
			Permissions: []string{permission.RoleAssign, permission.MemberRead, permission.RoleRead}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tenancy.AssignRole(as(t, c, w.owner), c, w.memberM.ID, lead.ID); err != nil {
			t.Fatal(err)
		}
		member := as(t, c, w.member)
		if _, err := tenancy.AssignRole(member, c, w.memberM.ID, permission.ViewerRoleID); err != nil {
			t.Fatalf("lead assigns viewer: %v", err)
		}
		if _, err := tenancy.AssignRole(member, c, w.memberM.ID, permission.AdminRoleID); !errors.Is(err, authz.ErrAboveLevel) {
			t.Fatalf("lead assigns admin = %v, want ErrAboveLevel", err)
		}
		if err := c.Membership.UpdateOneID(w.memberM.ID).SetTitle("Boss").Exec(member); !errors.Is(err, privacy.Deny) {
			t.Fatalf("lead edits a title = %v, want denial (needs member:update)", err)
		}
	})
}

func TestFullDataAccess(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		yes, lvl := true, 40
		auditor, err := tenancy.CreateRole(as(t, c, w.admin), c, ent.CreateRoleInput{OrganizationID: &w.org.ID, Key: "auditor", Name: "Auditor",
			Level: &lvl, FullDataAccess: &yes})
		if err != nil {
			t.Fatalf("admin creates a full-data-access role: %v", err)
		}
		if _, err := tenancy.SetMemberRoles(as(t, c, w.owner), c, w.memberM.ID, []pulid.ID{auditor.ID}); err != nil {
			t.Fatal(err)
		}
		member := as(t, c, w.member)
		if d, _ := tenancy.Can(member, permission.ActivityRead, w.org.ID); !d.Allowed || d.Reason != "granted by role auditor" {
			t.Fatalf("auditor activity:read = %+v", d)
		}
		if n := c.Activity.Query().Where().CountX(member); n == 0 {
			t.Fatal("auditor reads no activity")
		}
		if d, _ := tenancy.Can(member, permission.MemberInvite, w.org.ID); d.Allowed {
			t.Fatal("full data access granted a write permission")
		}
		// A member (without every read permission) cannot create such a role.
		owner := as(t, c, w.owner)
		lead := 60
		r, err := tenancy.CreateRole(owner, c, ent.CreateRoleInput{OrganizationID: &w.org.ID, Key: "lead", Name: "Lead", Level: &lead,
			Permissions: []string{permission.RoleCreate, permission.RoleRead}})
		if err != nil {
			t.Fatal(err)
		}
		other := c.User.Create().SetEmail("lead@a.com").SetStatus(user.StatusActive).SaveX(sys())
		if _, err := tenancy.AddMember(sys(), c, tenancy.AddMemberInput{OrganizationID: w.org.ID, UserID: other.ID, RoleIDs: []pulid.ID{r.ID}}); err != nil {
			t.Fatal(err)
		}
		low := 10
		_, err = tenancy.CreateRole(as(t, c, other), c, ent.CreateRoleInput{OrganizationID: &w.org.ID, Key: "peeker", Name: "Peeker", Level: &low, FullDataAccess: &yes})
		if !errors.Is(err, authz.ErrExceedsOwn) {
			t.Fatalf("lead creates a full-data-access role = %v, want ErrExceedsOwn", err)
		}
	})
}

// A member keeps a role, through this package and the client alike.
func TestMemberKeepsARole(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		owner := as(t, c, w.owner)
		if _, err := tenancy.UnassignRole(owner, c, w.memberM.ID, permission.MemberRoleID); !errors.Is(err, validation.ErrInvalid) {
			t.Fatalf("unassign the only role = %v, want validation error", err)
		}
		if err := c.Membership.UpdateOneID(w.memberM.ID).ClearRoles().Exec(owner); !errors.Is(err, validation.ErrInvalid) {
			t.Fatalf("clear roles through the client = %v, want validation error", err)
		}
		// Replacing roles removes some: the guard's lock needs a transaction.
		if err := inTx(owner, c, func(tx *ent.Client) error {
			return tx.Membership.UpdateOneID(w.memberM.ID).ClearRoles().AddRoleIDs(permission.ViewerRoleID).Exec(owner)
		}); err != nil {
			t.Fatalf("replace the role through the client: %v", err)
		}
	})
}

// Under an active organization the viewer and can answer for that
// organization only: platform permissions are not in effect, and a
// superadmin holds its organization permissions there and nowhere else.
func TestViewerUnderActiveOrganization(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		root := c.User.Create().SetEmail("root@x.com").SetStatus(user.StatusActive).SetPlatformRole(user.PlatformRoleSuperadmin).SaveX(sys())
		other, err := tenancy.CreateOrganization(as(t, c, w.out), c, ent.CreateOrganizationInput{Name: "Other", Slug: "other"})
		if err != nil {
			t.Fatal(err)
		}
		everywhere := as(t, c, root)
		inOrg, err := authz.NewContext(context.Background(), c, actor.User(root.ID, actor.PlatformSuperadmin).WithOrganization(w.org.ID))
		if err != nil {
			t.Fatal(err)
		}
		v, err := tenancy.ViewerOf(everywhere)
		if err != nil || len(v.PlatformPermissions) == 0 {
			t.Fatalf("viewer without an active organization: %+v, %v; want platform permissions", v, err)
		}
		v, err = tenancy.ViewerOf(inOrg)
		if err != nil || len(v.PlatformPermissions) != 0 || v.PlatformRole != "superadmin" || v.ActiveOrganizationID == nil || *v.ActiveOrganizationID != w.org.ID {
			t.Fatalf("viewer in the organization: %+v, %v; want no platform permissions, the stored role and the active organization", v, err)
		}
		tests := []struct {
			ctx     context.Context
			name    string
			perm    string
			org     pulid.ID
			allowed bool
		}{
			{everywhere, "platform permission everywhere", permission.PlatformRoleGrant, "", true},
			{inOrg, "platform permission in the organization", permission.PlatformRoleGrant, "", false},
			{inOrg, "organization permission in the active organization", permission.OrganizationDelete, w.org.ID, true},
			{inOrg, "organization permission in another organization", permission.OrganizationRead, other.ID, false},
			{everywhere, "organization permission in another organization, everywhere", permission.OrganizationRead, other.ID, true},
		}
		for _, tt := range tests {
			d, err := tenancy.Can(tt.ctx, tt.perm, tt.org)
			if err != nil || d.Allowed != tt.allowed || d.Reason == "" {
				t.Errorf("%s: %+v, %v; want allowed=%v with a reason", tt.name, d, err, tt.allowed)
			}
		}
		if n := c.Organization.Query().CountX(inOrg); n != 1 {
			t.Errorf("superadmin in the organization counts %d organizations, want 1", n)
		}
		if err := c.Organization.UpdateOneID(other.ID).SetName("pwned").Exec(inOrg); err == nil {
			t.Error("superadmin in one organization updated another")
		}
	})
}

// credential.CreateAPIKey refuses a personal key with a scope its owner does
// not hold.
func TestPersonalKeyScopesAreHeld(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		member := as(t, w.c, w.member)
		for _, s := range []string{permission.PlatformRoleGrant, permission.OrganizationUpdate} {
			if _, _, err := credential.CreateAPIKey(member, w.c, apikey.Params{Name: "x", Scopes: []string{s}}); !errors.Is(err, authz.ErrExceedsOwn) {
				t.Errorf("member mints a personal key with %s = %v, want ErrExceedsOwn", s, err)
			}
		}
		if _, _, err := credential.CreateAPIKey(member, w.c, apikey.Params{Name: "x", Scopes: []string{permission.MemberRead, permission.MemberRemove}}); err != nil {
			t.Errorf("member mints a personal key with its own and self-service scopes: %v", err)
		}
	})
}

// Adding an existing user to an organization directly is a platform act
// (platform:user_manage) or the system's: an organization's owner or admin
// invites instead, through AddMember and the ent client alike.
func TestAddMemberIsAPlatformAct(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		platform := func(email string, role user.PlatformRole) context.Context {
			return as(t, c, c.User.Create().SetEmail(email).SetStatus(user.StatusActive).SetPlatformRole(role).SaveX(sys()))
		}
		tests := []struct {
			name   string
			ctx    context.Context
			client bool // through the ent client instead of AddMember
			ok     bool
		}{
			{"organization owner", as(t, c, w.owner), false, false},
			{"organization owner, ent client", as(t, c, w.owner), true, false},
			{"organization admin", as(t, c, w.admin), false, false},
			{"organization member", as(t, c, w.member), false, false},
			{"platform support", platform("support@x.com", user.PlatformRoleSupport), false, false},
			{"platform admin", platform("padmin@x.com", user.PlatformRoleAdmin), false, true},
			{"platform superadmin, ent client", platform("super@x.com", user.PlatformRoleSuperadmin), true, true},
			{"system", sys(), false, true},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u := c.User.Create().SetEmail(fmt.Sprintf("joiner%d@b.com", i)).SetStatus(user.StatusActive).SaveX(sys())
				var err error
				if tt.client {
					err = c.Membership.Create().SetOrganizationID(w.org.ID).SetUserID(u.ID).AddRoleIDs(permission.MemberRoleID).Exec(tt.ctx)
				} else {
					_, err = tenancy.AddMember(tt.ctx, c, tenancy.AddMemberInput{OrganizationID: w.org.ID, UserID: u.ID})
				}
				joined := c.Membership.Query().Where(membership.OrganizationID(w.org.ID), membership.UserID(u.ID)).ExistX(sys())
				if tt.ok {
					if err != nil || !joined {
						t.Fatalf("add = %v, joined %v; want a membership", err, joined)
					}
					return
				}
				if !errors.Is(err, privacy.Deny) {
					t.Fatalf("add = %v, want a privacy denial", err)
				}
				for _, want := range []string{permission.PlatformUserManage, "inviteMember"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("denial %q does not name %s", err, want)
					}
				}
				if joined {
					t.Fatal("a refused add wrote a membership")
				}
			})
		}
	})
}
