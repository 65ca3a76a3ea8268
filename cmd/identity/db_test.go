package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/storage"
)

// TestDBCreateRole creates the application role on a migrated PostgreSQL
// database and checks that row-level security applies to it: not a
// superuser, no BYPASSRLS, owns nothing, sees no user without settings;
// and the refusals: SQLite, a superuser's name, a malformed name.
func TestDBCreateRole(t *testing.T) {
	clearEnv(t)
	sqlite := "sqlite://" + filepath.Join(t.TempDir(), "x.db")
	if code := run(context.Background(), []string{"db", "create-role", "--database-url", sqlite}, &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Errorf("db create-role on SQLite: exit %d, want 2", code)
	}
	if os.Getenv(testdb.EnvPostgres) == "" {
		t.Skipf("the role is PostgreSQL's: set %s", testdb.EnvPostgres)
	}
	target := testdb.New(t, dialect.Postgres)
	ctx := context.Background()
	if _, err := migrations.Apply(ctx, target.URL); err != nil {
		t.Fatal(err)
	}
	owner, _, err := storage.OpenDB(ctx, target.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { owner.Close() })
	var db string
	if err := owner.QueryRow("SELECT current_database()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	role := db + "_cli"
	t.Cleanup(func() {
		_, _ = owner.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
		_, _ = owner.Exec("DROP OWNED BY " + role)
		_, _ = owner.Exec("DROP ROLE IF EXISTS " + role)
	})
	cases := []struct {
		name  string
		role  string
		stdin string
		code  int
		err   string
	}{
		{"new role, with a password", role, "s3cret-pass\n", 0, ""},
		{"again: grants only", role, "", 0, ""},
		{"a superuser", "postgres", "", 1, "bypasses row-level security"},
		{"a malformed name", "Robert'); DROP TABLE cf_users;--", "", 1, "bad role name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"db", "create-role", "--database-url", target.URL, "--name", c.role}
			if c.stdin != "" {
				args = append(args, "--password-stdin")
			}
			old := stdin
			stdin = strings.NewReader(c.stdin)
			t.Cleanup(func() { stdin = old })
			var out, errOut bytes.Buffer
			if code := run(ctx, args, &out, &errOut); code != c.code || !strings.Contains(errOut.String(), c.err) {
				t.Fatalf("exit %d (%s%s), want %d with %q", code, out.String(), errOut.String(), c.code, c.err)
			}
		})
	}
	var super, bypass bool
	var owns int
	if err := owner.QueryRow(`SELECT rolsuper, rolbypassrls, (SELECT count(*) FROM pg_class WHERE relowner = r.oid) FROM pg_roles r WHERE rolname = $1`, role).Scan(&super, &bypass, &owns); err != nil {
		t.Fatal(err)
	}
	if super || bypass || owns != 0 {
		t.Errorf("role %s: superuser %v, BYPASSRLS %v, owns %d relations; want none", role, super, bypass, owns)
	}
	app, _, err := storage.OpenDB(ctx, strings.Replace(target.URL, "postgres@", role+"@", 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	var n int
	if err := app.QueryRow("SELECT count(*) FROM cf_users").Scan(&n); err != nil || n != 0 {
		t.Errorf("as %s without settings: %d users (%v), want 0", role, n, err)
	}
	if _, err := app.Exec("CREATE TABLE cf_evil (id int)"); err == nil {
		t.Errorf("as %s: CREATE TABLE succeeded, want permission denied", role)
	}
}
