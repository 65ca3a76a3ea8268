package review_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/migration"
	"github.com/cf/identity/migration/review"
	"github.com/cf/identity/migrations"
)

// gitRepo makes a git work tree with a commit on main holding the lint and
// GraphQL base fixtures as migrations/ and graph/, and returns its root.
func gitRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root := t.TempDir()
	runGit(t, root, "init", "-q", "-b", "main")
	for _, d := range []string{"sqlite", "postgres"} {
		if err := os.CopyFS(filepath.Join(root, "migrations", d), os.DirFS(filepath.Join("testdata", "lint", "base", d))); err != nil {
			t.Fatal(err)
		}
		ld, err := migrate.NewLocalDir(filepath.Join(root, "migrations", d))
		if err != nil {
			t.Fatal(err)
		}
		if err := migration.Rehash(ld); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(root, "graph", "schema.graphql"), readFile(t, filepath.Join("testdata", "graphql", "base.graphql")))
	writeFile(t, filepath.Join(root, "graph", "BREAKING.md"), "# Breaking changes of the GraphQL API\n\n")
	runGit(t, root, "add", ".")
	runGit(t, root, "commit", "-q", "-m", "base")
	return root
}

func runGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// addCase copies the files of a lint fixture case into the repository's
// migration directories and rehashes them, as `identity migrate hash` does.
func addCase(t *testing.T, root, name string) {
	t.Helper()
	for _, d := range []string{"sqlite", "postgres"} {
		src := filepath.Join("testdata", "lint", name, d)
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			writeFile(t, filepath.Join(root, "migrations", d, e.Name()), readFile(t, filepath.Join(src, e.Name())))
		}
		ld, err := migrate.NewLocalDir(filepath.Join(root, "migrations", d))
		if err != nil {
			t.Fatal(err)
		}
		if err := migration.Rehash(ld); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFindBase(t *testing.T) {
	ctx := context.Background()
	root := gitRepo(t)
	if b := review.FindBase(ctx, filepath.Join(root, "migrations"), ""); !b.Available() || b.Ref != "main" {
		t.Errorf("default base on main = %+v, want the merge base with main", b)
	}
	runGit(t, root, "checkout", "-q", "-b", "feature")
	writeFile(t, filepath.Join(root, "x.txt"), "x")
	runGit(t, root, "add", ".")
	runGit(t, root, "commit", "-q", "-m", "feature")
	main := review.FindBase(ctx, filepath.Join(root, "migrations"), "")
	head := review.FindBase(ctx, filepath.Join(root, "migrations"), "HEAD")
	if !main.Available() || !head.Available() || main.Commit == head.Commit {
		t.Errorf("merge base = %+v, HEAD = %+v; want two different commits", main, head)
	}
	if b := review.FindBase(ctx, filepath.Join(root, "migrations"), "no-such-branch"); b.Available() || !strings.Contains(b.Note, "not a commit") {
		t.Errorf("unknown ref = %+v, want no base with a note", b)
	}
	if b := review.FindBase(ctx, t.TempDir(), ""); b.Available() || !strings.Contains(b.Note, "not in a git work tree") {
		t.Errorf("outside git = %+v, want no base with a note", b)
	}
	// A repository without main.
	other := t.TempDir()
	runGit(t, other, "init", "-q", "-b", "trunk")
	writeFile(t, filepath.Join(other, "a"), "a")
	runGit(t, other, "add", ".")
	runGit(t, other, "commit", "-q", "-m", "a")
	if b := review.FindBase(ctx, other, ""); b.Available() || !strings.Contains(b.Note, "no main branch") {
		t.Errorf("without main = %+v, want no base with a note", b)
	}
	files, err := main.ReadDir(ctx, filepath.Join(root, "migrations", "sqlite"), ".sql")
	if err != nil || len(files) != 1 || files["20260101000000_base.sql"] == nil {
		t.Errorf("ReadDir = %v, %v; want the base file", files, err)
	}
	if files, err := main.ReadDir(ctx, filepath.Join(root, "nope"), ".sql"); err != nil || len(files) != 0 {
		t.Errorf("ReadDir of a missing folder = %v, %v; want nothing", files, err)
	}
	if _, ok, err := main.ReadFile(ctx, filepath.Join(root, "x.txt")); ok || err != nil {
		t.Errorf("ReadFile of a file added later = %v, %v; want not found", ok, err)
	}
	if b, ok, err := main.ReadFile(ctx, filepath.Join(root, "graph", "BREAKING.md")); !ok || err != nil || !strings.HasPrefix(string(b), "# Breaking") {
		t.Errorf("ReadFile = %q, %v, %v", b, ok, err)
	}
}

// TestRun reviews branches of a git repository as CI does: the gate fails
// on a dropped column, on a removed GraphQL field and on an edited applied
// migration, and passes once they are allowed or acknowledged.
func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(t *testing.T, root string)
		fails []string // substrings of the problems, in order; nil: passes
	}{
		{"nothing changed", func(*testing.T, string) {}, nil},
		{"clean change", func(t *testing.T, root string) { addCase(t, root, "clean") }, nil},
		{"dropped column", func(t *testing.T, root string) { addCase(t, root, "drop_column") }, []string{"DS103", "DS103"}},
		{"dropped column allowed", func(t *testing.T, root string) { addCase(t, root, "allowed") }, nil},
		{"edited applied migration", func(t *testing.T, root string) { addCase(t, root, "edited_applied") }, []string{"CF101", "CF101"}},
		{"edited migration without rehash", func(t *testing.T, root string) {
			p := filepath.Join(root, "migrations", "sqlite", "20260101000000_base.sql")
			writeFile(t, p, readFile(t, p)+"-- edited\n")
		}, []string{"does not match atlas.sum", "CF101"}},
		{"removed GraphQL field", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "graph", "schema.graphql"), readFile(t, filepath.Join("testdata", "graphql", "removed_field", "schema.graphql")))
		}, []string{"graphql: breaking change User.nickname: field removed"}},
		{"removed GraphQL field acknowledged", func(t *testing.T, root string) {
			writeFile(t, filepath.Join(root, "graph", "schema.graphql"), readFile(t, filepath.Join("testdata", "graphql", "removed_field", "schema.graphql")))
			p := filepath.Join(root, "graph", "BREAKING.md")
			writeFile(t, p, readFile(t, p)+"- `User.nickname` removed: deprecated since v1.4, unused\n")
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			root := gitRepo(t)
			runGit(t, root, "checkout", "-q", "-b", "change")
			tt.edit(t, root)
			runGit(t, root, "add", ".")
			runGit(t, root, "commit", "-q", "--allow-empty", "-m", "change")
			base := review.FindBase(ctx, filepath.Join(root, "migrations"), "")
			if !base.Available() {
				t.Fatalf("no base: %s", base.Note)
			}
			rep, err := review.Run(ctx, review.Config{
				MigrationsDir: filepath.Join(root, "migrations"),
				Dialects:      testdb.Dialects(),
				GraphQLDir:    filepath.Join(root, "graph"),
				Base:          base,
				Checker:       review.Checker{Dev: dev, Drift: noDrift},
			})
			if err != nil {
				t.Fatal(err)
			}
			problems := rep.Problems()
			want := tt.fails
			if len(testdb.Dialects()) == 1 && len(want) == 2 && strings.HasPrefix(want[0], want[1][:2]) {
				want = want[:1] // the same finding for each dialect
			}
			if len(problems) != len(want) {
				t.Fatalf("problems = %d, want %d:\n%s", len(problems), len(want), strings.Join(problems, "\n"))
			}
			for i, w := range want {
				if !strings.Contains(problems[i], w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, problems[i], w)
				}
			}
			md := rep.Markdown()
			if rep.Failed() != strings.Contains(md, "❌ **Not ready to merge") {
				t.Errorf("report headline does not match Failed() = %v:\n%s", rep.Failed(), md)
			}
		})
	}
}

// TestCommittedMigrationsLintClean lints every committed migration file as
// if there were no base: the history itself must pass.
func TestCommittedMigrationsLintClean(t *testing.T) {
	for _, d := range testdb.Dialects() {
		t.Run(testdb.Target{Dialect: d}.Name(), func(t *testing.T) {
			ctx := context.Background()
			dir, err := migrations.Dir(d)
			if err != nil {
				t.Fatal(err)
			}
			db, done, err := dev(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			defer done()
			res, err := review.Lint(ctx, db, d, dir, review.LintOptions{Path: "migrations"})
			if err != nil {
				t.Fatal(err)
			}
			files, _ := dir.Files()
			if len(res.New) != len(files) {
				t.Errorf("linted %d files, want all %d", len(res.New), len(files))
			}
			for _, f := range res.Failed() {
				t.Errorf("committed migration fails lint: %s", f)
			}
			if len(res.Changes) == 0 {
				t.Error("no schema change described for the whole history")
			}
		})
	}
}

// TestStaleMigrations is the drift gate with the real ent schema: the
// committed directories pass, and a directory with a change the ent schema
// does not have fails with the SQL that is missing.
func TestStaleMigrations(t *testing.T) {
	for _, d := range testdb.Dialects() {
		t.Run(testdb.Target{Dialect: d}.Name(), func(t *testing.T) {
			ctx := context.Background()
			committed, err := migrations.Dir(d)
			if err != nil {
				t.Fatal(err)
			}
			c := review.Checker{Dev: dev}
			r := c.Migrations(ctx, review.DialectInput{Dialect: d, Path: "migrations", Dir: committed})
			if p := r.Problems(); len(p) != 0 {
				t.Fatalf("committed directory: %q", p)
			}
			files, _ := committed.Files()
			stale := map[string][]byte{}
			for _, f := range files {
				stale[f.Name()] = f.Bytes()
			}
			name, _ := migration.DirName(d)
			extra := filepath.Join("..", "testdata", "upgrade", name, "20990101000000_add_nickname.sql")
			stale["20990101000000_add_nickname.sql"] = []byte(readFile(t, extra))
			r = c.Migrations(ctx, review.DialectInput{Dialect: d, Path: "migrations", Dir: memDir(t, stale)})
			var de *migration.DriftError
			if !errors.As(r.Drift, &de) || len(r.Problems()) != 1 || !strings.Contains(r.Problems()[0], "differs from the ent schema") {
				t.Fatalf("stale directory: drift = %v, problems = %q", r.Drift, r.Problems())
			}
			// The fixture file is dated 2099, after the file the drift check
			// plans: the missing SQL must still be the plan, not the file.
			if strings.Contains(de.SQL, "ADD COLUMN") {
				t.Errorf("drift SQL is the fixture file, not the missing SQL:\n%s", de.SQL)
			}
			if d == dialect.Postgres && !strings.Contains(de.SQL, `DROP COLUMN "nickname"`) {
				t.Errorf("drift SQL does not drop the column:\n%s", de.SQL)
			}
			if d == dialect.SQLite && !strings.Contains(de.SQL, "CREATE TABLE `new_cf_users`") {
				t.Errorf("drift SQL does not rebuild cf_users without the column:\n%s", de.SQL)
			}
			if !strings.Contains(r.Problems()[0], "cf_users") {
				t.Errorf("problem does not show the missing SQL: %s", r.Problems()[0])
			}
		})
	}
}
