// Package testdb gives tests real databases: an SQLite file per test always,
// and a PostgreSQL database per test when IDENTITY_TEST_POSTGRES_URL names a
// server. Databases are removed by t.Cleanup.
package testdb

import (
	"context"
	"database/sql"
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
