// Package testdb gives tests real databases: an SQLite file per test always,
// and a PostgreSQL database per test when IDENTITY_TEST_POSTGRES_URL names a
// server. Databases are removed by t.Cleanup.
package testdb

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/internal/devdb"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/storage"
)

// EnvPostgres names the variable holding the PostgreSQL server URL for tests.
const EnvPostgres = "IDENTITY_TEST_POSTGRES_URL"

// Target is a database a test runs against.
type Target struct {
	Dialect string
	// URL opens the database (sqlite://... or postgres://...).
	URL string
}

// Name is the subtest name of the target.
func (t Target) Name() string {
	if t.Dialect == dialect.SQLite {
		return "sqlite"
	}
	return "postgres"
}

// Dialects lists the dialects tests run on: SQLite, and PostgreSQL when
// IDENTITY_TEST_POSTGRES_URL is set.
func Dialects() []string {
	if os.Getenv(EnvPostgres) != "" {
		return []string{dialect.SQLite, dialect.Postgres}
	}
	return []string{dialect.SQLite}
}

// Each runs f as a subtest for every dialect of Dialects, each with a new,
// empty database.
func Each(t *testing.T, f func(t *testing.T, db Target)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(Target{Dialect: d}.Name(), func(t *testing.T) {
			f(t, New(t, d))
		})
	}
}

// New creates an empty database of dialect d for the test.
func New(t testing.TB, d string) Target {
	t.Helper()
	switch d {
	case dialect.SQLite:
		return Target{Dialect: d, URL: "sqlite://" + filepath.Join(t.TempDir(), "test.db")}
	case dialect.Postgres:
		server := os.Getenv(EnvPostgres)
		if server == "" {
			t.Fatalf("testdb: %s is not set", EnvPostgres)
		}
		db, url, drop, err := devdb.Postgres(context.Background(), server, "cf_identity_test")
		if err != nil {
			t.Fatalf("testdb: %v", err)
		}
		db.Close()
		t.Cleanup(func() {
			if err := drop(); err != nil {
				t.Errorf("testdb: dropping database: %v", err)
			}
		})
		return Target{Dialect: d, URL: url}
	}
	t.Fatalf("testdb: unknown dialect %q", d)
	return Target{}
}

// Migrated applies the embedded migrations to target and returns an ent
// client and a raw handle on it, both closed by t.Cleanup.
func Migrated(t testing.TB, target Target) (*ent.Client, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	if _, err := migrations.Apply(ctx, target.URL); err != nil {
		t.Fatalf("testdb: applying migrations: %v", err)
	}
	client, db, _, err := storage.Open(ctx, target.URL)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client, db
}

// AppRole creates, for the PostgreSQL database of target (migrated), a
// role of its own made by storage.CreateAppRole (not the tables' owner,
// not a superuser, subject to row-level security) and returns target with
// a URL that connects as that role. The role is dropped by t.Cleanup,
// after the cleanups registered later (which close its connections).
func AppRole(t testing.TB, target Target) Target {
	t.Helper()
	if target.Dialect != dialect.Postgres {
		t.Fatalf("testdb: AppRole needs PostgreSQL, not %s", target.Dialect)
	}
	ctx := context.Background()
	owner, _, err := storage.OpenDB(ctx, target.URL)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	defer owner.Close()
	var dbName string
	if err := owner.QueryRowContext(ctx, "SELECT current_database()").Scan(&dbName); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	role := dbName + "_app"
	if err := storage.CreateAppRole(ctx, owner, role, ""); err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(func() {
		owner, _, err := storage.OpenDB(ctx, target.URL)
		if err != nil {
			t.Errorf("testdb: dropping role %s: %v", role, err)
			return
		}
		defer owner.Close()
		// Connections of the role still open (a pool closed by a later
		// cleanup may linger for a moment) would keep DROP ROLE from
		// succeeding.
		_, _ = owner.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
		for _, q := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
			if _, err := owner.ExecContext(ctx, q); err != nil {
				t.Errorf("testdb: %s: %v", q, err)
				return
			}
		}
	})
	u, err := url.Parse(target.URL)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	u.User = url.User(role)
	return Target{Dialect: target.Dialect, URL: u.String()}
}
