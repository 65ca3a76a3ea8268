package graph_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/storage"
	"github.com/cf/identity/tenancy"
)

// nestedQuery reads organizations, their members with users and roles,
// and the totals at each level.
const nestedQuery = `{ organizations { totalCount edges { node { name
  memberships { totalCount edges { node { status
    user { email }
    roles { totalCount edges { node { key } } } } } } } } } }`

// TestNestedQueryStatementCount pins the number of SQL statements of a
// nested query run by a member (authentication and permission resolution
// included), and proves it does not grow with the number of rows.
func TestNestedQueryStatementCount(t *testing.T) {
	// 1 statement authenticates the key (joined with its owner), 1
	// resolves the permissions (the user joined with its memberships and
	// their roles), 7 answer the query: one per
	// level, and one grouped count for each nested total (memberships,
	// roles), since nested connections load one page (DefaultPageSize),
	// not every row, and cannot count the rows they loaded.
	const want = 9
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		testdb.Migrated(t, db)
		sqlDB, cfg, err := storage.OpenDB(context.Background(), db.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sqlDB.Close() })
		drv := &testdb.CountingDriver{Driver: entsql.OpenDB(cfg.Dialect, sqlDB)}
		c := ent.NewClient(ent.Driver(drv))
		// With the default page size at every level, nestedQuery costs
		// about four million, over the default complexity limit.
		srv := httptest.NewServer(graph.NewHandler(c, graph.Options{ComplexityLimit: 1 << 40, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
		t.Cleanup(srv.Close)
		e := &env{db: db, client: c, srv: srv}

		sys := actor.NewContext(context.Background(), actor.System("test"))
		owner := c.User.Create().SetEmail("owner@example.com").SetStatus(user.StatusActive).SaveX(sys)
		octx, err := authz.NewContext(context.Background(), c, actor.User(owner.ID, actor.PlatformNone))
		if err != nil {
			t.Fatal(err)
		}
		org, err := tenancy.CreateOrganization(octx, c, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		member := c.User.Create().SetEmail("member@example.com").SetStatus(user.StatusActive).SaveX(sys)
		// Members join as the system (a direct add is a platform act); the
		// request measured is the member's, so the counts do not move.
		if _, err := tenancy.AddMember(sys, c, tenancy.AddMemberInput{OrganizationID: org.ID, UserID: member.ID}); err != nil {
			t.Fatal(err)
		}
		key, _, err := apikey.Create(sys, c, apikey.Params{Name: "m", OwnerID: member.ID, Scopes: []string{actor.ScopeAll}})
		if err != nil {
			t.Fatal(err)
		}
		measure := func() int64 {
			e.post(t, bearer(key), `{ viewer { kind } }`, nil) // settles last_used_at
			drv.Reset()
			r := e.post(t, bearer(key), nestedQuery, nil)
			if len(r.errors) > 0 {
				t.Fatalf("query failed: %s", r.raw)
			}
			return drv.Count()
		}
		small := measure()
		for i := 0; i < 10; i++ {
			u := c.User.Create().SetEmail(fmt.Sprintf("u%d@example.com", i)).SetStatus(user.StatusActive).SaveX(sys)
			if _, err := tenancy.AddMember(sys, c, tenancy.AddMemberInput{OrganizationID: org.ID, UserID: u.ID, RoleIDs: []pulid.ID{"rol_00000000000000000000000004"}}); err != nil {
				t.Fatal(err)
			}
		}
		large := measure()
		t.Logf("statements per nested query as a member: %d with 2 members, %d with 12", small, large)
		if small != large {
			t.Errorf("statement count grows with rows: %d with 2 members, %d with 12 (N+1)", small, large)
		}
		if large != want {
			t.Errorf("statements = %d, want %d (update the pinned count only with a reason)", large, want)
		}
	})
}

// TestCredentialStatementCount pins the SQL statements of one /graphql
// request of a member authenticated by an access token, and of the same
// request authenticated by the member's personal API key.
func TestCredentialStatementCount(t *testing.T) {
	// An access token is verified offline against the cached keys; 1
	// statement finds its session alive. An API key costs 1 too (the key
	// joined with its owner). Both then resolve the permissions with 1 (the
	// user joined with its memberships and their roles) and answer the
	// query with 1 (the user).
	const (
		wantAccessToken = 3
		wantAPIKey      = 3
	)
	const query = `{ viewer { kind user { email } } }`
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		testdb.Migrated(t, db)
		sqlDB, cfg, err := storage.OpenDB(context.Background(), db.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sqlDB.Close() })
		drv := &testdb.CountingDriver{Driver: entsql.OpenDB(cfg.Dialect, sqlDB)}
		c := ent.NewClient(ent.Driver(drv))
		m := newManager(t, c, newMasterKey(t), nil)
		srv := httptest.NewServer(graph.NewHandler(c, graph.Options{Sessions: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
		t.Cleanup(srv.Close)
		e := &env{db: db, client: c, srv: srv}

		sys := actor.NewContext(context.Background(), actor.System("test"))
		owner := c.User.Create().SetEmail("owner@example.com").SetStatus(user.StatusActive).SaveX(sys)
		octx, err := authz.NewContext(context.Background(), c, actor.User(owner.ID, actor.PlatformNone))
		if err != nil {
			t.Fatal(err)
		}
		org, err := tenancy.CreateOrganization(octx, c, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		active, pw := user.StatusActive, testPassword
		member, err := m.CreateUser(sys, c, ent.CreateUserInput{Email: "member@example.com", Status: &active}, &pw)
		if err != nil {
			t.Fatal(err)
		}
		// The system adds the member (a direct add is a platform act).
		if _, err := tenancy.AddMember(sys, c, tenancy.AddMemberInput{OrganizationID: org.ID, UserID: member.ID}); err != nil {
			t.Fatal(err)
		}
		key, _, err := apikey.Create(sys, c, apikey.Params{Name: "m", OwnerID: member.ID, Scopes: []string{actor.ScopeAll}})
		if err != nil {
			t.Fatal(err)
		}
		access := tokensOf(t, loginOn(t, srv, "member@example.com", testPassword)).AccessToken
		measure := func(credential string) int64 {
			e.post(t, bearer(credential), query, nil) // settles last_used_at and the key cache
			drv.Reset()
			r := e.post(t, bearer(credential), query, nil)
			if r.status != 200 || len(r.errors) > 0 {
				t.Fatalf("query failed: HTTP %d: %s", r.status, r.raw)
			}
			return drv.Count()
		}
		byToken, byKey := measure(access), measure(key)
		t.Logf("statements per request: %d with an access token, %d with an API key", byToken, byKey)
		if byToken != wantAccessToken {
			t.Errorf("access token: statements = %d, want %d (update the pinned count only with a reason)", byToken, wantAccessToken)
		}
		if byKey != wantAPIKey {
			t.Errorf("API key: statements = %d, want %d (update the pinned count only with a reason)", byKey, wantAPIKey)
		}
	})
}

// invitationsQuery reads the invitations of the caller's organizations
// with their roles and inviters.
const invitationsQuery = `{ organizations { edges { node { name
  invitations(first: 50) { totalCount edges { node { email status expiresAt
    roles { key } inviter { email } } } } } } } }`

// TestInvitationsStatementCount pins the SQL statements of
// Organization.invitations read by the organization's owner with a
// personal key, and proves it does not grow with the number of
// invitations.
func TestInvitationsStatementCount(t *testing.T) {
	// 1 statement authenticates the key (joined with its owner), 1
	// resolves the permissions (the user joined with its memberships and
	// their roles), 5 answer the query:
	// organizations, their invitations, the grouped count of invitations,
	// the roles and the inviters of the page.
	const want = 7
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		testdb.Migrated(t, db)
		sqlDB, cfg, err := storage.OpenDB(context.Background(), db.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sqlDB.Close() })
		drv := &testdb.CountingDriver{Driver: entsql.OpenDB(cfg.Dialect, sqlDB)}
		c := ent.NewClient(ent.Driver(drv))
		srv := httptest.NewServer(graph.NewHandler(c, graph.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
		t.Cleanup(srv.Close)
		e := &env{db: db, client: c, srv: srv}

		sys := actor.NewContext(context.Background(), actor.System("test"))
		owner := c.User.Create().SetEmail("owner@example.com").SetStatus(user.StatusActive).SaveX(sys)
		octx, err := authz.NewContext(context.Background(), c, actor.User(owner.ID, actor.PlatformNone))
		if err != nil {
			t.Fatal(err)
		}
		org, err := tenancy.CreateOrganization(octx, c, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		key, _, err := apikey.Create(sys, c, apikey.Params{Name: "o", OwnerID: owner.ID, Scopes: []string{actor.ScopeAll}})
		if err != nil {
			t.Fatal(err)
		}
		invite := func(n int) {
			for i := range n {
				// As the invitation flow writes them (the system).
				c.Invitation.Create().SetOrganizationID(org.ID).SetEmail(fmt.Sprintf("i%d-%d@example.com", i, time.Now().UnixNano())).
					SetInviterID(owner.ID).SetTokenDigest(secret.DigestOf(string(pulid.New("inv")))).
					SetExpiresAt(time.Now().Add(time.Hour)).AddRoleIDs("rol_00000000000000000000000003", "rol_00000000000000000000000004").ExecX(sys)
			}
		}
		measure := func() int64 {
			e.post(t, bearer(key), `{ viewer { kind } }`, nil) // settles last_used_at
			drv.Reset()
			r := e.post(t, bearer(key), invitationsQuery, nil)
			if len(r.errors) > 0 {
				t.Fatalf("query failed: %s", r.raw)
			}
			return drv.Count()
		}
		invite(2)
		small := measure()
		invite(10)
		large := measure()
		t.Logf("statements per invitations query as the owner: %d with 2 invitations, %d with 12", small, large)
		if small != large {
			t.Errorf("statement count grows with rows: %d with 2 invitations, %d with 12 (N+1)", small, large)
		}
		if large != want {
			t.Errorf("statements = %d, want %d (update the pinned count only with a reason)", large, want)
		}
	})
}
