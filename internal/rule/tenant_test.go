package rule_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/privacy"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	entapikey "github.com/cf/identity/ent/apikey"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/organization"
	"github.com/cf/identity/ent/preference"
	"github.com/cf/identity/ent/refreshtoken"
	"github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/softdelete"
)

// tenants is a world of two organizations, A and B, for the tests of the
// active organization.
type tenants struct {
	a, b, gone       pulid.ID // gone is soft-deleted
	ownerA, ownerB   pulid.ID
	both             pulid.ID // member of A and of B
	superadmin       pulid.ID // member of nothing
	support, admin   pulid.ID // platform staff, members of nothing
	memBothA         pulid.ID // both's membership of A
	memBothB         pulid.ID // both's membership of B (title and department set)
	memOwnerB        pulid.ID
	sesA, sesB, sesN pulid.ID // both's sessions: active in A, in B, in none
	sesOwnerB        pulid.ID // B's owner's session, active in B
	tokA, tokB, tokN pulid.ID // both's refresh tokens, one per session
	actB, actN       pulid.ID // activities of both: in B, in no organization
	oauth            pulid.ID // both's OAuth account
	prefBoth         pulid.ID // both's user preference
}

func setupTenants(t *testing.T, c *ent.Client) tenants {
	t.Helper()
	sys := actor.NewContext(context.Background(), actor.System("test"))
	var w tenants
	newUser := func(email string, role user.PlatformRole) pulid.ID {
		return c.User.Create().SetEmail(email).SetStatus(user.StatusActive).SetPlatformRole(role).SaveX(sys).ID
	}
	w.ownerA = newUser("owner-a@example.com", user.PlatformRoleNone)
	w.ownerB = newUser("owner-b@example.com", user.PlatformRoleNone)
	w.both = newUser("both@example.com", user.PlatformRoleNone)
	w.superadmin = newUser("root@example.com", user.PlatformRoleSuperadmin)
	w.support = newUser("support@example.com", user.PlatformRoleSupport)
	w.admin = newUser("admin@example.com", user.PlatformRoleAdmin)
	w.a = c.Organization.Create().SetName("A").SetSlug("org-a").SaveX(sys).ID
	w.b = c.Organization.Create().SetName("B").SetSlug("org-b").SaveX(sys).ID
	w.gone = c.Organization.Create().SetName("Gone").SetSlug("gone").SaveX(sys).ID
	c.Organization.DeleteOneID(w.gone).ExecX(sys) // soft delete
	member := func(org, u pulid.ID, role pulid.ID) *ent.MembershipCreate {
		return c.Membership.Create().SetOrganizationID(org).SetUserID(u).AddRoleIDs(role).SetStatus(membership.StatusActive)
	}
	member(w.a, w.ownerA, permission.OwnerRoleID).ExecX(sys)
	w.memOwnerB = member(w.b, w.ownerB, permission.OwnerRoleID).SaveX(sys).ID
	w.memBothA = member(w.a, w.both, permission.MemberRoleID).SaveX(sys).ID
	w.memBothB = member(w.b, w.both, permission.MemberRoleID).SetTitle("B title").SetDepartment("B dept").SaveX(sys).ID
	session := func(u pulid.ID, org *pulid.ID) pulid.ID { return newSession(c, u, org).SaveX(sys).ID }
	w.sesA, w.sesB, w.sesN = session(w.both, &w.a), session(w.both, &w.b), session(w.both, nil)
	w.sesOwnerB = session(w.ownerB, &w.b)
	token := func(org *pulid.ID, family pulid.ID) pulid.ID {
		return c.RefreshToken.Create().SetUserID(w.both).SetNillableOrganizationID(org).SetFamilyID(family).
			SetTokenHash(secret.DigestOf(string(pulid.New("tok")))).SetExpiresAt(time.Now().Add(time.Hour)).SaveX(sys).ID
	}
	w.tokA, w.tokB, w.tokN = token(&w.a, w.sesA), token(&w.b, w.sesB), token(nil, w.sesN)
	w.actB = recordActivity(t, sys, c, trail.Event{Organization: w.b, Actor: actor.User(w.both, actor.PlatformNone), Verb: "test.in_b"})
	w.actN = recordActivity(t, sys, c, trail.Event{Actor: actor.User(w.both, actor.PlatformNone), Verb: "test.nowhere"})
	w.oauth = c.OAuthAccount.Create().SetUserID(w.both).SetProvider("github").SetProviderUserID("both-gh").SaveX(sys).ID
	w.prefBoth = c.Preference.Create().SetScope("user").SetUserID(w.both).SetKey("ui.theme").SetValue(json.RawMessage(`"dark"`)).SaveX(sys).ID
	return w
}

// personalKey stores a personal key of owner and returns its actor.
func personalKey(t *testing.T, c *ent.Client, owner pulid.ID, role actor.PlatformRole, scopes ...string) *actor.Actor {
	t.Helper()
	sys := actor.NewContext(context.Background(), actor.System("test"))
	_, k, err := apikey.Create(sys, c, apikey.Params{Name: "key of " + string(owner), OwnerID: owner, Scopes: scopes})
	if err != nil {
		t.Fatalf("personal key: %v", err)
	}
	return actor.APIKey(k.ID, owner, role, "", scopes)
}

func ptrID(id *pulid.ID) pulid.ID {
	if id == nil {
		return ""
	}
	return *id
}

func sameIDs(got, want []pulid.ID) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// The active organization restricts platform staff as it restricts
// members: reads are filtered to it, writes outside it are refused, and
// platform-wide operations do not run under it.
func TestActiveOrganizationRestrictsPlatformStaff(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		w := setupTenants(t, c)
		sys := actor.NewContext(context.Background(), actor.System("test"))
		for _, staff := range []struct {
			name string
			id   pulid.ID
			role actor.PlatformRole
		}{
			{"superadmin", w.superadmin, actor.PlatformSuperadmin},
			{"admin", w.admin, actor.PlatformAdmin},
			{"support", w.support, actor.PlatformSupport},
		} {
			t.Run(staff.name, func(t *testing.T) {
				inA := as(t, c, actor.User(staff.id, staff.role).WithOrganization(w.a))
				everywhere := as(t, c, actor.User(staff.id, staff.role))
				reads := []struct {
					name       string
					ids        func(context.Context) ([]pulid.ID, error)
					inA, noOrg []pulid.ID
				}{
					{"organizations", func(ctx context.Context) ([]pulid.ID, error) { return c.Organization.Query().IDs(ctx) },
						[]pulid.ID{w.a}, []pulid.ID{w.a, w.b}},
					{"memberships", func(ctx context.Context) ([]pulid.ID, error) {
						return c.Membership.Query().Where(membership.UserIDIn(w.both, w.ownerB)).IDs(ctx)
					}, []pulid.ID{w.memBothA}, []pulid.ID{w.memBothA, w.memBothB, w.memOwnerB}},
					// Users are rows of no organization: in A, the users of A
					// (through user:read, as A's administrators see them) and
					// oneself.
					{"users", func(ctx context.Context) ([]pulid.ID, error) {
						return c.User.Query().Where(user.IDIn(w.ownerA, w.ownerB, w.both, staff.id)).IDs(ctx)
					}, []pulid.ID{w.ownerA, w.both, staff.id}, []pulid.ID{w.ownerA, w.ownerB, w.both, staff.id}},
					{"refresh tokens", func(ctx context.Context) ([]pulid.ID, error) {
						return c.RefreshToken.Query().Where(refreshtoken.UserID(w.both)).IDs(ctx)
					}, []pulid.ID{w.tokA}, []pulid.ID{w.tokA, w.tokB, w.tokN}},
					{"sessions", func(ctx context.Context) ([]pulid.ID, error) {
						return c.Session.Query().Where(session.UserIDIn(w.both, w.ownerB)).IDs(ctx)
					}, []pulid.ID{w.sesA}, []pulid.ID{w.sesA, w.sesB, w.sesN, w.sesOwnerB}},
				}
				for _, r := range reads {
					if got, err := r.ids(inA); err != nil || !sameIDs(got, r.inA) {
						t.Errorf("%s in A = %v, %v; want %v", r.name, got, err, r.inA)
					}
					if got, err := r.ids(everywhere); err != nil || !sameIDs(got, r.noOrg) {
						t.Errorf("%s without an active organization = %v, %v; want %v", r.name, got, err, r.noOrg)
					}
				}
				if n, err := c.Organization.Query().Count(inA); err != nil || n != 1 {
					t.Errorf("organizations count in A = %d, %v; want 1", n, err)
				}
				writes := []struct {
					name string
					do   func(context.Context) error
				}{
					{"update B", func(ctx context.Context) error { return c.Organization.UpdateOneID(w.b).SetName("pwned").Exec(ctx) }},
					{"bulk update of every organization", func(ctx context.Context) error {
						_, err := c.Organization.Update().Where(organization.IDNEQ(w.a)).SetPlan("pwned").Save(ctx)
						if err == nil {
							if n := c.Organization.Query().Where(organization.Plan("pwned"), organization.IDNEQ(w.a)).CountX(sys); n > 0 {
								return nil
							}
							return errNoEffect
						}
						return err
					}},
					{"delete B", func(ctx context.Context) error { return c.Organization.DeleteOneID(w.b).Exec(ctx) }},
					{"remove B's owner", func(ctx context.Context) error { return c.Membership.DeleteOneID(w.memOwnerB).Exec(ctx) }},
					{"change a membership of B", func(ctx context.Context) error {
						return c.Membership.UpdateOneID(w.memBothB).SetTitle("pwned").Exec(ctx)
					}},
					{"add a member to B", func(ctx context.Context) error {
						return c.Membership.Create().SetOrganizationID(w.b).SetUserID(w.ownerA).AddRoleIDs(permission.MemberRoleID).Exec(ctx)
					}},
					{"create a role in B", func(ctx context.Context) error {
						return c.Role.Create().SetOrganizationID(w.b).SetKey("evil").SetName("Evil").Exec(ctx)
					}},
					{"revoke a refresh token of B", func(ctx context.Context) error {
						return c.RefreshToken.UpdateOneID(w.tokB).SetRevokedAt(time.Now()).Exec(ctx)
					}},
					{"revoke a session of B", func(ctx context.Context) error {
						return c.Session.UpdateOneID(w.sesB).SetRevokedAt(time.Now()).Exec(ctx)
					}},
					{"switch a session of B to A", func(ctx context.Context) error {
						return c.Session.UpdateOneID(w.sesOwnerB).SetOrganizationID(w.a).Exec(ctx)
					}},
					{"delete a session of B", func(ctx context.Context) error { return c.Session.DeleteOneID(w.sesB).Exec(ctx) }},
					{"open a session for a user of B", func(ctx context.Context) error {
						return newSession(c, w.ownerB, &w.b).Exec(ctx)
					}},
					{"create a user", func(ctx context.Context) error { return c.User.Create().SetEmail("new@example.com").Exec(ctx) }},
					{"create an organization outside A", func(ctx context.Context) error {
						return c.Organization.Create().SetName("C").SetSlug("org-c-" + staff.name).Exec(ctx)
					}},
					{"create a child of B", func(ctx context.Context) error {
						return c.Organization.Create().SetName("C").SetSlug("org-cb-" + staff.name).SetParentID(w.b).Exec(ctx)
					}},
					{"suspend a user of B", func(ctx context.Context) error {
						return c.User.UpdateOneID(w.ownerB).SetStatus(user.StatusSuspended).Exec(ctx)
					}},
					{"create an organization key of B", func(ctx context.Context) error {
						_, _, err := apikey.Create(ctx, c, apikey.Params{Name: "k", OwnerID: staff.id, OrganizationID: w.b, Scopes: []string{permission.MemberRead}})
						return err
					}},
				}
				before := snapshotOrgs(t, c)
				for _, wr := range writes {
					if err := wr.do(inA); err == nil {
						t.Errorf("%s in A: succeeded, want a refusal", wr.name)
					} else if errors.Is(err, errNoEffect) {
						continue
					}
				}
				if after := snapshotOrgs(t, c); after != before {
					t.Errorf("writes in A changed the database:\n before %s\n after  %s", before, after)
				}
				if ok, why := mustGrants(t, inA).Can(permission.OrganizationRead, w.b); ok {
					t.Errorf("Can(organization:read, B) in A = true (%s)", why)
				}
				if ok, _ := mustGrants(t, inA).Can(permission.OrganizationRead, w.a); !ok {
					t.Errorf("Can(organization:read, A) in A = false, want true (platform role)")
				}
			})
		}
		// In A, the superadmin acts as A's administrators do: it may
		// change A.
		inA := as(t, c, actor.User(w.superadmin, actor.PlatformSuperadmin).WithOrganization(w.a))
		if err := c.Organization.UpdateOneID(w.a).SetPlan("pro").Exec(inA); err != nil {
			t.Errorf("superadmin updating A in A: %v", err)
		}
		if err := c.Membership.UpdateOneID(w.memBothA).SetTitle("changed").Exec(inA); err != nil {
			t.Errorf("superadmin updating a membership of A in A: %v", err)
		}
		if err := c.Organization.Create().SetName("A child").SetSlug("a-child").SetParentID(w.a).Exec(inA); err != nil {
			t.Errorf("superadmin creating a child of A in A: %v", err)
		}
	})
}

// errNoEffect marks a bulk write that ran but reached no row out of the
// active organization (a correct outcome for a bulk write).
var errNoEffect = errors.New("no effect out of the active organization")

func mustGrants(t *testing.T, ctx context.Context) *authz.Grants {
	t.Helper()
	g, ok := authz.FromContext(ctx)
	if !ok {
		t.Fatal("no grants on the context")
	}
	return g
}

// snapshotOrgs describes the rows the writes of the tests aim at.
func snapshotOrgs(t *testing.T, c *ent.Client) string {
	t.Helper()
	ctx := softdelete.IncludeDeleted(actor.NewContext(context.Background(), actor.System("test")))
	type state struct {
		Orgs  []*ent.Organization
		Mems  []*ent.Membership
		Roles int
		Users []*ent.User
		Toks  []*ent.RefreshToken
		Sess  []*ent.Session
		Keys  int
	}
	s := state{
		Orgs:  c.Organization.Query().Order(organization.ByID()).AllX(ctx),
		Mems:  c.Membership.Query().Order(membership.ByID()).AllX(ctx),
		Roles: c.Role.Query().CountX(ctx),
		Users: c.User.Query().Order(user.ByID()).AllX(ctx),
		Toks:  c.RefreshToken.Query().Order(refreshtoken.ByID()).AllX(ctx),
		Sess:  c.Session.Query().Order(session.ByID()).AllX(ctx),
		Keys:  c.APIKey.Query().CountX(ctx),
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// An active organization that does not exist (or is deleted) is refused:
// to platform staff with ErrUnknownOrganization, to others as any
// organization they do not belong to.
func TestUnknownActiveOrganization(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		w := setupTenants(t, c)
		unknown := pulid.ID("org_01JD3Q6X6S4W7N9ZKX2C1V0B8E")
		tests := []struct {
			name string
			a    *actor.Actor
			want error // nil: allowed
		}{
			{"superadmin, unknown organization", actor.User(w.superadmin, actor.PlatformSuperadmin).WithOrganization(unknown), authz.ErrUnknownOrganization},
			{"superadmin, deleted organization", actor.User(w.superadmin, actor.PlatformSuperadmin).WithOrganization(w.gone), authz.ErrUnknownOrganization},
			{"support, unknown organization", actor.User(w.support, actor.PlatformSupport).WithOrganization(unknown), authz.ErrUnknownOrganization},
			{"superadmin, existing organization", actor.User(w.superadmin, actor.PlatformSuperadmin).WithOrganization(w.b), nil},
			{"member, unknown organization", actor.User(w.ownerA, actor.PlatformNone).WithOrganization(unknown), authz.ErrNotMember},
			{"member, deleted organization", actor.User(w.ownerA, actor.PlatformNone).WithOrganization(w.gone), authz.ErrNotMember},
			{"member, foreign organization", actor.User(w.ownerA, actor.PlatformNone).WithOrganization(w.b), authz.ErrNotMember},
			{"member, own organization", actor.User(w.ownerA, actor.PlatformNone).WithOrganization(w.a), nil},
		}
		for _, tt := range tests {
			_, err := authz.NewContext(context.Background(), c, tt.a)
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("%s: %v, want no error", tt.name, err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			case errors.Is(err, authz.ErrUnknownOrganization) && tt.want != authz.ErrUnknownOrganization: //nolint:errorlint // which sentinel the case names, not a returned error
				t.Errorf("%s: %v tells a non-member that the organization does not exist", tt.name, err)
			}
		}
	})
}

// Under an active organization a user's own rows of other organizations
// (memberships, sessions, activities) are out of reach; its rows of no
// organization stay its own.
func TestOwnRowsUnderActiveOrganization(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		w := setupTenants(t, c)
		sys := actor.NewContext(context.Background(), actor.System("test"))
		principals := []struct {
			name string
			a    *actor.Actor
		}{
			{"user", actor.User(w.both, actor.PlatformNone)},
			{"personal key with every scope", personalKey(t, c, w.both, actor.PlatformNone, actor.ScopeAll)},
		}
		for _, p := range principals {
			t.Run(p.name, func(t *testing.T) {
				inA := as(t, c, p.a.WithOrganization(w.a))
				reads := []struct {
					name string
					ids  func(context.Context) ([]pulid.ID, error)
					want []pulid.ID
				}{
					{"memberships", func(ctx context.Context) ([]pulid.ID, error) {
						return c.Membership.Query().Where(membership.UserID(w.both)).IDs(ctx)
					}, []pulid.ID{w.memBothA}},
					{"refresh tokens", func(ctx context.Context) ([]pulid.ID, error) {
						return c.RefreshToken.Query().IDs(ctx)
					}, []pulid.ID{w.tokA, w.tokN}},
					{"sessions", func(ctx context.Context) ([]pulid.ID, error) {
						return c.Session.Query().IDs(ctx)
					}, []pulid.ID{w.sesA, w.sesN}},
					{"activities", func(ctx context.Context) ([]pulid.ID, error) {
						ids, err := c.Activity.Query().IDs(ctx)
						// Keep the fixture's activities only.
						return slices.DeleteFunc(ids, func(id pulid.ID) bool { return id != w.actB && id != w.actN }), err
					}, []pulid.ID{w.actN}},
					{"OAuth accounts", func(ctx context.Context) ([]pulid.ID, error) { return c.OAuthAccount.Query().IDs(ctx) }, []pulid.ID{w.oauth}},
					{"preferences", func(ctx context.Context) ([]pulid.ID, error) {
						ids, err := c.Preference.Query().IDs(ctx)
						return slices.DeleteFunc(ids, func(id pulid.ID) bool { return id != w.prefBoth }), err
					}, []pulid.ID{w.prefBoth}},
				}
				for _, r := range reads {
					if got, err := r.ids(inA); err != nil || !sameIDs(got, r.want) {
						t.Errorf("%s in A = %v, %v; want %v", r.name, got, err, r.want)
					}
				}
				if _, err := c.Membership.Get(inA, w.memBothB); !ent.IsNotFound(err) {
					t.Errorf("Get(own membership of B) in A = %v, want not found", err)
				}
				before := snapshotOrgs(t, c)
				writes := []struct {
					name string
					do   func(context.Context) error
				}{
					{"leave B", func(ctx context.Context) error { return c.Membership.DeleteOneID(w.memBothB).Exec(ctx) }},
					{"leave every organization", func(ctx context.Context) error {
						_, err := c.Membership.Delete().Where(membership.UserID(w.both), membership.OrganizationID(w.b)).Exec(ctx)
						if err == nil && c.Membership.Query().Where(membership.ID(w.memBothB)).ExistX(sys) {
							return errNoEffect
						}
						return err
					}},
					{"revoke own refresh token of B", func(ctx context.Context) error {
						return c.RefreshToken.UpdateOneID(w.tokB).SetRevokedAt(time.Now()).Exec(ctx)
					}},
					{"delete own refresh token of B", func(ctx context.Context) error { return c.RefreshToken.DeleteOneID(w.tokB).Exec(ctx) }},
					{"continue own session of B", func(ctx context.Context) error {
						return c.RefreshToken.Create().SetUserID(w.both).SetParentID(w.tokB).SetFamilyID(w.sesB).
							SetTokenHash(secret.DigestOf("x")).SetExpiresAt(time.Now().Add(time.Hour)).Exec(ctx)
					}},
					{"revoke own session of B", func(ctx context.Context) error {
						return c.Session.UpdateOneID(w.sesB).SetRevokedAt(time.Now()).Exec(ctx)
					}},
					{"revoke own sessions of B in bulk", func(ctx context.Context) error {
						_, err := c.Session.Update().Where(session.UserID(w.both), session.OrganizationID(w.b)).SetRevokedAt(time.Now()).Save(ctx)
						if err == nil && c.Session.GetX(sys, w.sesB).RevokedAt == nil {
							return errNoEffect
						}
						return err
					}},
					{"delete own session of B", func(ctx context.Context) error { return c.Session.DeleteOneID(w.sesB).Exec(ctx) }},
					{"switch own session of no organization to B", func(ctx context.Context) error {
						return c.Session.UpdateOneID(w.sesN).SetOrganizationID(w.b).Exec(ctx)
					}},
					{"open own session in B", func(ctx context.Context) error { return newSession(c, w.both, &w.b).Exec(ctx) }},
				}
				for _, wr := range writes {
					if err := wr.do(inA); err == nil {
						t.Errorf("%s in A: succeeded, want a refusal", wr.name)
					}
				}
				if after := snapshotOrgs(t, c); after != before {
					t.Errorf("writes in A changed the database:\n before %s\n after  %s", before, after)
				}
				// Without an active organization the same rows are the
				// user's (the cases above are not refused for another reason).
				everywhere := as(t, c, p.a)
				if _, err := c.Membership.Get(everywhere, w.memBothB); err != nil {
					t.Errorf("Get(own membership of B) everywhere = %v", err)
				}
				if n := c.RefreshToken.Query().CountX(everywhere); n != 3 {
					t.Errorf("refresh tokens everywhere = %d, want 3", n)
				}
				if n := c.Session.Query().CountX(everywhere); n != 3 {
					t.Errorf("sessions everywhere = %d, want 3", n)
				}
			})
		}
		// And without one, leaving and revoking work.
		everywhere := as(t, c, actor.User(w.both, actor.PlatformNone))
		if err := c.RefreshToken.UpdateOneID(w.tokB).SetRevokedAt(time.Now()).Exec(everywhere); err != nil {
			t.Errorf("revoking own refresh token of B: %v", err)
		}
		if err := c.Session.UpdateOneID(w.sesB).SetRevokedAt(time.Now()).Exec(everywhere); err != nil {
			t.Errorf("revoking own session of B: %v", err)
		}
		if err := c.Membership.DeleteOneID(w.memBothB).Exec(everywhere); err != nil {
			t.Errorf("leaving B: %v", err)
		}
	})
}

// A personal key narrows what its owner may do to itself: each
// self-service write needs the scope of its permission (or *).
func TestScopesNarrowSelfService(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		sys := actor.NewContext(context.Background(), actor.System("test"))
		type write struct {
			name   string
			needs  string // the scope that allows it
			do     func(ctx context.Context, w tenants, key pulid.ID) error
			verify func(w tenants, key pulid.ID) bool // the write took effect
		}
		// Bulk writes refuse by reaching no row, without an error.
		bulk := func(w write) bool { return strings.Contains(w.name, "in bulk") }
		writes := []write{
			{"leave an organization", permission.MemberRemove,
				func(ctx context.Context, w tenants, _ pulid.ID) error {
					return c.Membership.DeleteOneID(w.memBothB).Exec(ctx)
				},
				func(w tenants, _ pulid.ID) bool {
					return !c.Membership.Query().Where(membership.ID(w.memBothB)).ExistX(sys)
				}},
			{"leave organizations in bulk", permission.MemberRemove,
				func(ctx context.Context, w tenants, _ pulid.ID) error {
					_, err := c.Membership.Delete().Where(membership.ID(w.memBothB)).Exec(ctx)
					return err
				},
				func(w tenants, _ pulid.ID) bool {
					return !c.Membership.Query().Where(membership.ID(w.memBothB)).ExistX(sys)
				}},
			{"revoke own refresh token", permission.SessionRevoke,
				func(ctx context.Context, w tenants, _ pulid.ID) error {
					return c.RefreshToken.UpdateOneID(w.tokB).SetRevokedAt(time.Now()).Exec(ctx)
				},
				func(w tenants, _ pulid.ID) bool { return c.RefreshToken.GetX(sys, w.tokB).RevokedAt != nil }},
			{"revoke own session", permission.SessionRevoke,
				func(ctx context.Context, w tenants, _ pulid.ID) error {
					return c.Session.UpdateOneID(w.sesB).SetRevokedAt(time.Now()).Exec(ctx)
				},
				func(w tenants, _ pulid.ID) bool { return c.Session.GetX(sys, w.sesB).RevokedAt != nil }},
			{"revoke own sessions in bulk", permission.SessionRevoke,
				func(ctx context.Context, w tenants, _ pulid.ID) error {
					_, err := c.Session.Update().Where(session.UserID(w.both)).SetRevokedAt(time.Now()).Save(ctx)
					return err
				},
				func(w tenants, _ pulid.ID) bool {
					return c.Session.Query().Where(session.UserID(w.both), session.RevokedAtNotNil()).CountX(sys) == 3
				}},
			{"open own session", actor.ScopeAll,
				func(ctx context.Context, w tenants, _ pulid.ID) error { return newSession(c, w.both, nil).Exec(ctx) },
				func(w tenants, _ pulid.ID) bool {
					return c.Session.Query().Where(session.UserID(w.both)).CountX(sys) == 4
				}},
			{"switch own session to A", actor.ScopeAll,
				func(ctx context.Context, w tenants, _ pulid.ID) error {
					return c.Session.UpdateOneID(w.sesN).SetOrganizationID(w.a).Exec(ctx)
				},
				func(w tenants, _ pulid.ID) bool { return ptrID(c.Session.GetX(sys, w.sesN).OrganizationID) == w.a }},
			{"unlink own OAuth account", permission.OAuthAccountUnlink,
				func(ctx context.Context, w tenants, _ pulid.ID) error {
					return c.OAuthAccount.DeleteOneID(w.oauth).Exec(ctx)
				},
				func(w tenants, _ pulid.ID) bool { return c.OAuthAccount.Query().CountX(sys) == 0 }},
			{"change own preference", permission.PreferenceWrite,
				func(ctx context.Context, w tenants, _ pulid.ID) error {
					return c.Preference.UpdateOneID(w.prefBoth).SetValue(json.RawMessage(`"light"`)).Exec(ctx)
				},
				func(w tenants, _ pulid.ID) bool { return string(c.Preference.GetX(sys, w.prefBoth).Value) == `"light"` }},
			{"create own preference", permission.PreferenceWrite,
				func(ctx context.Context, w tenants, _ pulid.ID) error {
					return c.Preference.Create().SetScope("user").SetUserID(w.both).SetKey("ui.new").SetValue(json.RawMessage(`1`)).Exec(ctx)
				},
				func(w tenants, _ pulid.ID) bool {
					return c.Preference.Query().Where(preference.Key("ui.new")).ExistX(sys)
				}},
			{"revoke own personal key", permission.APIKeyRevoke,
				func(ctx context.Context, _ tenants, key pulid.ID) error {
					return c.APIKey.UpdateOneID(key).SetRevokedAt(time.Now()).Exec(ctx)
				},
				func(_ tenants, key pulid.ID) bool { return c.APIKey.GetX(sys, key).RevokedAt != nil }},
			{"create a personal key", permission.APIKeyCreate,
				func(ctx context.Context, w tenants, _ pulid.ID) error {
					_, _, err := apikey.Create(ctx, c, apikey.Params{Name: "minted", OwnerID: w.both, Scopes: []string{permission.APIKeyCreate}})
					return err
				},
				func(w tenants, _ pulid.ID) bool { return c.APIKey.Query().Where(entapikey.Name("minted")).ExistX(sys) }},
			{"change own profile", actor.ScopeAll,
				func(ctx context.Context, w tenants, _ pulid.ID) error {
					return c.User.UpdateOneID(w.both).SetDisplayName("changed").Exec(ctx)
				},
				func(w tenants, _ pulid.ID) bool { return c.User.GetX(sys, w.both).DisplayName == "changed" }},
		}
		for _, wr := range writes {
			// The scopes tried: a narrow one that does not name the write
			// (member:read, the scope that used to let a key leave), the
			// write's own, and *.
			for _, scope := range []string{permission.MemberRead, wr.needs, actor.ScopeAll} {
				t.Run(wr.name+" with "+scope, func(t *testing.T) {
					// A fresh world per case: the writes take effect.
					tx, err := c.Tx(context.Background())
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = tx.Rollback() })
					saved := c
					c = tx.Client()
					t.Cleanup(func() { c = saved })
					w := setupTenants(t, c)
					_, key, err := apikey.Create(sys, c, apikey.Params{Name: "k", OwnerID: w.both, Scopes: []string{scope}})
					if err != nil {
						t.Fatal(err)
					}
					ctx := as(t, c, actor.APIKey(key.ID, w.both, actor.PlatformNone, "", []string{scope}))
					err = wr.do(ctx, w, key.ID)
					allowed := scope == wr.needs || scope == actor.ScopeAll
					took := wr.verify(w, key.ID)
					switch {
					case allowed && (err != nil || !took):
						t.Errorf("with scope %s: %v (took effect: %v), want it done", scope, err, took)
					case !allowed && took:
						t.Errorf("with scope %s: the write took effect (err %v), want a refusal", scope, err)
					case !allowed && err == nil && !bulk(wr):
						t.Errorf("with scope %s: no error, want a refusal", scope)
					}
				})
			}
		}
	})
}

// Minting a personal key with a scope its owner does not hold is refused
// with authz.ErrExceedsOwn, through the client as through any caller.
func TestPersonalKeyScopesMustBeHeld(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		w := setupTenants(t, c)
		tests := []struct {
			name   string
			owner  pulid.ID
			role   actor.PlatformRole
			scopes []string
			ok     bool
		}{
			{"member, platform permission", w.both, actor.PlatformNone, []string{permission.PlatformRoleGrant}, false},
			{"member, organization permission held nowhere", w.both, actor.PlatformNone, []string{permission.OrganizationUpdate}, false},
			{"member, one of several held nowhere", w.both, actor.PlatformNone, []string{permission.MemberRead, permission.RoleCreate}, false},
			{"member, permission of its role", w.both, actor.PlatformNone, []string{permission.MemberRead, permission.UserRead}, true},
			{"member, self-service permission", w.both, actor.PlatformNone, []string{permission.MemberRemove, permission.SessionRevoke}, true},
			{"member, every scope", w.both, actor.PlatformNone, []string{actor.ScopeAll}, true},
			{"owner of A, permission held in A", w.ownerA, actor.PlatformNone, []string{permission.OrganizationDelete}, true},
			{"owner of A, platform permission", w.ownerA, actor.PlatformNone, []string{permission.PlatformRead}, false},
			{"support, reads through its platform role", w.support, actor.PlatformSupport, []string{permission.RoleRead, permission.PlatformRead}, true},
			{"support, a write", w.support, actor.PlatformSupport, []string{permission.OrganizationUpdate}, false},
			{"support, a platform permission of admins", w.support, actor.PlatformSupport, []string{permission.PlatformUserManage}, false},
			{"admin, platform permission of admins", w.admin, actor.PlatformAdmin, []string{permission.PlatformUserManage, permission.OrganizationUpdate}, true},
			{"admin, platform permission of superadmins", w.admin, actor.PlatformAdmin, []string{permission.PlatformRoleGrant}, false},
			{"superadmin, any permission", w.superadmin, actor.PlatformSuperadmin, []string{permission.PlatformRoleGrant, permission.OrganizationDelete}, true},
		}
		for _, tt := range tests {
			for _, via := range []string{"user", "personal key with every scope"} {
				a := actor.User(tt.owner, tt.role)
				if via != "user" {
					a = personalKey(t, c, tt.owner, tt.role, actor.ScopeAll)
				}
				ctx := as(t, c, a)
				_, k, err := apikey.Create(ctx, c, apikey.Params{Name: "k", OwnerID: tt.owner, Scopes: tt.scopes})
				switch {
				case tt.ok && err != nil:
					t.Errorf("%s (as %s): %v, want the key", tt.name, via, err)
				case !tt.ok && (!errors.Is(err, authz.ErrExceedsOwn) || !errors.Is(err, privacy.Deny)):
					t.Errorf("%s (as %s): %v (key %v), want privacy.Deny with authz.ErrExceedsOwn", tt.name, via, err, k)
				}
			}
		}
		// The owner's holdings, not its credential's narrowing, decide: a
		// key acting in B may mint a key with a scope held in A.
		ctx := as(t, c, actor.User(w.both, actor.PlatformNone).WithOrganization(w.b))
		if _, _, err := apikey.Create(ctx, c, apikey.Params{Name: "k", OwnerID: w.both, Scopes: []string{permission.RoleRead}}); err != nil {
			t.Errorf("member acting in B, minting role:read (held in A and B): %v", err)
		}
	})
}

// recordActivity writes e through the trail (the only writer of the
// activity table) and returns its row's ID.
func recordActivity(t *testing.T, ctx context.Context, c *ent.Client, e trail.Event) pulid.ID {
	t.Helper()
	if err := trail.Record(ctx, c, e); err != nil {
		t.Fatalf("recording %s: %v", e.Verb, err)
	}
	// In a transaction the row waits for the commit: write it now.
	if err := trail.Flush(ctx, c); err != nil {
		t.Fatalf("flushing %s: %v", e.Verb, err)
	}
	id, err := c.Activity.Query().Where(activity.Verb(e.Verb)).Order(ent.Desc(activity.FieldSeq)).FirstID(ctx)
	if err != nil {
		t.Fatalf("reading back %s: %v", e.Verb, err)
	}
	return id
}
