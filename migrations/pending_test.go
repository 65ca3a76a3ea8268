package migrations_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/migration"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/storage"
)

func TestPendingAndCheck(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		ctx := context.Background()
		db, c, err := storage.OpenDB(ctx, target.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dir, err := migrations.Dir(c.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		files, err := dir.Files()
		if err != nil {
			t.Fatal(err)
		}
		var all []string
		for _, f := range files {
			all = append(all, f.Version())
		}
		if len(all) == 0 {
			t.Fatal("no embedded migrations")
		}
		last := all[len(all)-1]

		steps := []struct {
			name        string
			prepare     func(t *testing.T)
			wantPending []string
		}{
			{"empty database", func(*testing.T) {}, all},
			{"migrated", func(t *testing.T) {
				if _, err := migrations.Apply(ctx, target.URL); err != nil {
					t.Fatal(err)
				}
			}, nil},
			{"last revision missing", func(t *testing.T) {
				q := "DELETE FROM " + migration.RevisionTable + " WHERE version = ?"
				if c.Dialect == "postgres" {
					q = "DELETE FROM " + migration.RevisionTable + " WHERE version = $1"
				}
				if _, err := db.ExecContext(ctx, q, last); err != nil {
					t.Fatal(err)
				}
			}, []string{last}},
		}
		for _, s := range steps {
			s.prepare(t)
			pending, err := migrations.Pending(ctx, db, c.Dialect)
			if err != nil {
				t.Fatalf("%s: Pending: %v", s.name, err)
			}
			if !slices.Equal(pending, s.wantPending) {
				t.Errorf("%s: Pending = %v, want %v", s.name, pending, s.wantPending)
			}
			err = migrations.Check(ctx, db, c.Dialect)
			if behind := errors.Is(err, migrations.ErrBehind); behind != (len(s.wantPending) > 0) {
				t.Errorf("%s: Check = %v, want ErrBehind: %v", s.name, err, len(s.wantPending) > 0)
			}
		}
		db.Close()
		if err := migrations.Check(ctx, db, c.Dialect); err == nil || errors.Is(err, migrations.ErrBehind) {
			t.Errorf("Check on a closed database = %v, want a database error other than ErrBehind", err)
		}
	})
}

func TestPendingCreatesNothing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		ctx := context.Background()
		db, c, err := storage.OpenDB(ctx, target.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := migrations.Pending(ctx, db, c.Dialect); err != nil {
			t.Fatal(err)
		}
		q := "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
		if c.Dialect == "postgres" {
			q = "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
		}
		var n int
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("after Pending the empty database has %d tables, want 0", n)
		}
	})
}
