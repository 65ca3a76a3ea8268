package migration_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/migration"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/storage"
)

// TestForeignTables checks that Apply creates nothing in a database holding
// tables of another application, unless AllowForeignTables is given.
func TestForeignTables(t *testing.T) {
	tests := []struct {
		name string
		// setup runs SQL on the empty database first.
		setup []string
		allow bool
		// foreign lists the tables the error names; nil means Apply works.
		foreign []string
	}{
		{name: "empty database"},
		{name: "other tables", setup: []string{`CREATE TABLE orders (id integer PRIMARY KEY)`, `CREATE TABLE invoices (id integer PRIMARY KEY)`},
			foreign: []string{"invoices", "orders"}},
		{name: "a view", setup: []string{`CREATE VIEW report AS SELECT 1 AS x`}, foreign: []string{"report"}},
		{name: "other tables, allowed", setup: []string{`CREATE TABLE orders (id integer PRIMARY KEY)`}, allow: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, target testdb.Target) {
				ctx := context.Background()
				db := openDB(t, target)
				for _, q := range tt.setup {
					if _, err := db.ExecContext(ctx, q); err != nil {
						t.Fatal(err)
					}
				}
				dir, err := migrations.Dir(target.Dialect)
				if err != nil {
					t.Fatal(err)
				}
				var opts []migration.Option
				if tt.allow {
					opts = append(opts, migration.AllowForeignTables())
				}
				m, err := migration.NewMigrator(db, target.Dialect, dir, opts...)
				if err != nil {
					t.Fatal(err)
				}
				applied, err := m.Apply(ctx)
				if tt.foreign == nil {
					if err != nil || len(applied) == 0 {
						t.Fatalf("Apply = %d applied, %v; want the migrations applied", len(applied), err)
					}
					// Once ours, the database migrates without the option.
					again, err := migration.NewMigrator(db, target.Dialect, dir)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := again.Apply(ctx); err != nil {
						t.Fatalf("second Apply: %v", err)
					}
					return
				}
				var fe *migration.ForeignDatabaseError
				if !errors.As(err, &fe) || !errors.Is(err, migration.ErrForeignDatabase) {
					t.Fatalf("Apply = %v, want a *ForeignDatabaseError", err)
				}
				if !slices.Equal(fe.Tables, tt.foreign) || fe.Maintenance {
					t.Errorf("error = %+v, want tables %v", fe, tt.foreign)
				}
				for _, w := range tt.foreign {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not name %s", err, w)
					}
				}
				if len(applied) != 0 {
					t.Errorf("applied %d migrations", len(applied))
				}
				if got := cfTables(t, db, target.Dialect); len(got) != 0 {
					t.Errorf("a refused Apply created %v", got)
				}
			})
		})
	}
}

// TestMaintenanceDatabase checks that Apply refuses the PostgreSQL
// maintenance database, and only reads it.
func TestMaintenanceDatabase(t *testing.T) {
	server := os.Getenv(testdb.EnvPostgres)
	if server == "" {
		t.Skipf("%s is not set", testdb.EnvPostgres)
	}
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/postgres"
	ctx := context.Background()
	db, _, err := storage.OpenDB(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	before := cfTables(t, db, dialect.Postgres)
	if slices.Contains(before, migration.RevisionTable) {
		t.Skipf("the maintenance database of this server already holds %s", migration.RevisionTable)
	}
	dir, err := migrations.Dir(dialect.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	m, err := migration.NewMigrator(db, dialect.Postgres, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Should Apply wrongly migrate it, leave the server as it was.
		for _, tb := range cfTables(t, db, dialect.Postgres) {
			if !slices.Contains(before, tb) {
				if _, err := db.ExecContext(ctx, `DROP TABLE IF EXISTS `+tb+` CASCADE`); err != nil {
					t.Errorf("dropping %s from the maintenance database: %v", tb, err)
				}
			}
		}
	})
	_, err = m.Apply(ctx)
	var fe *migration.ForeignDatabaseError
	if !errors.As(err, &fe) || !fe.Maintenance || fe.Database != "postgres" {
		t.Fatalf("Apply(postgres) = %v, want a *ForeignDatabaseError for the maintenance database", err)
	}
	if after := cfTables(t, db, dialect.Postgres); !slices.Equal(before, after) {
		t.Errorf("tables before %v, after %v", before, after)
	}
}
