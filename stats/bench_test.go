package stats_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/stats"
)

// The size of the benchmark's platform.
const (
	benchUsers       = 100_000
	benchActivities  = 1_000_000
	benchOrgs        = 100
	benchSessions    = 100_000
	benchKeys        = 10_000
	benchInvitations = 5_000
)

// BenchmarkStats measures each function on a platform of 100k users (as
// many memberships, 1k per organization, and sessions), 1M activities over
// the last year, 10k API keys and 5k invitations, on every dialect of
// testdb.Dialects. It reports the SQL statements per call (the caller's
// grants are loaded once, before). The data is loaded with set-based SQL
// only when the benchmark runs (go test -bench Stats).
func BenchmarkStats(b *testing.B) {
	for _, d := range testdb.Dialects() {
		b.Run(testdb.Target{Dialect: d}.Name(), func(b *testing.B) {
			e := newEnv(b, testdb.New(b, d))
			start := time.Now()
			e.load(b)
			b.Logf("%s: loaded in %s", d, time.Since(start).Round(time.Millisecond))
			drv := &testdb.CountingDriver{Driver: entsql.OpenDB(d, e.sqlDB)}
			c := ent.NewClient(ent.Driver(drv))

			org1 := pulid.ID(benchID("org", 1))
			support := e.user(b, "support@bench.test", func(c *ent.UserCreate) { c.SetPlatformRole(user.PlatformRoleSupport) })
			owner := e.user(b, "owner@bench.test", nil)
			if err := e.c.Membership.Create().SetOrganizationID(org1).SetUserID(owner.ID).
				SetStatus(membership.StatusActive).AddRoleIDs(ownerRole).Exec(quiet()); err != nil {
				b.Fatal(err)
			}
			supportCtx, ownerCtx := e.asUser(b, support), e.asUser(b, owner)
			now := time.Now()
			month, year := now.Add(-30*24*time.Hour), now.Add(-366*24*time.Hour)

			for _, bb := range []struct {
				name string
				run  func() error
			}{
				{"Platform", func() error { _, err := stats.Platform(supportCtx, c, time.Time{}, time.Time{}); return err }},
				{"Organization", func() error { _, err := stats.Organization(ownerCtx, c, org1); return err }},
				{"Activity/organization/30d", func() error { _, err := stats.Activity(ownerCtx, c, org1, month, now); return err }},
				{"Activity/organization/366d", func() error { _, err := stats.Activity(ownerCtx, c, org1, year, now); return err }},
				{"Activity/all/30d", func() error { _, err := stats.Activity(supportCtx, c, "", month, now); return err }},
				{"Activity/all/366d", func() error { _, err := stats.Activity(supportCtx, c, "", year, now); return err }},
				{"Activity/readable/30d", func() error { _, err := stats.Activity(ownerCtx, c, "", month, now); return err }},
			} {
				b.Run(bb.name, func(b *testing.B) {
					drv.Reset()
					n := 0
					for b.Loop() {
						if err := bb.run(); err != nil {
							b.Fatal(err)
						}
						n++
					}
					b.ReportMetric(float64(drv.Count())/float64(n), "stmts/op")
				})
			}
		})
	}
}

// benchID is the ID of the i-th row of a kind, as the loading SQL makes
// it.
func benchID(prefix string, i int) string { return fmt.Sprintf("%s_%026d", prefix, i) }

var table = regexp.MustCompile(`INSERT INTO (\w+)`)

// load fills the database with the benchmark's platform, one INSERT ...
// SELECT per table over a generated series of integers i: generate_series
// on PostgreSQL, a recursive CTE on SQLite.
func (e *env) load(b testing.TB) {
	b.Helper()
	pg := e.db.Dialect == dialect.Postgres
	// id returns the SQL of the ID of kind prefix numbered by SQL expr.
	id := func(prefix, expr string) string {
		if pg {
			return fmt.Sprintf("'%s_' || lpad((%s)::text, 26, '0')", prefix, expr)
		}
		return fmt.Sprintf("'%s_' || printf('%%026d', %s)", prefix, expr)
	}
	// at returns the SQL of the time secs (an SQL expression) seconds from
	// now; SQLite's text is the format the driver writes times in.
	at := func(secs string) string {
		if pg {
			return fmt.Sprintf("(now() + (%s) * interval '1 second')", secs)
		}
		return fmt.Sprintf("(strftime('%%Y-%%m-%%d %%H:%%M:%%f', julianday('now') + (%s) / 86400.0) || '+00:00')", secs)
	}
	digest := func(expr string) string {
		if pg {
			return fmt.Sprintf("convert_to(lpad((%s)::text, 32, '0'), 'UTF8')", expr)
		}
		return fmt.Sprintf("CAST(printf('%%032d', %s) AS BLOB)", expr)
	}
	series := func(n int, insert, sel string) string {
		if pg {
			return fmt.Sprintf("%s %s FROM generate_series(1, %d) AS s(i)", insert, sel, n)
		}
		return fmt.Sprintf("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d) %s %s FROM s", n, insert, sel)
	}
	now := at("0")
	// org returns the SQL of the organization of row i of a table of n
	// rows: consecutive blocks of n/benchOrgs rows share one, so that no
	// organization's rows are tied to the other residues of i below.
	org := func(n int) string { return id("org", fmt.Sprintf("1 + (i / %d) %% %d", n/benchOrgs, benchOrgs)) }
	actOrg := id("org", fmt.Sprintf("1 + (i / 10) %% %d", benchOrgs))
	statements := []string{
		series(benchOrgs, "INSERT INTO cf_organizations (id, created_at, updated_at, name, slug)",
			fmt.Sprintf("SELECT %s, %s, %s, 'Org ' || i, 'org-' || i", id("org", "i"), now, now)),
		series(benchUsers, "INSERT INTO cf_users (id, created_at, updated_at, email, status, banned_at, ban_expires_at, locked_until)",
			fmt.Sprintf(`SELECT %s, %s, %s, 'u' || i || '@bench.test',
				CASE i %% 10 WHEN 0 THEN 'pending' WHEN 1 THEN 'suspended' WHEN 2 THEN 'disabled' WHEN 3 THEN 'archived' ELSE 'active' END,
				CASE WHEN i %% 50 = 0 THEN %s END, CASE WHEN i %% 100 = 0 THEN %s END, CASE WHEN i %% 70 = 0 THEN %s END`,
				id("usr", "i"), at("-i * 630"), now, at("-86400"), at("86400"), at("3600"))),
		series(benchUsers, "INSERT INTO cf_memberships (id, created_at, updated_at, status, organization_id, user_id)",
			fmt.Sprintf("SELECT %s, %s, %s, CASE WHEN i %% 20 = 0 THEN 'suspended' WHEN i %% 33 = 0 THEN 'invited' ELSE 'active' END, %s, %s",
				id("mem", "i"), now, now, org(benchUsers), id("usr", "i"))),
		series(benchUsers, "INSERT INTO cf_membership_roles (membership_id, role_id)",
			fmt.Sprintf("SELECT %s, CASE WHEN i %% %d = 1 THEN '%s' ELSE '%s' END", id("mem", "i"), benchUsers/benchOrgs, ownerRole, memberRole)),
		series(benchUsers/10, "INSERT INTO cf_membership_roles (membership_id, role_id)",
			fmt.Sprintf("SELECT %s, '%s'", id("mem", "i * 10"), viewerRole)),
		series(benchSessions, "INSERT INTO cf_sessions (id, created_at, last_used_at, idle_expires_at, expires_at, revoked_at, organization_id, user_id)",
			fmt.Sprintf("SELECT %s, %s, %s, CASE WHEN i %% 4 = 0 THEN %s ELSE %s END, %s, CASE WHEN i %% 5 = 0 THEN %s END, CASE WHEN i %% 3 = 0 THEN NULL ELSE %s END, %s",
				id("ses", "i"), at("-i * 30"), now, at("-60"), at("3600"), at("7 * 86400"), at("-60"), org(benchUsers), id("usr", "i"))),
		series(benchKeys, "INSERT INTO cf_api_keys (id, created_at, updated_at, name, prefix, secret_hash, scopes, expires_at, revoked_at, organization_id, user_id)",
			fmt.Sprintf("SELECT %s, %s, %s, 'bench', 'cfk_' || i, %s, '[]', CASE WHEN i %% 7 = 0 THEN %s END, CASE WHEN i %% 4 = 0 THEN %s END, CASE WHEN i %% 2 = 0 THEN %s END, %s",
				id("key", "i"), now, now, digest("i"), at("-60"), at("-60"), org(benchKeys), id("usr", "i"))),
		series(benchInvitations, "INSERT INTO cf_invitations (id, created_at, updated_at, email, status, token_digest, expires_at, organization_id)",
			fmt.Sprintf("SELECT %s, %s, %s, 'i' || i || '@bench.test', CASE WHEN i %% 3 = 0 THEN 'accepted' ELSE 'pending' END, %s, CASE WHEN i %% 5 = 0 THEN %s ELSE %s END, %s",
				id("inv", "i"), now, now, digest("i"), at("-60"), at("86400"), org(benchInvitations))),
		// Over the last 359 days, 90% in the organizations (interleaved in
		// time), 10% in none.
		series(benchActivities, "INSERT INTO cf_activities (id, created_at, organization_id, actor_type, actor_user_id, verb, chain, seq, prev_hash, hash)",
			fmt.Sprintf(`SELECT %s, %s, CASE WHEN i %% 10 = 0 THEN NULL ELSE %s END, 'user', %s,
				CASE i %% 8 WHEN 0 THEN '%s' WHEN 1 THEN 'session.refreshed' WHEN 2 THEN 'member.invited' WHEN 3 THEN 'member.joined'
					WHEN 4 THEN 'user.login_failed' WHEN 5 THEN 'user.updated' WHEN 6 THEN 'organization.updated' ELSE 'api_key.created' END,
				CASE WHEN i %% 10 = 0 THEN 'platform' ELSE %s END, i, '', ''`,
				id("act", "i"), at("-i * 31"), actOrg, id("usr", "1 + i % "+fmt.Sprint(benchUsers)), stats.SignInVerb, actOrg)),
		"ANALYZE",
	}
	for _, s := range statements {
		start := time.Now()
		if _, err := e.sqlDB.ExecContext(context.Background(), s); err != nil {
			b.Fatalf("loading: %v\n%s", err, s)
		}
		if m := table.FindStringSubmatch(s); m != nil {
			b.Logf("%s: %s", m[1], time.Since(start).Round(time.Millisecond))
		}
	}
}
