package storage_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/rule"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/storage"
	"github.com/cf/identity/tenancy"
)

// rlsFixture is two organizations, seeded through a client connected as
// the application role: A (its owner adminA, memberA, shared) and B
// (adminB, memberB, shared), and loner, a user of no organization.
type rlsFixture struct {
	appURL                                   string
	client                                   *ent.Client // as the application role
	db                                       *sql.DB
	orgA, orgB                               pulid.ID
	adminA, memberA, adminB, memberB, shared pulid.ID
	loner                                    pulid.ID
}

func newRLSFixture(t *testing.T) *rlsFixture {
	t.Helper()
	if os.Getenv(testdb.EnvPostgres) == "" {
		t.Skipf("row-level security is PostgreSQL's: set %s", testdb.EnvPostgres)
	}
	target := testdb.New(t, dialect.Postgres)
	if _, err := migrations.Apply(context.Background(), target.URL); err != nil {
		t.Fatal(err)
	}
	app := testdb.AppRole(t, target)
	client, db, _, err := storage.Open(context.Background(), app.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	f := &rlsFixture{appURL: app.URL, client: client, db: db}
	sys := actor.NewContext(context.Background(), actor.System("test"))
	newUser := func(email string) pulid.ID {
		return client.User.Create().SetEmail(email).SetStatus(user.StatusActive).SaveX(sys).ID
	}
	f.adminA, f.memberA = newUser("admin@a.example"), newUser("member@a.example")
	f.adminB, f.memberB = newUser("admin@b.example"), newUser("member@b.example")
	f.shared, f.loner = newUser("shared@example.com"), newUser("loner@example.com")
	// Organizations are created by their owners: the owner membership is
	// the CreatorOwner bypass, the activity the AuditRecord bypass.
	create := func(owner pulid.ID, name string) pulid.ID {
		ctx := f.ctx(t, owner)
		o, err := tenancy.CreateOrganization(ctx, client, ent.CreateOrganizationInput{Name: name, Slug: name})
		if err != nil {
			t.Fatalf("creating %s as its owner, under row-level security: %v", name, err)
		}
		return o.ID
	}
	f.orgA, f.orgB = create(f.adminA, "alpha"), create(f.adminB, "bravo")
	for _, m := range []struct{ org, u pulid.ID }{{f.orgA, f.memberA}, {f.orgA, f.shared}, {f.orgB, f.memberB}, {f.orgB, f.shared}} {
		if _, err := tenancy.AddMember(sys, client, tenancy.AddMemberInput{OrganizationID: m.org, UserID: m.u, RoleIDs: []pulid.ID{permission.MemberRoleID}}); err != nil {
			t.Fatalf("adding a member: %v", err)
		}
	}
	return f
}

// ctx returns a context acting as user u, grants loaded.
func (f *rlsFixture) ctx(t *testing.T, u pulid.ID) context.Context {
	t.Helper()
	ctx, err := authz.NewContext(context.Background(), f.client, actor.User(u, actor.PlatformNone))
	if err != nil {
		t.Fatalf("authz.NewContext(%s): %v", u, err)
	}
	return ctx
}

// rawIDs runs query on a raw connection of the application role, in a
// transaction that carries settings (none when nil), and returns the
// first column of its rows (id, for SELECT *), sorted.
func rawIDs(t *testing.T, db *sql.DB, settings map[string]string, query string) []string {
	t.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	for name, v := range settings {
		if _, err := tx.ExecContext(ctx, "SELECT set_config($1, $2, true)", name, v); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, fmt.Sprint(vals[0]))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...pulid.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	slices.Sort(out)
	return out
}

// TestRowSecurityRawSQL opens a plain database/sql connection as the
// application role: without settings SELECT * FROM cf_users returns
// nothing; with the settings of an organization's admin (its owner), the
// members of that organization exactly.
func TestRowSecurityRawSQL(t *testing.T) {
	f := newRLSFixture(t)
	raw, err := sql.Open("pgx", f.appURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	var super, bypass bool
	if err := raw.QueryRow("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&super, &bypass); err != nil || super || bypass {
		t.Fatalf("the application role bypasses row-level security (superuser %v, BYPASSRLS %v, %v)", super, bypass, err)
	}
	sys := storage.RowSecuritySettings(actor.NewContext(context.Background(), actor.System("test")))
	cases := []struct {
		name     string
		settings map[string]string
		query    string
		want     []string
	}{
		{"no settings: no user", nil, "SELECT id FROM cf_users", []string{}},
		{"no settings: no row of any table", nil, "SELECT id FROM cf_memberships UNION ALL SELECT id FROM cf_organizations UNION ALL SELECT id FROM cf_activities UNION ALL SELECT id FROM cf_roles WHERE organization_id IS NOT NULL", []string{}},
		{"no settings: SELECT *", nil, "SELECT * FROM cf_users", []string{}},
		{"nobody on the context", storage.RowSecuritySettings(context.Background()), "SELECT id FROM cf_users", []string{}},
		{"admin of A: A's members", storage.RowSecuritySettings(f.ctx(t, f.adminA)), "SELECT id FROM cf_users", sorted(f.adminA, f.memberA, f.shared)},
		{"admin of A: SELECT *", storage.RowSecuritySettings(f.ctx(t, f.adminA)), "SELECT * FROM cf_users", sorted(f.adminA, f.memberA, f.shared)},
		{"admin of A: A's memberships", storage.RowSecuritySettings(f.ctx(t, f.adminA)), "SELECT organization_id FROM cf_memberships", sorted(f.orgA, f.orgA, f.orgA)},
		{"admin of A: A only", storage.RowSecuritySettings(f.ctx(t, f.adminA)), "SELECT id FROM cf_organizations", sorted(f.orgA)},
		{"member of B: B's members", storage.RowSecuritySettings(f.ctx(t, f.memberB)), "SELECT id FROM cf_users", sorted(f.adminB, f.memberB, f.shared)},
		{"member of B: no activity (no activity:read)", storage.RowSecuritySettings(f.ctx(t, f.memberB)), "SELECT id FROM cf_activities", []string{}},
		{"loner: itself", storage.RowSecuritySettings(f.ctx(t, f.loner)), "SELECT id FROM cf_users", sorted(f.loner)},
		{"system: everyone", sys, "SELECT id FROM cf_users", sorted(f.adminA, f.memberA, f.adminB, f.memberB, f.shared, f.loner)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := rawIDs(t, raw, c.settings, c.query); !slices.Equal(got, c.want) {
				t.Errorf("%s: got %v, want %v", c.query, got, c.want)
			}
		})
	}
	// Settings are transaction-local: a statement after the transaction
	// sees nothing again.
	var n int
	if err := raw.QueryRow("SELECT count(*) FROM cf_users").Scan(&n); err != nil || n != 0 {
		t.Errorf("after the transactions: %d users visible (%v), want 0", n, err)
	}
}

// TestRowSecurityPoolOfOne interleaves the requests of two tenants, in and
// outside transactions, over a pool of one connection, with the privacy
// policies switched off (row-level security alone decides), and between
// them reads the same connection without any setting: no actor bleeds from
// one request into the next.
func TestRowSecurityPoolOfOne(t *testing.T) {
	f := newRLSFixture(t)
	f.db.SetMaxOpenConns(1)
	rule.DisablePoliciesForTest(t)
	type tenant struct {
		name  string
		ctx   context.Context
		users []string
		other pulid.ID // the other tenant's organization
	}
	tenants := []tenant{
		{"A", f.ctx(t, f.adminA), sorted(f.adminA, f.memberA, f.shared), f.orgB},
		{"B", f.ctx(t, f.adminB), sorted(f.adminB, f.memberB, f.shared), f.orgA},
	}
	ids := func(us []pulid.ID) []string { return sorted(us...) }
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 40 {
		for _, tn := range tenants {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Outside a transaction.
				us, err := f.client.User.Query().IDs(tn.ctx)
				if err != nil {
					errs <- err
					return
				}
				if got := ids(us); !slices.Equal(got, tn.users) {
					errs <- fmt.Errorf("round %d, tenant %s, outside a transaction: users %v, want %v", i, tn.name, got, tn.users)
				}
				// A Go edge predicate aimed at the other tenant: the
				// membership subquery is filtered by row-level security.
				n, err := f.client.User.Query().Where(user.HasMembershipsWith(membership.OrganizationID(tn.other))).Count(tn.ctx)
				if err != nil {
					errs <- err
				} else if n != 0 {
					// The other organization's memberships are not visible,
					// the shared user's included.
					errs <- fmt.Errorf("round %d, tenant %s: %d users have memberships in the other organization", i, tn.name, n)
				}
				// Inside a transaction.
				tx, err := f.client.Tx(tn.ctx)
				if err != nil {
					errs <- err
					return
				}
				us, err = tx.User.Query().IDs(tn.ctx)
				_ = tx.Rollback()
				if err != nil {
					errs <- err
					return
				}
				if got := ids(us); !slices.Equal(got, tn.users) {
					errs <- fmt.Errorf("round %d, tenant %s, in a transaction: users %v, want %v", i, tn.name, got, tn.users)
				}
			}()
		}
		// The one connection, between requests, without settings.
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int
			if err := f.db.QueryRow("SELECT count(*) FROM cf_users").Scan(&n); err != nil {
				errs <- err
			} else if n != 0 {
				errs <- fmt.Errorf("round %d: a statement without settings sees %d users", i, n)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st := f.db.Stats(); st.MaxOpenConnections != 1 || st.OpenConnections > 1 {
		t.Errorf("pool: %+v, want one connection", st)
	}
}
