package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cf/identity/internal/testdb"
)

// checkRun runs `identity migrate check` with args on the dialects of the
// test run and returns its exit code and output.
func checkRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	args = append([]string{"migrate", "check", "--dialects", strings.Join(testdb.Dialects(), ",")}, args...)
	if server := os.Getenv(testdb.EnvPostgres); server != "" {
		args = append(args, "--dev-postgres-url", server)
	}
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// clearCheckEnv unsets the variables migrate check reads.
func clearCheckEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{"IDENTITY_MIGRATIONS_DIR", "IDENTITY_DEV_POSTGRES_URL", "IDENTITY_REVIEW_BASE"} {
		t.Setenv(v, "")
	}
}

func gitCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// gateRepo makes a git repository whose main branch holds the committed
// migrations and GraphQL schema plus graph/probe.graphql (a field the tests
// remove), and checks out a branch "change" from it.
func gateRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	root := t.TempDir()
	for _, d := range []string{"sqlite", "postgres"} {
		if err := os.CopyFS(filepath.Join(root, "migrations", d), os.DirFS(filepath.Join("..", "..", "migrations", d))); err != nil {
			t.Fatal(err)
		}
	}
	schemas, err := filepath.Glob(filepath.Join("..", "..", "graph", "*.graphql"))
	if err != nil || len(schemas) == 0 {
		t.Fatalf("no GraphQL schema: %v", err)
	}
	for _, s := range append(schemas, filepath.Join("..", "..", "graph", "BREAKING.md")) {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, filepath.Join(root, "graph", filepath.Base(s)), string(b))
	}
	writeTestFile(t, filepath.Join(root, "graph", "probe.graphql"), "extend type Query {\n  probe: String\n}\n")
	gitCmd(t, root, "init", "-q", "-b", "main")
	gitCmd(t, root, "add", ".")
	gitCmd(t, root, "commit", "-q", "-m", "base")
	gitCmd(t, root, "checkout", "-q", "-b", "change")
	return root
}

func writeTestFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateCheckGate proves the CI gate on a branch of a git repository:
// it fails on a migration dropping a column, on a migration the ent schema
// does not have, and on an unacknowledged breaking GraphQL change; the
// report is written in every case.
func TestMigrateCheckGate(t *testing.T) {
	clearCheckEnv(t)
	dropPhone := map[string]string{
		"sqlite":   "-- Drop column \"phone\" of \"cf_users\"\nALTER TABLE `cf_users` DROP COLUMN `phone`;\n",
		"postgres": "-- Drop column \"phone\" of \"cf_users\"\nALTER TABLE \"cf_users\" DROP COLUMN \"phone\";\n",
	}
	tests := []struct {
		name       string
		edit       func(t *testing.T, root string)
		code       int
		wantStderr []string
		wantReport []string
	}{
		{"no change", func(*testing.T, string) {}, 0, nil,
			[]string{"✅ **No problem found.**", "No migration file added.", "### GraphQL schema", "No change."}},
		{"dropped column", func(t *testing.T, root string) {
			for d, sql := range dropPhone {
				writeTestFile(t, filepath.Join(root, "migrations", d, "20991231000000_drop_phone.sql"), sql)
			}
			if code, _, stderr := checkHash(t, root); code != 0 {
				t.Fatalf("migrate hash: %s", stderr)
			}
		}, 1,
			[]string{"migrate check failed", "20991231000000_drop_phone.sql:2: DS103: Dropping non-virtual column \"phone\" of table \"cf_users\"", "cf:allow DS103 reason:", "differs from the ent schema"},
			[]string{"❌ **Not ready to merge", "| ➖ dropped | column | `cf_users.phone` |", "| ❌ | `", "DS103", "❌ **Drift**"}},
		{"stale migrations", func(t *testing.T, root string) {
			writeTestFile(t, filepath.Join(root, "migrations", "sqlite", "20991231000000_add_nickname.sql"), "ALTER TABLE `cf_users` ADD COLUMN `nickname` text NULL;\n")
			writeTestFile(t, filepath.Join(root, "migrations", "postgres", "20991231000000_add_nickname.sql"), "ALTER TABLE \"cf_users\" ADD COLUMN \"nickname\" character varying NULL;\n")
			if code, _, stderr := checkHash(t, root); code != 0 {
				t.Fatalf("migrate hash: %s", stderr)
			}
		}, 1, []string{"migration directory differs from the ent schema; missing:"}, []string{"❌ **Drift**", "```sql"}},
		{"unhashed migration", func(t *testing.T, root string) {
			writeTestFile(t, filepath.Join(root, "migrations", "sqlite", "20991231000000_x.sql"), "SELECT 1;\n")
		}, 1, []string{"does not match atlas.sum", "identity migrate hash"}, []string{"❌ does not match the files"}},
		{"removed GraphQL field", func(t *testing.T, root string) {
			if err := os.Remove(filepath.Join(root, "graph", "probe.graphql")); err != nil {
				t.Fatal(err)
			}
		}, 1, []string{"graphql: breaking change Query.probe: field removed"},
			[]string{"| ❌ not acknowledged | `Query.probe` | field removed (was String) |"}},
		{"removed GraphQL field acknowledged", func(t *testing.T, root string) {
			if err := os.Remove(filepath.Join(root, "graph", "probe.graphql")); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(root, "graph", "BREAKING.md")
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			writeTestFile(t, p, string(b)+"- `Query.probe` removed: a test field no client ever used\n")
		}, 0, nil, []string{"| ✅ acknowledged | `Query.probe` |", "Reason: removed: a test field no client ever used"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := gateRepo(t)
			tt.edit(t, root)
			gitCmd(t, root, "add", ".")
			gitCmd(t, root, "commit", "-q", "--allow-empty", "-m", "change")
			report := filepath.Join(t.TempDir(), "report.md")
			code, stdout, stderr := checkRun(t, "--dir", filepath.Join(root, "migrations"), "--report", report)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			if !strings.Contains(stdout, "base: compared with the merge base of HEAD and main") {
				t.Errorf("stdout does not name the base:\n%s", stdout)
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
			if tt.code == 0 && stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
			for _, bad := range []string{"panic", "goroutine ", ".go:"} {
				if strings.Contains(stderr, bad) {
					t.Errorf("stderr contains %q:\n%s", bad, stderr)
				}
			}
			b, err := os.ReadFile(report)
			if err != nil {
				t.Fatalf("no report: %v", err)
			}
			for _, w := range tt.wantReport {
				if !strings.Contains(string(b), w) {
					t.Errorf("report does not contain %q:\n%s", w, b)
				}
			}
		})
	}
}

func checkHash(t *testing.T, root string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"migrate", "hash", "--dir", filepath.Join(root, "migrations")}, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestMigrateCheckWithoutGit checks a copy of the committed migrations
// outside any git repository: every file is linted, and the history passes.
func TestMigrateCheckWithoutGit(t *testing.T) {
	clearCheckEnv(t)
	root := t.TempDir()
	for _, d := range []string{"sqlite", "postgres"} {
		if err := os.CopyFS(filepath.Join(root, "migrations", d), os.DirFS(filepath.Join("..", "..", "migrations", d))); err != nil {
			t.Fatal(err)
		}
	}
	report := filepath.Join(root, "report.md")
	code, stdout, stderr := checkRun(t, "--dir", filepath.Join(root, "migrations"), "--report", report)
	if code != 0 || stderr != "" {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, w := range []string{"is not in a git work tree: every migration file is linted", "graphql: not compared: no ", "0 finding(s) to fix"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("stdout does not contain %q:\n%s", w, stdout)
		}
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "| ➕ added | table | `cf_users` |") {
		t.Errorf("report does not list the tables of the history:\n%s", b)
	}
}

func TestMigrateCheckUsage(t *testing.T) {
	clearCheckEnv(t)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"migrate", "check", "-h"}, &out, &errOut); code != 0 {
		t.Fatalf("exit code %d: %s", code, errOut.String())
	}
	if errOut.Len() != 0 {
		t.Errorf("help wrote to stderr: %s", errOut.String())
	}
	for _, w := range []string{"-base", "-report", "-graphql-dir", "-dialects", "BREAKING.md", "allow comment"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("help does not mention %q:\n%s", w, out.String())
		}
	}
	if code := run(context.Background(), []string{"migrate", "check", "--dialects", "mysql"}, &out, &errOut); code != 2 {
		t.Errorf("--dialects mysql: exit code %d, want 2", code)
	}
}
