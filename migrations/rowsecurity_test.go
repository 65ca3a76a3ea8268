package migrations_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/storage"
)

var update = flag.Bool("update", false, "rewrite testdata/row_security.golden")

// noRowSecurity are the cf_ tables without row-level security: they hold
// no tenant or user rows.
var noRowSecurity = map[string]bool{"cf_schema_revisions": true}

// TestRowSecurityPolicies is the review of the row-level security of the
// postgres migrations, which ent's schema diff (and so `migrate check`)
// does not see: every cf_ table but those of noRowSecurity has row-level
// security enabled and forced, and the policies and the table flags, as
// PostgreSQL reports them (pg_policies, pg_class), are those of
// testdata/row_security.golden. A change of the policies shows in the
// golden file's diff; rewrite it with -update.
func TestRowSecurityPolicies(t *testing.T) {
	if os.Getenv(testdb.EnvPostgres) == "" {
		t.Skipf("row-level security is PostgreSQL's: set %s", testdb.EnvPostgres)
	}
	target := testdb.New(t, dialect.Postgres)
	ctx := context.Background()
	if _, err := migrations.Apply(ctx, target.URL); err != nil {
		t.Fatal(err)
	}
	db, _, err := storage.OpenDB(ctx, target.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var b strings.Builder
	rows, err := db.QueryContext(ctx, `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname LIKE 'cf\_%' ORDER BY c.relname`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var enabled, forced bool
		if err := rows.Scan(&name, &enabled, &forced); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "table %s enabled=%v forced=%v\n", name, enabled, forced)
		if !noRowSecurity[name] && (!enabled || !forced) {
			t.Errorf("table %s: row-level security enabled=%v forced=%v, want both (or list it in noRowSecurity, with the reason)", name, enabled, forced)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT tablename, policyname, permissive, array_to_string(roles, ','), cmd, coalesce(qual, ''), coalesce(with_check, '')
		FROM pg_policies WHERE schemaname = current_schema() ORDER BY tablename, policyname`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var table, name, permissive, roles, cmd, qual, check string
		if err := rows.Scan(&table, &name, &permissive, &roles, &cmd, &qual, &check); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "\npolicy %s.%s %s %s to %s\n  using: %s\n  check: %s\n", table, name, cmd, permissive, roles, qual, check)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	// The guards of the tenant columns.
	rows, err = db.QueryContext(ctx, `SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
		WHERE NOT t.tgisinternal AND c.relname LIKE 'cf\_%' ORDER BY c.relname, t.tgname`)
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString("\n")
	for rows.Next() {
		var def string
		if err := rows.Scan(&def); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s\n", def)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	// The functions the policies and triggers call.
	rows, err = db.QueryContext(ctx, `SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = current_schema() AND p.proname LIKE 'cf\_rls\_%' ORDER BY p.proname`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var def string
		if err := rows.Scan(&def); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "\n%s", def)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	golden := filepath.Join("testdata", "row_security.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != b.String() {
		t.Errorf("the row-level security of the migrations differs from %s (rewrite it with -update after an intended change, and review the diff):\n%s", golden, b.String())
	}
}
