package migration_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/cf/identity/internal/devdb"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/migration"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/storage"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// badFile is the name of the failing migration added by the rollback test.
const badFile = "99990101000000_bad.sql"

// openDB opens target the way the migrate command does; t.Cleanup closes it.
func openDB(t *testing.T, target testdb.Target) *sql.DB {
	t.Helper()
	db, c, err := storage.OpenDB(context.Background(), target.URL)
	if err != nil {
		t.Fatalf("opening %s: %v", target.Name(), err)
	}
	t.Cleanup(func() { db.Close() })
	if c.Dialect != target.Dialect {
		t.Fatalf("OpenDB dialect = %q, want %q", c.Dialect, target.Dialect)
	}
	if c.Dialect == dialect.SQLite {
		db.SetMaxOpenConns(1)
	}
	return db
}

// devDB returns an empty dev database of dialect d, dropped by t.Cleanup.
func devDB(t *testing.T, d string) *sql.DB {
	t.Helper()
	ctx := context.Background()
	switch d {
	case dialect.SQLite:
		db, err := devdb.SQLite(ctx)
		if err != nil {
			t.Fatalf("devdb.SQLite: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	case dialect.Postgres:
		db, _, drop, err := devdb.Postgres(ctx, os.Getenv(testdb.EnvPostgres), "cf_identity_test")
		if err != nil {
			t.Fatalf("devdb.Postgres: %v", err)
		}
		t.Cleanup(func() {
			if err := drop(); err != nil {
				t.Errorf("dropping dev database: %v", err)
			}
		})
		return db
	}
	t.Fatalf("unknown dialect %q", d)
	return nil
}

// eachDialect runs f as a subtest per dialect of testdb.Dialects.
func eachDialect(t *testing.T, f func(t *testing.T, d string)) {
	t.Helper()
	for _, d := range testdb.Dialects() {
		t.Run(testdb.Target{Dialect: d}.Name(), func(t *testing.T) { f(t, d) })
	}
}

// committedPath is the path of the committed migration directory of d.
func committedPath(t *testing.T, d string) string {
	t.Helper()
	name, err := migration.DirName(d)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join("..", "migrations", name)
}

// committedDir opens the committed migration directory of d read-only.
func committedDir(t *testing.T, d string) *migrate.LocalDir {
	t.Helper()
	dir, err := migrate.NewLocalDir(committedPath(t, d))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyDir copies the committed migration directory of d, atlas.sum
// included, into a new temporary directory.
func copyDir(t *testing.T, d string) *migrate.LocalDir {
	t.Helper()
	src := committedPath(t, d)
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := migrate.NewLocalDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var sqlFiles int
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := dir.WriteFile(e.Name(), b); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(e.Name(), ".sql") {
			sqlFiles++
		}
	}
	if sqlFiles == 0 {
		t.Fatalf("no migration files in %s", src)
	}
	if err := migration.ValidateDir(dir); err != nil {
		t.Fatalf("copy of %s is not valid: %v", src, err)
	}
	return dir
}

func files(t *testing.T, dir migrate.Dir) []migrate.File {
	t.Helper()
	fs, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func versions(fs []migrate.File) []string {
	var vs []string
	for _, f := range fs {
		vs = append(vs, f.Version())
	}
	return vs
}

// removeLines drops the lines of file in dir that contain any of needles
// and returns how many it dropped.
func removeLines(t *testing.T, dir *migrate.LocalDir, file string, needles ...string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir.Path(), file))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	removed := 0
	for line := range strings.Lines(string(b)) {
		if slices.ContainsFunc(needles, func(n string) bool { return strings.Contains(line, n) }) {
			removed++
			continue
		}
		kept = append(kept, line)
	}
	if err := dir.WriteFile(file, []byte(strings.Join(kept, ""))); err != nil {
		t.Fatal(err)
	}
	return removed
}

// cfTables lists the tables named cf_* of db.
func cfTables(t *testing.T, db *sql.DB, d string) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'cf\_%' ESCAPE '\' ORDER BY name`
	if d == dialect.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'cf\_%' ESCAPE '\' ORDER BY table_name`
	}
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatalf("listing tables: %v", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func newMigrator(t *testing.T, db *sql.DB, d string, dir migrate.Dir) *migration.Migrator {
	t.Helper()
	m, err := migration.NewMigrator(db, d, dir)
	if err != nil {
		t.Fatalf("NewMigrator: %v", err)
	}
	return m
}

// TestApplyEmptyDatabase applies the embedded migrations to an empty
// database and checks the result against the ent schema and the built-in
// roles.
func TestApplyEmptyDatabase(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		ctx := context.Background()
		db := openDB(t, target)
		dir, err := migrations.Dir(target.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		want := files(t, dir)
		m := newMigrator(t, db, target.Dialect, dir)

		applied, err := m.Apply(ctx)
		if err != nil {
			t.Fatalf("first Apply: %v", err)
		}
		if len(applied) != len(want) {
			t.Fatalf("first Apply applied %d files, want %d (one per file)", len(applied), len(want))
		}
		for i, a := range applied {
			if a.Version != want[i].Version() || a.Description != want[i].Desc() {
				t.Errorf("applied[%d] = %s %s, want %s %s", i, a.Version, a.Description, want[i].Version(), want[i].Desc())
			}
			stmts, err := want[i].Stmts()
			if err != nil {
				t.Fatal(err)
			}
			if a.Statements != len(stmts) || a.Statements == 0 {
				t.Errorf("applied[%d].Statements = %d, want %d (non-zero)", i, a.Statements, len(stmts))
			}
		}

		again, err := m.Apply(ctx)
		if err != nil {
			t.Fatalf("second Apply: %v", err)
		}
		if len(again) != 0 {
			t.Errorf("second Apply applied %v, want nothing", again)
		}

		st, err := m.Status(ctx)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if len(st.Pending) != 0 {
			t.Errorf("Status.Pending = %v, want none", st.Pending)
		}
		if last := want[len(want)-1].Version(); st.Current != last {
			t.Errorf("Status.Current = %q, want %q", st.Current, last)
		}
		if !slices.Equal(st.Applied, versions(want)) {
			t.Errorf("Status.Applied = %v, want %v", st.Applied, versions(want))
		}
		if err := m.Validate(ctx); err != nil {
			t.Errorf("Validate: %v", err)
		}
		if err := m.Drift(ctx); err != nil {
			t.Errorf("Drift after migrating: %v", err)
		}

		rows, err := db.QueryContext(ctx, `SELECT id, "key", name, level, full_data_access, system FROM cf_roles WHERE organization_id IS NULL ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []permission.Builtin
		for rows.Next() {
			var (
				r      permission.Builtin
				system bool
			)
			if err := rows.Scan(&r.ID, &r.Key, &r.Name, &r.Level, &r.FullDataAccess, &system); err != nil {
				t.Fatal(err)
			}
			if !system {
				t.Errorf("role %s: system = false, want true", r.ID)
			}
			got = append(got, r)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		wantRoles := []struct {
			id  string
			key string
		}{
			{string(permission.OwnerRoleID), "owner"},
			{string(permission.AdminRoleID), "admin"},
			{string(permission.MemberRoleID), "member"},
			{string(permission.ViewerRoleID), "viewer"},
		}
		if len(got) != len(wantRoles) {
			t.Fatalf("got %d built-in roles, want %d: %+v", len(got), len(wantRoles), got)
		}
		for i, w := range wantRoles {
			b := permission.Builtins[i]
			if string(got[i].ID) != w.id || got[i].Key != w.key {
				t.Errorf("role %d = %s %q, want %s %q", i, got[i].ID, got[i].Key, w.id, w.key)
			}
			if got[i].Name != b.Name || got[i].Level != b.Level || got[i].FullDataAccess != b.FullDataAccess {
				t.Errorf("role %s = %+v, want name %q level %d full data access %t", w.id, got[i], b.Name, b.Level, b.FullDataAccess)
			}
		}
	})
}

// TestCommittedDirsHaveNoDrift replays the committed directories and
// compares them with the ent schema.
func TestCommittedDirsHaveNoDrift(t *testing.T) {
	eachDialect(t, func(t *testing.T, d string) {
		if err := migration.CheckDir(context.Background(), devDB(t, d), d, committedDir(t, d)); err != nil {
			t.Fatalf("CheckDir(%s): %v", committedPath(t, d), err)
		}
	})
}

// TestDriftIsDetected removes an index from a copy of the committed
// directory: both the directory check and a database migrated from it must
// report the index as missing.
func TestDriftIsDetected(t *testing.T) {
	eachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		dir := copyDir(t, d)
		first := files(t, dir)[0].Name()
		if n := removeLines(t, dir, first, `"cf_users_platform_role"`, "`cf_users_platform_role`"); n != 2 {
			t.Fatalf("removed %d lines of %s mentioning cf_users_platform_role, want 2 (comment and CREATE INDEX)", n, first)
		}
		if err := migration.Rehash(dir); err != nil {
			t.Fatal(err)
		}
		if err := migration.ValidateDir(dir); err != nil {
			t.Fatalf("ValidateDir after Rehash: %v", err)
		}

		checkDrift := func(t *testing.T, err error, subject string) {
			t.Helper()
			if !errors.Is(err, migration.ErrDrift) {
				t.Fatalf("error = %v, want one wrapping ErrDrift", err)
			}
			var de *migration.DriftError
			if !errors.As(err, &de) {
				t.Fatalf("error = %T, want *migration.DriftError", err)
			}
			if de.Dialect != d || de.Subject != subject {
				t.Errorf("DriftError dialect, subject = %q, %q; want %q, %q", de.Dialect, de.Subject, d, subject)
			}
			if !strings.Contains(de.SQL, "CREATE INDEX") || !strings.Contains(de.SQL, "cf_users_platform_role") {
				t.Errorf("DriftError.SQL does not create index cf_users_platform_role:\n%s", de.SQL)
			}
			if strings.Contains(de.SQL, "CREATE TABLE") || strings.Count(de.SQL, "CREATE INDEX") != 1 {
				t.Errorf("DriftError.SQL holds more than the missing index:\n%s", de.SQL)
			}
		}

		t.Run("CheckDir", func(t *testing.T) {
			checkDrift(t, migration.CheckDir(ctx, devDB(t, d), d, dir), "migration directory")
		})
		t.Run("Migrator.Drift", func(t *testing.T) {
			db := openDB(t, testdb.New(t, d))
			m := newMigrator(t, db, d, dir)
			if _, err := m.Apply(ctx); err != nil {
				t.Fatalf("Apply of the broken directory: %v", err)
			}
			checkDrift(t, m.Drift(ctx), "database")
		})
	})
}

// TestTamperedDirectory edits a directory without rehashing it: nothing
// may be applied from it.
func TestTamperedDirectory(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir *migrate.LocalDir)
	}{
		{"file edited", func(t *testing.T, dir *migrate.LocalDir) {
			f := files(t, dir)[0]
			b := append(append([]byte(nil), f.Bytes()...), "CREATE TABLE cf_tampered (id integer);\n"...)
			if err := dir.WriteFile(f.Name(), b); err != nil {
				t.Fatal(err)
			}
		}},
		{"file added", func(t *testing.T, dir *migrate.LocalDir) {
			if err := dir.WriteFile("99990101000000_extra.sql", []byte("CREATE TABLE cf_tampered (id integer);\n")); err != nil {
				t.Fatal(err)
			}
		}},
		{"file removed", func(t *testing.T, dir *migrate.LocalDir) {
			if err := os.Remove(filepath.Join(dir.Path(), files(t, dir)[0].Name())); err != nil {
				t.Fatal(err)
			}
		}},
		{"atlas.sum removed", func(t *testing.T, dir *migrate.LocalDir) {
			if err := os.Remove(filepath.Join(dir.Path(), migrate.HashFileName)); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, target testdb.Target) {
				ctx := context.Background()
				dir := copyDir(t, target.Dialect)
				tt.tamper(t, dir)
				if err := migration.ValidateDir(dir); !errors.Is(err, migration.ErrDirTampered) {
					t.Errorf("ValidateDir = %v, want ErrDirTampered", err)
				}
				db := openDB(t, target)
				m := newMigrator(t, db, target.Dialect, dir)
				applied, err := m.Apply(ctx)
				if !errors.Is(err, migration.ErrDirTampered) {
					t.Errorf("Apply = %v, want ErrDirTampered", err)
				}
				if len(applied) != 0 {
					t.Errorf("Apply applied %v from a tampered directory", applied)
				}
				if tables := cfTables(t, db, target.Dialect); len(tables) != 0 {
					t.Errorf("Apply of a tampered directory left tables %v", tables)
				}
				if err := m.Validate(ctx); !errors.Is(err, migration.ErrDirTampered) {
					t.Errorf("Validate = %v, want ErrDirTampered", err)
				}
				if _, err := m.Status(ctx); !errors.Is(err, migration.ErrDirTampered) {
					t.Errorf("Status = %v, want ErrDirTampered", err)
				}
			})
		})
	}
}

// TestFailingMigrationRollsBack adds a migration whose second statement
// fails: its first statement must be rolled back and the file left pending,
// while the committed files before it stay applied. Fixing the file then
// applies it alone.
func TestFailingMigrationRollsBack(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		ctx := context.Background()
		dir := copyDir(t, target.Dialect)
		committed := files(t, dir)
		if err := dir.WriteFile(badFile, []byte("CREATE TABLE cf_tmp_ok (id integer);\nCREATE TABLE cf_tmp_bad (id integer, THIS IS NOT SQL);\n")); err != nil {
			t.Fatal(err)
		}
		if err := migration.Rehash(dir); err != nil {
			t.Fatal(err)
		}
		db := openDB(t, target)
		m := newMigrator(t, db, target.Dialect, dir)

		applied, err := m.Apply(ctx)
		var ae *migration.ApplyError
		if !errors.As(err, &ae) {
			t.Fatalf("Apply = %v, want *migration.ApplyError", err)
		}
		if ae.File != badFile || ae.Version != "99990101000000" || ae.Err == nil {
			t.Errorf("ApplyError = {Version: %q, File: %q, Err: %v}, want version 99990101000000 of %s with a cause", ae.Version, ae.File, ae.Err, badFile)
		}
		if !strings.Contains(err.Error(), badFile) {
			t.Errorf("error %q does not name %s", err, badFile)
		}
		if !slices.Equal(func() []string {
			var vs []string
			for _, a := range applied {
				vs = append(vs, a.Version)
			}
			return vs
		}(), versions(committed)) {
			t.Errorf("Apply applied %v before failing, want the committed versions %v", applied, versions(committed))
		}
		tables := cfTables(t, db, target.Dialect)
		if slices.Contains(tables, "cf_tmp_ok") || slices.Contains(tables, "cf_tmp_bad") {
			t.Errorf("the failed migration left its tables: %v", tables)
		}
		if !slices.Contains(tables, "cf_users") || !slices.Contains(tables, migration.RevisionTable) {
			t.Errorf("the committed migrations are not applied; tables: %v", tables)
		}

		st, err := m.Status(ctx)
		if err != nil {
			t.Fatalf("Status: %v", err)
		}
		if !slices.Equal(st.Pending, []string{badFile}) {
			t.Errorf("Status.Pending = %v, want [%s]", st.Pending, badFile)
		}
		if last := committed[len(committed)-1].Version(); st.Current != last {
			t.Errorf("Status.Current = %q, want %q", st.Current, last)
		}
		if err := m.Validate(ctx); err != nil {
			t.Errorf("Validate after a failed apply: %v", err)
		}

		// The same file fails again, alone.
		applied, err = m.Apply(ctx)
		if !errors.As(err, &ae) || ae.File != badFile || len(applied) != 0 {
			t.Errorf("second Apply = %v, %v; want only an ApplyError of %s", applied, err, badFile)
		}

		// Fixed and rehashed, the file applies.
		if err := dir.WriteFile(badFile, []byte("CREATE TABLE cf_tmp_ok (id integer);\n")); err != nil {
			t.Fatal(err)
		}
		if err := migration.Rehash(dir); err != nil {
			t.Fatal(err)
		}
		applied, err = m.Apply(ctx)
		if err != nil || len(applied) != 1 || applied[0].Version != "99990101000000" {
			t.Fatalf("Apply of the fixed file = %v, %v; want it applied alone", applied, err)
		}
		if tables := cfTables(t, db, target.Dialect); !slices.Contains(tables, "cf_tmp_ok") {
			t.Errorf("cf_tmp_ok missing after applying the fixed file; tables: %v", tables)
		}
	})
}

// TestHistoryChanged edits or removes an applied file and rehashes the
// directory: the directory is valid, but the applied history is not.
func TestHistoryChanged(t *testing.T) {
	tests := []struct {
		name string
		edit func(t *testing.T, dir *migrate.LocalDir, f migrate.File)
		want string
	}{
		{"comment appended", func(t *testing.T, dir *migrate.LocalDir, f migrate.File) {
			b := append(append([]byte(nil), f.Bytes()...), "-- edited after it was applied\n"...)
			if err := dir.WriteFile(f.Name(), b); err != nil {
				t.Fatal(err)
			}
		}, "was edited after it was applied"},
		{"statement removed", func(t *testing.T, dir *migrate.LocalDir, f migrate.File) {
			if n := removeLines(t, dir, f.Name(), "cf_users_platform_role"); n == 0 {
				t.Fatal("nothing removed")
			}
		}, "was edited after it was applied"},
		{"file removed", func(t *testing.T, dir *migrate.LocalDir, f migrate.File) {
			if err := os.Remove(filepath.Join(dir.Path(), f.Name())); err != nil {
				t.Fatal(err)
			}
		}, "its file is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, target testdb.Target) {
				ctx := context.Background()
				dir := copyDir(t, target.Dialect)
				db := openDB(t, target)
				m := newMigrator(t, db, target.Dialect, dir)
				if _, err := m.Apply(ctx); err != nil {
					t.Fatalf("Apply: %v", err)
				}
				if err := m.Validate(ctx); err != nil {
					t.Fatalf("Validate before the edit: %v", err)
				}
				f := files(t, dir)[0]
				before, err := dir.Checksum()
				if err != nil {
					t.Fatal(err)
				}
				tt.edit(t, dir, f)
				if err := migration.Rehash(dir); err != nil {
					t.Fatal(err)
				}
				after, err := dir.Checksum()
				if err != nil {
					t.Fatal(err)
				}
				if before.Sum() == after.Sum() {
					t.Fatal("the edit did not change the directory checksum")
				}
				if h, err := after.SumByName(f.Name()); err == nil {
					if old, _ := before.SumByName(f.Name()); h == old {
						t.Fatalf("the edit did not change the hash of %s", f.Name())
					}
				}
				if err := migration.ValidateDir(dir); err != nil {
					t.Fatalf("ValidateDir after Rehash: %v", err)
				}
				err = m.Validate(ctx)
				if !errors.Is(err, migration.ErrHistoryChanged) {
					t.Fatalf("Validate = %v, want ErrHistoryChanged", err)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Errorf("Validate = %q, want it to contain %q", err, tt.want)
				}
			})
		})
	}
}

// TestSchemaSQLGolden compares the SQL of the ent schema with the golden
// files; run with -update to rewrite them.
func TestSchemaSQLGolden(t *testing.T) {
	eachDialect(t, func(t *testing.T, d string) {
		got, err := migration.SchemaSQL(context.Background(), devDB(t, d), d)
		if err != nil {
			t.Fatalf("SchemaSQL: %v", err)
		}
		golden := filepath.Join("testdata", "schema."+d+".sql")
		if *update {
			if err := os.MkdirAll("testdata", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("reading golden file (run with -update to create it): %v", err)
		}
		if got != string(want) {
			t.Errorf("SchemaSQL(%s) differs from %s (run with -update if the change is intended):\n%s", d, golden, got)
		}
		for _, s := range []string{"cf_users", "cf_roles", "cf_membership_roles", "cf_users_platform_role"} {
			if !strings.Contains(got, s) {
				t.Errorf("SchemaSQL(%s) does not mention %s", d, s)
			}
		}
		if strings.Contains(got, "INSERT") {
			t.Errorf("SchemaSQL(%s) holds data statements; the built-in roles belong to the first migration only", d)
		}
	})
}

// TestPlan plans into an empty directory (the first file, with the built-in
// roles) and into an up-to-date directory (nothing).
func TestPlan(t *testing.T) {
	eachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		t.Run("empty directory", func(t *testing.T) {
			dir, err := migrate.NewLocalDir(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			name, err := migration.Plan(ctx, devDB(t, d), d, dir, "init")
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if !strings.HasSuffix(name, "_init.sql") {
				t.Fatalf("Plan wrote %q, want a file named VERSION_init.sql", name)
			}
			fs := files(t, dir)
			if len(fs) != 1 || fs[0].Name() != name {
				t.Fatalf("directory holds %v, want only %s", versions(fs), name)
			}
			content := string(fs[0].Bytes())
			seed, err := migration.BuiltinRolesSQL(d)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(content, "\n"+seed) {
				t.Errorf("%s does not end with the built-in roles:\n%s", name, content)
			}
			for _, b := range permission.Builtins {
				if !strings.Contains(content, "INSERT INTO \"cf_roles\"") || !strings.Contains(content, "'"+string(b.ID)+"'") {
					t.Errorf("%s does not insert built-in role %s", name, b.ID)
				}
			}
			if err := migration.ValidateDir(dir); err != nil {
				t.Errorf("ValidateDir after Plan: %v", err)
			}
			if err := migration.CheckDir(ctx, devDB(t, d), d, dir); err != nil {
				t.Errorf("CheckDir of the planned directory: %v", err)
			}
			// While the committed directory has a single file, planning
			// from scratch must reproduce it byte for byte.
			if committed := files(t, committedDir(t, d)); len(committed) == 1 {
				if string(committed[0].Bytes()) != content {
					t.Errorf("planning from scratch differs from the committed %s", committed[0].Name())
				}
			}

			again, err := migration.Plan(ctx, devDB(t, d), d, dir, "again")
			if err != nil || again != "" {
				t.Errorf("second Plan = %q, %v; want \"\", nil", again, err)
			}
			if n := len(files(t, dir)); n != 1 {
				t.Errorf("second Plan left %d files, want 1", n)
			}
		})
		t.Run("up-to-date directory", func(t *testing.T) {
			dir := copyDir(t, d)
			before := files(t, dir)
			sum, err := os.ReadFile(filepath.Join(dir.Path(), migrate.HashFileName))
			if err != nil {
				t.Fatal(err)
			}
			name, err := migration.Plan(ctx, devDB(t, d), d, dir, "nothing")
			if err != nil || name != "" {
				t.Fatalf("Plan = %q, %v; want \"\", nil", name, err)
			}
			if after := files(t, dir); len(after) != len(before) {
				t.Errorf("Plan left %d files, want %d", len(after), len(before))
			}
			sum2, err := os.ReadFile(filepath.Join(dir.Path(), migrate.HashFileName))
			if err != nil || string(sum2) != string(sum) {
				t.Errorf("Plan changed atlas.sum (err %v)", err)
			}
		})
		t.Run("tampered directory", func(t *testing.T) {
			dir := copyDir(t, d)
			if err := dir.WriteFile("99990101000000_extra.sql", []byte("SELECT 1;\n")); err != nil {
				t.Fatal(err)
			}
			if _, err := migration.Plan(ctx, devDB(t, d), d, dir, "x"); !errors.Is(err, migration.ErrDirTampered) {
				t.Errorf("Plan = %v, want ErrDirTampered", err)
			}
		})
	})
}

func TestUnknownDialect(t *testing.T) {
	db := devDB(t, dialect.SQLite)
	dir := &migrate.MemDir{}
	tests := []struct {
		name string
		call func() error
	}{
		{"DirName", func() error { _, err := migration.DirName(dialect.MySQL); return err }},
		{"NewMigrator", func() error { _, err := migration.NewMigrator(db, dialect.MySQL, dir); return err }},
		{"BuiltinRolesSQL", func() error { _, err := migration.BuiltinRolesSQL(dialect.MySQL); return err }},
		{"SchemaSQL", func() error { _, err := migration.SchemaSQL(context.Background(), db, dialect.MySQL); return err }},
		{"CheckDir", func() error { return migration.CheckDir(context.Background(), db, dialect.MySQL, dir) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, migration.ErrUnknownDialect) {
				t.Errorf("%s(mysql) = %v, want ErrUnknownDialect", tt.name, err)
			}
		})
	}
	if _, err := migration.NewMigrator(nil, dialect.SQLite, dir); err == nil {
		t.Error("NewMigrator with a nil database succeeded")
	}
}

// TestEmbeddedDirIsPrivate checks that migrations.Dir returns a directory
// of the caller's own: writing into it must not change what other callers
// get, and concurrent callers must not share state.
func TestEmbeddedDirIsPrivate(t *testing.T) {
	for _, d := range migration.Dialects {
		t.Run(testdb.Target{Dialect: d}.Name(), func(t *testing.T) {
			dir, err := migrations.Dir(d)
			if err != nil {
				t.Fatal(err)
			}
			want := len(files(t, dir))
			if err := dir.WriteFile(badFile, []byte("SELECT 1;\n")); err != nil {
				t.Fatal(err)
			}
			other, err := migrations.Dir(d)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(files(t, other)); n != want {
				t.Errorf("a second migrations.Dir holds %d files, want %d: writes leak between callers", n, want)
			}
			if err := migration.ValidateDir(other); err != nil {
				t.Errorf("a second migrations.Dir is not valid: %v", err)
			}

			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					dir, err := migrations.Dir(d)
					if err != nil {
						t.Error(err)
						return
					}
					if err := migration.ValidateDir(dir); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		})
	}
}

// TestDriftOnEditedDatabase edits a migrated database by hand: Drift must
// name what differs from the ent schema, and leave nothing behind.
func TestDriftOnEditedDatabase(t *testing.T) {
	tests := []struct {
		name string
		edit string
		want []string
	}{
		{"index dropped", `DROP INDEX cf_users_platform_role`, []string{"CREATE INDEX", "cf_users_platform_role"}},
		{"partial index dropped", `DROP INDEX cf_preferences_system_key`, []string{"CREATE UNIQUE INDEX", "cf_preferences_system_key", "'system'"}},
		{"column added", `ALTER TABLE cf_users ADD COLUMN nickname text`, []string{"cf_users"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, target testdb.Target) {
				ctx := context.Background()
				db := openDB(t, target)
				dir, err := migrations.Dir(target.Dialect)
				if err != nil {
					t.Fatal(err)
				}
				m := newMigrator(t, db, target.Dialect, dir)
				if _, err := m.Apply(ctx); err != nil {
					t.Fatalf("Apply: %v", err)
				}
				if _, err := db.ExecContext(ctx, tt.edit); err != nil {
					t.Fatalf("%s: %v", tt.edit, err)
				}
				err = m.Drift(ctx)
				var de *migration.DriftError
				if !errors.As(err, &de) || !errors.Is(err, migration.ErrDrift) {
					t.Fatalf("Drift = %v, want a *DriftError", err)
				}
				t.Logf("drift:\n%s", de.SQL)
				for _, w := range tt.want {
					if !strings.Contains(de.SQL, w) {
						t.Errorf("DriftError.SQL does not contain %q:\n%s", w, de.SQL)
					}
				}
				if target.Dialect == dialect.Postgres {
					var n int
					if err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'cf\_drift\_%' ESCAPE '\'`).Scan(&n); err != nil {
						t.Fatal(err)
					}
					if n != 0 {
						t.Errorf("Drift left %d scratch schemas behind", n)
					}
				}
			})
		})
	}
}
