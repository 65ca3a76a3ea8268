// Package bench fills a migrated cf identity database with a synthetic,
// deterministic tenant population for benchmarks and load tests, in a few
// set-based SQL statements (PostgreSQL generate_series, SQLite a recursive
// common table expression), and seeds the few rows that need real
// cryptography (an API key) through the Go code of the module.
//
// The benchmarks of issue 14 live in this package's tests: each workload
// runs through the product (ent client or the GraphQL handler) and through
// a hand-written baseline that returns the same data; see the README's
// Performance section.
package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/pulid"
)

// Shape says how many rows Load writes.
type Shape struct {
	// Organizations is the number of organizations.
	Organizations int
	// Users is the number of users, the actor included.
	Users int
	// MembersPerOrg is the number of memberships of each organization
	// (at least 50, fewer than Users). Each has one built-in role (the
	// second member is the owner, the others are members); every third
	// also has the organization's custom role "analyst".
	MembersPerOrg int
	// ActorOrgs is the number of organizations (the first ones) in which
	// the actor is a member (role member).
	ActorOrgs int
}

// Full is the shape of issue 14: 1,000 organizations, 50,000 users,
// 100,000 memberships and 133,000 role links.
var Full = Shape{Organizations: 1000, Users: 50_000, MembersPerOrg: 100, ActorOrgs: 10}

// Small is a tenth of Full, for short runs.
var Small = Shape{Organizations: 100, Users: 5_000, MembersPerOrg: 100, ActorOrgs: 10}

// Memberships is the number of memberships of s.
func (s Shape) Memberships() int { return s.Organizations * s.MembersPerOrg }

// RoleLinks is the number of membership-role links of s.
func (s Shape) RoleLinks() int { return s.Memberships() + s.Organizations*(s.MembersPerOrg/3) }

// CustomRoles is the number of organization roles of s (one per
// organization), built-in roles aside.
func (s Shape) CustomRoles() int { return s.Organizations }

func (s Shape) validate() error {
	switch {
	case s.Organizations < 1 || s.Users < 2:
		return fmt.Errorf("bench: shape %+v: want at least one organization and two users", s)
	case s.MembersPerOrg < 50 || s.MembersPerOrg >= s.Users:
		return fmt.Errorf("bench: shape %+v: want 50 <= MembersPerOrg < Users", s)
	case s.ActorOrgs < 1 || s.ActorOrgs > s.Organizations:
		return fmt.Errorf("bench: shape %+v: want 1 <= ActorOrgs <= Organizations", s)
	}
	return nil
}

// Fixture describes what Load wrote. Row i of a kind has the ID that the
// methods below return; IDs are valid pulids of their prefix, equal on
// every run.
type Fixture struct {
	Shape Shape
	// Actor is user 0, a member (role member) of the first
	// Shape.ActorOrgs organizations and of no other.
	Actor pulid.ID
	// Took is how long loading took.
	Took time.Duration
}

// Built-in role IDs, fixed by the first migration.
const (
	RoleOwner  pulid.ID = "rol_00000000000000000000000001"
	RoleMember pulid.ID = "rol_00000000000000000000000003"
)

// idOf is the deterministic ID of row n of the kind prefix: a fixed
// timestamp part ("01JBENCH00", within the ULID range) and n in decimal
// digits, which are Crockford base-32 digits too, so IDs sort by n.
func idOf(prefix string, n int) pulid.ID {
	return pulid.ID(fmt.Sprintf("%s_01JBENCH%018d", prefix, n))
}

// OrgID is the ID of organization o.
func (f Fixture) OrgID(o int) pulid.ID { return idOf("org", o) }

// UserID is the ID of user u (user 0 is the actor).
func (f Fixture) UserID(u int) pulid.ID { return idOf("usr", u) }

// MembershipID is the ID of membership j of organization o.
func (f Fixture) MembershipID(o, j int) pulid.ID { return idOf("mem", o*f.Shape.MembersPerOrg+j) }

// CustomRoleID is the ID of the custom role of organization o.
func (f Fixture) CustomRoleID(o int) pulid.ID { return idOf("rol", o) }

// MemberUser is the user index of membership j of organization o.
func (f Fixture) MemberUser(o, j int) int {
	if j == 0 && o < f.Shape.ActorOrgs {
		return 0
	}
	return 1 + (o*(f.Shape.MembersPerOrg/2)+j)%(f.Shape.Users-1)
}

// Email is the address of user u.
func Email(u int) string { return fmt.Sprintf("user%06d@bench.example", u) }

// ErrNotEmpty is the error of Load on a database that holds
// organizations already.
var ErrNotEmpty = errors.New("bench: the database holds organizations: load into a new one")

// Load fills db, migrated and holding no organizations yet (ErrNotEmpty
// otherwise), with shape s, in one transaction of set-based statements,
// and runs ANALYZE. dialectName is dialect.SQLite or dialect.Postgres.
//
// It writes with plain SQL, under no privacy policy and without
// activities: it is for benchmark and load-test databases only, never for
// a database people use.
func Load(ctx context.Context, db *sql.DB, dialectName string, s Shape) (Fixture, error) {
	if err := s.validate(); err != nil {
		return Fixture{}, err
	}
	var orgs int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM cf_organizations").Scan(&orgs); err != nil {
		return Fixture{}, fmt.Errorf("bench: %w", err)
	}
	if orgs > 0 {
		return Fixture{}, ErrNotEmpty
	}
	start := time.Now()
	f := Fixture{Shape: s}
	f.Actor = f.UserID(0)
	var stmts []string
	switch dialectName {
	case dialect.Postgres:
		stmts = postgresStatements(s)
	case dialect.SQLite:
		stmts = sqliteStatements(s)
	default:
		return Fixture{}, fmt.Errorf("bench: unknown dialect %q", dialectName)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return Fixture{}, fmt.Errorf("bench: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // a no-op after Commit
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return Fixture{}, fmt.Errorf("bench: loading: %w\n%s", err, q)
		}
	}
	if err := tx.Commit(); err != nil {
		return Fixture{}, fmt.Errorf("bench: %w", err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		return Fixture{}, fmt.Errorf("bench: ANALYZE: %w", err)
	}
	f.Took = time.Since(start)
	return f, nil
}

// The statements of both dialects share their column lists and the
// expressions that pick users and roles; only the row source, the
// formatting of numbers and times differ.
type dialectSQL struct {
	// series(n) is a row source of integers i in [0, n) named s(i).
	series func(n int) string
	// id(prefix, expr) is the deterministic ID of expr (see idOf).
	id func(prefix, expr string) string
	// at(expr) is the time 2026-01-01 UTC plus expr seconds.
	at func(expr string) string
	// pad6(expr) is expr in six digits.
	pad6 func(expr string) string
}

var pg = dialectSQL{
	series: func(n int) string { return fmt.Sprintf("generate_series(0, %d) AS s(i)", n-1) },
	id: func(prefix, expr string) string {
		return fmt.Sprintf("'%s_01JBENCH' || lpad((%s)::text, 18, '0')", prefix, expr)
	},
	at: func(expr string) string {
		return fmt.Sprintf("(timestamptz '2026-01-01 00:00:00+00' + (%s) * interval '1 second')", expr)
	},
	pad6: func(expr string) string { return fmt.Sprintf("lpad((%s)::text, 6, '0')", expr) },
}

var lite = dialectSQL{
	series: func(n int) string { return fmt.Sprintf("seq%d AS s", n) },
	id: func(prefix, expr string) string {
		return fmt.Sprintf("'%s_01JBENCH' || printf('%%018d', %s)", prefix, expr)
	},
	at: func(expr string) string {
		return fmt.Sprintf("(strftime('%%Y-%%m-%%d %%H:%%M:%%S', '2026-01-01 00:00:00', '+' || (%s) || ' seconds') || '+00:00')", expr)
	},
	pad6: func(expr string) string { return fmt.Sprintf("printf('%%06d', %s)", expr) },
}

func postgresStatements(s Shape) []string { return statements(pg, s, "") }

// sqliteStatements prefix each INSERT with the recursive CTE of the
// series it reads.
func sqliteStatements(s Shape) []string {
	return statements(lite, s, "sqlite")
}

func statements(d dialectSQL, s Shape, flavour string) []string {
	m := s.MembersPerOrg
	// The user of membership (o, j), o = i / m, j = i % m (see MemberUser).
	user := fmt.Sprintf("CASE WHEN i %% %d = 0 AND i / %d < %d THEN 0 ELSE 1 + ((i / %d) * %d + i %% %d) %% %d END",
		m, m, s.ActorOrgs, m, m/2, m, s.Users-1)
	ins := func(n int, head, sel string) string {
		q := fmt.Sprintf("%s SELECT %s FROM %s", head, sel, d.series(n))
		if flavour == "sqlite" {
			q = fmt.Sprintf("WITH RECURSIVE seq%d(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq%d WHERE i < %d) %s", n, n, n-1, q)
		}
		return q
	}
	per := m / 3
	roleLinks := s.Organizations * per
	return []string{
		ins(s.Organizations,
			"INSERT INTO cf_organizations (id, created_at, updated_at, name, slug, plan, status)",
			fmt.Sprintf("%s, %s, %s, 'Organization ' || %s, 'org-' || %s, 'team', 'active'",
				d.id("org", "i"), d.at("i"), d.at("i"), d.pad6("i"), d.pad6("i"))),
		ins(s.Users,
			"INSERT INTO cf_users (id, created_at, updated_at, email, email_verified, first_name, last_name, display_name, platform_role, status)",
			fmt.Sprintf("%s, %s, %s, 'user' || %s || '@bench.example', true, 'First' || %s, 'Last' || %s, 'User ' || %s, 'none', 'active'",
				d.id("usr", "i"), d.at("i"), d.at("i"), d.pad6("i"), d.pad6("i"), d.pad6("i"), d.pad6("i"))),
		ins(s.Organizations,
			"INSERT INTO cf_roles (id, created_at, updated_at, organization_id, key, name, description, permissions, level, full_data_access, system)",
			fmt.Sprintf(`%s, %s, %s, %s, 'analyst', 'Analyst', 'Reads the organization and its members.', '["organization:read","member:read"]', 20, false, false`,
				d.id("rol", "i"), d.at("i"), d.at("i"), d.id("org", "i"))),
		ins(s.Memberships(),
			"INSERT INTO cf_memberships (id, created_at, updated_at, organization_id, user_id, status, title, joined_at)",
			fmt.Sprintf("%s, %s, %s, %s, %s, 'active', 'Title ' || (i %% 7), %s",
				d.id("mem", "i"), d.at("i"), d.at("i"), d.id("org", fmt.Sprintf("i / %d", m)), d.id("usr", user), d.at("i"))),
		// One built-in role each: the second member of an organization
		// is its owner, every other member a member.
		ins(s.Memberships(),
			"INSERT INTO cf_membership_roles (membership_id, role_id)",
			fmt.Sprintf("%s, CASE WHEN i %% %d = 1 THEN '%s' ELSE '%s' END", d.id("mem", "i"), m, RoleOwner, RoleMember)),
		// The custom role for members j = 2, 5, 8, ...: row i is the
		// k-th such member (k = i % per) of organization i / per.
		ins(roleLinks,
			"INSERT INTO cf_membership_roles (membership_id, role_id)",
			fmt.Sprintf("%s, %s", d.id("mem", fmt.Sprintf("(i / %d) * %d + 3 * (i %% %d) + 2", per, m, per)), d.id("rol", fmt.Sprintf("i / %d", per)))),
	}
}

// IssueKey creates a personal API key of the fixture's actor with every
// scope, through apikey.Create as the system (real secret and digest; the
// activity is recorded as for any key), and returns the key.
func IssueKey(ctx context.Context, client *ent.Client, f Fixture, name string) (string, error) {
	sys := actor.NewContext(ctx, actor.System("bench"))
	key, _, err := apikey.Create(sys, client, apikey.Params{Name: name, OwnerID: f.Actor, Scopes: []string{actor.ScopeAll}})
	if err != nil {
		return "", fmt.Errorf("bench: issuing the actor's key: %w", err)
	}
	return key, nil
}
