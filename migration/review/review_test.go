package review_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/cf/identity/graph/schemadiff"
	"github.com/cf/identity/internal/devdb"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/migration"
	"github.com/cf/identity/migration/review"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// dev makes scratch databases: in-memory SQLite, and PostgreSQL databases on
// the server of IDENTITY_TEST_POSTGRES_URL.
func dev(ctx context.Context, d string) (*sql.DB, func(), error) {
	switch d {
	case dialect.SQLite:
		db, err := devdb.SQLite(ctx)
		if err != nil {
			return nil, nil, err
		}
		return db, func() { db.Close() }, nil
	case dialect.Postgres:
		db, _, drop, err := devdb.Postgres(ctx, os.Getenv(testdb.EnvPostgres), "cf_identity_review")
		if err != nil {
			return nil, nil, err
		}
		return db, func() { _ = drop() }, nil
	}
	return nil, nil, errors.New("unknown dialect " + d)
}

func noDrift(context.Context, *sql.DB, string, migrate.Dir) error { return nil }

// golden compares got with testdata file name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (run go test -update and review the diff); got:\n%s", path, got)
	}
}

func readFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string][]byte)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[e.Name()] = b
		}
	}
	return files
}

// memDir returns a directory of files with a matching atlas.sum.
func memDir(t *testing.T, files map[string][]byte) migrate.Dir {
	t.Helper()
	dir := &migrate.MemDir{}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := dir.WriteFile(n, files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := migration.Rehash(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

var testBase = review.Base{Ref: "main", Commit: "0123456789abcdef0123456789abcdef01234567", Note: "compared with the merge base of HEAD and main"}

// TestLintFixtures lints the cases under testdata/lint: each case folder
// holds the files a change adds to (or edits in) testdata/lint/base.
func TestLintFixtures(t *testing.T) {
	tests := []struct {
		name string
		// want lists "CODE" for a failing finding, "CODE allowed" for an
		// allowed one, in file and line order.
		want []string
		// per dialect, when the dialects differ
		wantSQLite, wantPostgres []string
	}{
		{name: "clean"},
		{name: "drop_column", want: []string{"DS103"}},
		{name: "not_null_column", want: []string{"MF103"}},
		{name: "unique_index", want: []string{"MF101"}},
		{name: "edited_applied", want: []string{"CF101"}},
		{name: "allowed", want: []string{"DS103 allowed", "MF101 allowed"}},
		{name: "rename_column", want: []string{"BC102"}},
		{name: "allow_without_reason", want: []string{"CF105", "DS103"}},
		{name: "failing_statement", want: []string{"CF104"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, d := range testdb.Dialects() {
				name, _ := migration.DirName(d)
				t.Run(name, func(t *testing.T) {
					ctx := context.Background()
					base := readFiles(t, filepath.Join("testdata", "lint", "base", name))
					head := readFiles(t, filepath.Join("testdata", "lint", "base", name))
					for n, b := range readFiles(t, filepath.Join("testdata", "lint", tt.name, name)) {
						head[n] = b
					}
					c := review.Checker{Dev: dev, Drift: noDrift}
					r := c.Migrations(ctx, review.DialectInput{Dialect: d, Path: "migrations/" + name, Dir: memDir(t, head), Base: base})
					if r.Err != nil || r.LintErr != nil || r.Sum != nil {
						t.Fatalf("Migrations: err=%v lint=%v sum=%v", r.Err, r.LintErr, r.Sum)
					}
					var got []string
					for _, f := range r.Lint.Findings {
						s := f.Code
						if f.Allowed {
							s += " allowed"
						}
						got = append(got, s)
						t.Logf("%s", f)
					}
					want := tt.want
					if d == dialect.SQLite && tt.wantSQLite != nil {
						want = tt.wantSQLite
					}
					if d == dialect.Postgres && tt.wantPostgres != nil {
						want = tt.wantPostgres
					}
					if strings.Join(got, ",") != strings.Join(want, ",") {
						t.Errorf("findings = %v, want %v", got, want)
					}
					failed := len(r.Problems()) > 0
					wantFail := false
					for _, w := range want {
						wantFail = wantFail || !strings.HasSuffix(w, " allowed")
					}
					if failed != wantFail {
						t.Errorf("failed = %v, want %v; problems: %q", failed, wantFail, r.Problems())
					}
					for _, f := range r.Lint.Findings {
						if f.File == "" || f.Message == "" || f.Dialect != d || (f.Line == 0 && f.Code != review.CodeEditedFile) {
							t.Errorf("incomplete finding %+v", f)
						}
					}
					rep := &review.Report{Base: testBase, Migrations: []*review.DialectReport{r}}
					golden(t, filepath.Join("lint", tt.name, "report."+name+".md"), rep.Markdown())
				})
			}
		})
	}
}

// TestGraphQLFixtures compares each testdata/graphql case (schema.graphql,
// BREAKING.md and the base's BREAKING.base.md) with testdata/graphql/base.graphql.
func TestGraphQLFixtures(t *testing.T) {
	tests := []struct {
		name string
		// breaking lists the unacknowledged breaking coordinates.
		breaking []string
		// acked lists the acknowledged ones.
		acked []string
		fails bool
	}{
		{name: "additions"},
		{name: "removed_field", breaking: []string{"User.nickname"}, fails: true},
		{name: "removed_field_acknowledged", acked: []string{"User.nickname"}},
		{name: "stale_acknowledgement", breaking: []string{"User.nickname"}, fails: true},
		{name: "required_argument", breaking: []string{"Mutation.updateUser(reason:)"}, fails: true},
		{name: "enum_value_removed", breaking: []string{"UserStatus.SUSPENDED"}, fails: true},
		{name: "type_changed", breaking: []string{"User.createdAt", "UserWhereInput.email"}, fails: true},
		{name: "acknowledgement_without_reason", breaking: []string{"User.nickname"}, fails: true},
	}
	read := func(t *testing.T, p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		return b
	}
	base := string(read(t, filepath.Join("testdata", "graphql", "base.graphql")))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join("testdata", "graphql", tt.name)
			head := string(read(t, filepath.Join(dir, "schema.graphql")))
			g := review.CompareGraphQL(
				[]schemadiff.Source{{Name: "schema.graphql", Input: base}},
				[]schemadiff.Source{{Name: "schema.graphql", Input: head}},
				read(t, filepath.Join(dir, "BREAKING.base.md")), read(t, filepath.Join(dir, "BREAKING.md")))
			if g.Err != nil {
				t.Fatal(g.Err)
			}
			var breaking, acked []string
			for _, c := range g.Changes {
				switch {
				case c.Breaking && c.Ack == nil:
					breaking = append(breaking, c.Coordinate)
				case c.Breaking:
					acked = append(acked, c.Coordinate)
				}
			}
			if strings.Join(breaking, ",") != strings.Join(tt.breaking, ",") || strings.Join(acked, ",") != strings.Join(tt.acked, ",") {
				t.Errorf("breaking = %v, acknowledged = %v; want %v, %v", breaking, acked, tt.breaking, tt.acked)
			}
			if got := len(g.Problems()) > 0; got != tt.fails {
				t.Errorf("fails = %v, want %v: %q", got, tt.fails, g.Problems())
			}
			rep := &review.Report{Base: testBase, GraphQL: g}
			golden(t, filepath.Join("graphql", tt.name, "report.md"), rep.Markdown())
		})
	}
}

// TestLintHistory covers the findings about files of the base: removed,
// and new files that sort before them.
func TestLintHistory(t *testing.T) {
	ctx := context.Background()
	base := readFiles(t, filepath.Join("testdata", "lint", "base", "sqlite"))
	later := "-- Add column \"nickname2\"\nALTER TABLE `cf_users` ADD COLUMN `nickname2` text NULL;\n"
	tests := []struct {
		name string
		base map[string][]byte
		head map[string][]byte
		want []string
	}{
		{"removed", map[string][]byte{"20260101000000_base.sql": base["20260101000000_base.sql"], "20260102000000_more.sql": []byte(later)},
			base, []string{"CF102"}},
		{"out of order", map[string][]byte{"20260101000000_base.sql": base["20260101000000_base.sql"], "20260301000000_more.sql": []byte(later)},
			map[string][]byte{"20260101000000_base.sql": base["20260101000000_base.sql"], "20260301000000_more.sql": []byte(later),
				"20260201000000_late.sql": []byte("CREATE INDEX `cf_users_locale` ON `cf_users` (`locale`);\n")}, []string{"CF103"}},
		{"no base: everything is new", nil, base, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, done, err := dev(ctx, dialect.SQLite)
			if err != nil {
				t.Fatal(err)
			}
			defer done()
			res, err := review.Lint(ctx, db, dialect.SQLite, memDir(t, tt.head), review.LintOptions{Base: tt.base, Path: "m"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range res.Findings {
				got = append(got, f.Code)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("findings = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestReportGolden renders a report with every kind of problem: a stale
// atlas.sum, a drift, lint findings, a directory that could not be checked
// and GraphQL changes.
func TestReportGolden(t *testing.T) {
	ctx := context.Background()
	head := readFiles(t, filepath.Join("testdata", "lint", "base", "sqlite"))
	for n, b := range readFiles(t, filepath.Join("testdata", "lint", "drop_column", "sqlite")) {
		head[n] = b
	}
	dir := memDir(t, head)
	if err := dir.WriteFile("20260301000000_unhashed.sql", []byte("CREATE INDEX `cf_users_locale` ON `cf_users` (`locale`);\n")); err != nil {
		t.Fatal(err)
	}
	drift := func(context.Context, *sql.DB, string, migrate.Dir) error {
		return &migration.DriftError{Dialect: dialect.SQLite, Subject: "migration directory", SQL: "-- Add column \"nickname\" to table: \"cf_users\"\nALTER TABLE `cf_users` ADD COLUMN `nickname` text NULL;\n"}
	}
	c := review.Checker{Dev: dev, Drift: drift}
	sqliteReport := c.Migrations(ctx, review.DialectInput{Dialect: dialect.SQLite, Path: "migrations/sqlite", Dir: dir,
		Base: readFiles(t, filepath.Join("testdata", "lint", "base", "sqlite"))})
	pg := &review.DialectReport{Dialect: dialect.Postgres, Path: "migrations/postgres",
		Err: errors.New("creating a scratch PostgreSQL database (set --dev-postgres-url): connection refused")}
	base := string(readFileT(t, filepath.Join("testdata", "graphql", "base.graphql")))
	g := review.CompareGraphQL([]schemadiff.Source{{Name: "schema.graphql", Input: base}},
		[]schemadiff.Source{{Name: "schema.graphql", Input: string(readFileT(t, filepath.Join("testdata", "graphql", "additions", "schema.graphql")))}},
		nil, nil)
	rep := &review.Report{Base: testBase, Migrations: []*review.DialectReport{sqliteReport, pg}, GraphQL: g}
	if !rep.Failed() || len(rep.Problems()) != 4 {
		t.Errorf("problems = %q, want 4: sum, drift, DS103, postgres", rep.Problems())
	}
	golden(t, "report.golden.md", rep.Markdown())
	noBase := &review.Report{Base: review.Base{Note: "git is not installed: every migration file is linted and the GraphQL schema is not compared"},
		Migrations: []*review.DialectReport{sqliteReport}, GraphQL: &review.GraphQLReport{Path: "graph", Skipped: "git is not installed"}}
	golden(t, "report_nobase.golden.md", noBase.Markdown())
}

func readFileT(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
