package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/apikey"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/storage"
)

// envVars are the variables the command reads; tests start with all unset.
var envVars = []string{
	"IDENTITY_DB_ROLE", "IDENTITY_DB_ROLE_PASSWORD_STDIN",
	"IDENTITY_DATABASE_URL", "IDENTITY_ADDR", "IDENTITY_LOG_FORMAT", "IDENTITY_LOG_LEVEL",
	"IDENTITY_NO_MIGRATE", "IDENTITY_MIGRATE", "IDENTITY_SHUTDOWN_TIMEOUT", "IDENTITY_MAX_HEADER_BYTES",
	"IDENTITY_EMAIL_ALLOW_MIXED_SCRIPTS", "IDENTITY_EMAIL_ALLOW_IP_LITERALS",
	"IDENTITY_BOOTSTRAP_EMAIL", "IDENTITY_BOOTSTRAP_NAME", "IDENTITY_MIGRATIONS_DIR", "IDENTITY_DEV_POSTGRES_URL",
	"IDENTITY_REVIEW_BASE", "IDENTITY_REVIEW_REPORT", "IDENTITY_GRAPHQL_DIR", "IDENTITY_REVIEW_DIALECTS", "IDENTITY_SCHEMA_DIALECT",
	"IDENTITY_CORS_ORIGINS", "IDENTITY_MAX_BODY_BYTES", "IDENTITY_REQUEST_TIMEOUT", "IDENTITY_AUTH_FAILURE_LIMIT", "IDENTITY_AUTH_FAILURE_WINDOW",
	"IDENTITY_COMPLEXITY_LIMIT", "IDENTITY_DEPTH_LIMIT", "IDENTITY_ALIAS_LIMIT", "IDENTITY_FRAGMENT_LIMIT", "IDENTITY_FIELD_LIMIT", "IDENTITY_TOKEN_LIMIT",
	"IDENTITY_NODES_LIMIT", "IDENTITY_LIST_LIMIT", "IDENTITY_INPUT_DEPTH_LIMIT", "IDENTITY_INPUT_FIELD_LIMIT", "IDENTITY_NO_INTROSPECTION",
	"IDENTITY_AUTH_RATE_IP", "IDENTITY_AUTH_RATE_ACCOUNT",
	"IDENTITY_MASTER_KEY", "IDENTITY_MASTER_KEY_FILE", "IDENTITY_TOKEN_ISSUER", "IDENTITY_TOKEN_AUDIENCE", "IDENTITY_ACCESS_TOKEN_TTL",
	"IDENTITY_SESSION_IDLE_TTL", "IDENTITY_SESSION_TTL", "IDENTITY_REFRESH_GRACE", "IDENTITY_MAX_FAILED_LOGINS", "IDENTITY_LOCK_TIME",
	"IDENTITY_MAX_LOCK_TIME", "IDENTITY_PASSWORD_MIN_LENGTH", "IDENTITY_ARGON2_MEMORY_KIB", "IDENTITY_ARGON2_TIME", "IDENTITY_ARGON2_THREADS", "IDENTITY_ARGON2_CONCURRENCY",
	"IDENTITY_IMPERSONATION_TTL", "IDENTITY_MAX_IMPERSONATION_TTL", "IDENTITY_RESEAL_BATCH", "IDENTITY_RESEAL_ONLY",
	"IDENTITY_PUBLIC_URL", "IDENTITY_SMTP_URL", "IDENTITY_MAIL_FROM", "IDENTITY_MAIL_TEMPLATES", "IDENTITY_SIGNUP", "IDENTITY_INVITATIONS",
	"IDENTITY_PASSWORD_RESET", "IDENTITY_INVITATION_TTL", "IDENTITY_PASSWORD_RESET_TTL", "IDENTITY_VERIFY_EMAIL_TTL",
	"IDENTITY_USER_EMAIL", "IDENTITY_USER_NAME", "IDENTITY_USER_STATUS", "IDENTITY_USER_PASSWORD_STDIN",
	"IDENTITY_ACTIVITY_PLATFORM_DATA", "IDENTITY_ACTIVITY_RETENTION", "IDENTITY_ACTIVITY_PRUNE_BATCH", "IDENTITY_PREFERENCE_SCHEMAS",
	"IDENTITY_METRICS_ADDR", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_PROPAGATORS",
}

// testMasterKey is the master key of tests that do not test the key file.
const testMasterKey = "dGVzdCBtYXN0ZXIga2V5IC0gMzIgYnl0ZXMgb3IgbW9yZSEhIQ=="

func clearEnv(t *testing.T) {
	t.Helper()
	for _, v := range envVars {
		t.Setenv(v, "")
	}
	// A PostgreSQL database needs a master key; the key file beside an
	// SQLite database has tests of its own (signin_test.go).
	t.Setenv("IDENTITY_MASTER_KEY", testMasterKey)
}

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cli runs the command with args and returns its exit code and output.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// assertClean fails when stderr shows a panic, a stack trace or a password.
func assertClean(t *testing.T, stderr string) {
	t.Helper()
	for _, bad := range []string{"s3cret", "panic", "goroutine ", ".go:"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr contains %q:\n%s", bad, stderr)
		}
	}
}

func sqliteURL(t *testing.T) string {
	t.Helper()
	return "sqlite://" + filepath.Join(t.TempDir(), "x.db")
}

func TestUsage(t *testing.T) {
	clearEnv(t)
	db := sqliteURL(t)
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStdout []string
		wantStderr []string
		env        map[string]string
	}{
		{"--help", []string{"--help"}, 0, []string{"Usage:", "identity serve", "identity migrate check"}, nil, nil},
		{"help", []string{"help"}, 0, []string{"Usage:", "identity bootstrap"}, nil, nil},
		{"-h", []string{"-h"}, 0, []string{"Usage:"}, nil, nil},
		{"no command", nil, 2, nil, []string{"Usage:"}, nil},
		{"unknown command", []string{"frobnicate"}, 2, nil, []string{`unknown command "frobnicate"`, "Usage:"}, nil},
		{"migrate without subcommand", []string{"migrate"}, 2, nil, []string{"migrate needs a subcommand", "identity migrate -h"}, nil},
		{"migrate -h", []string{"migrate", "-h"}, 0, []string{"Usage: identity migrate SUBCOMMAND", "apply", "check", "identity migrate SUBCOMMAND -h"}, nil, nil},
		{"migrate --help", []string{"migrate", "--help"}, 0, []string{"Usage: identity migrate SUBCOMMAND"}, nil, nil},
		{"migrate help", []string{"migrate", "help"}, 0, []string{"Usage: identity migrate SUBCOMMAND"}, nil, nil},
		{"version", []string{"version"}, 0, []string{"identity ", "revision: "}, nil, nil},
		{"version -h", []string{"version", "-h"}, 0, []string{"Usage: identity version"}, nil, nil},
		{"version argument", []string{"version", "x"}, 2, nil, []string{"version takes no arguments"}, nil},
		{"IDENTITY_NO_MIGRATE=yes", []string{"serve", "--database-url", db}, 2, nil, []string{`IDENTITY_NO_MIGRATE="yes": want true or false`},
			map[string]string{"IDENTITY_NO_MIGRATE": "yes"}},
		{"IDENTITY_MIGRATE=sure", []string{"bootstrap", "--database-url", db, "--email", "a@example.com"}, 2, nil, []string{`IDENTITY_MIGRATE="sure"`},
			map[string]string{"IDENTITY_MIGRATE": "sure"}},
		{"malformed variable overridden by the flag", []string{"bootstrap", "--database-url", db, "--email", "a@example.com", "--migrate=false"}, 0, []string{"cfk_"}, nil,
			map[string]string{"IDENTITY_MIGRATE": "sure"}},
		{"IDENTITY_SHUTDOWN_TIMEOUT=soon", []string{"serve", "--database-url", db}, 2, nil, []string{`IDENTITY_SHUTDOWN_TIMEOUT="soon": want a duration`},
			map[string]string{"IDENTITY_SHUTDOWN_TIMEOUT": "soon"}},
		{"IDENTITY_MAX_HEADER_BYTES=big", []string{"serve", "--database-url", db}, 2, nil, []string{`IDENTITY_MAX_HEADER_BYTES="big": want an integer`},
			map[string]string{"IDENTITY_MAX_HEADER_BYTES": "big"}},
		{"max-header-bytes zero", []string{"serve", "--database-url", db, "--max-header-bytes", "0"}, 2, nil, []string{"--max-header-bytes 0"}, nil},
		{"no-migrate with migrate", []string{"serve", "--database-url", db, "--no-migrate", "--migrate"}, 2, nil, []string{"contradict"}, nil},
		{"unknown migrate flag", []string{"migrate", "apply", "--database-url", db, "--bogus"}, 2, nil, []string{"flag provided but not defined: -bogus", `"identity migrate apply -h"`}, nil},
		{"unknown migrate subcommand", []string{"migrate", "frob"}, 2, nil, []string{`unknown migrate subcommand "frob"`}, nil},
		{"unknown flag", []string{"serve", "--bogus"}, 2, nil, []string{"flag provided but not defined: -bogus", `run "identity serve -h" for the flags`}, nil},
		{"serve argument", []string{"serve", "--database-url", db, "extra"}, 2, nil, []string{"serve takes no arguments"}, nil},
		{"bad log level", []string{"serve", "--database-url", db, "--log-level", "loud"}, 2, nil, []string{`--log-level "loud"`}, nil},
		{"bad log format", []string{"serve", "--database-url", db, "--log-format", "xml"}, 2, nil, []string{`--log-format "xml"`}, nil},
		{"migrate diff without name", []string{"migrate", "diff"}, 2, nil, []string{"migrate diff needs one NAME"}, nil},
		{"serve -h", []string{"serve", "-h"}, 0, []string{
			"Usage: identity serve", "-addr", "-database-url", "-no-migrate", "-migrate", "-shutdown-timeout", "-max-header-bytes",
			"IDENTITY_DATABASE_URL", "IDENTITY_ADDR", "IDENTITY_LOG_FORMAT", "IDENTITY_LOG_LEVEL", "IDENTITY_NO_MIGRATE", "IDENTITY_MIGRATE",
			"IDENTITY_SHUTDOWN_TIMEOUT", "IDENTITY_MAX_HEADER_BYTES", "IDENTITY_EMAIL_ALLOW_MIXED_SCRIPTS", "IDENTITY_EMAIL_ALLOW_IP_LITERALS",
		}, nil, nil},
		{"bootstrap -h", []string{"bootstrap", "-h"}, 0, []string{"Usage: identity bootstrap", "IDENTITY_BOOTSTRAP_EMAIL", "IDENTITY_BOOTSTRAP_NAME", "IDENTITY_DATABASE_URL", "IDENTITY_MIGRATE"}, nil, nil},
		{"migrate apply -h", []string{"migrate", "apply", "-h"}, 0, []string{"IDENTITY_DATABASE_URL", "IDENTITY_MIGRATIONS_DIR", "IDENTITY_MIGRATE"}, nil, nil},
		{"migrate check -h", []string{"migrate", "check", "-h"}, 0, []string{"IDENTITY_MIGRATIONS_DIR", "IDENTITY_DEV_POSTGRES_URL", "IDENTITY_REVIEW_REPORT", "IDENTITY_GRAPHQL_DIR", "IDENTITY_REVIEW_DIALECTS"}, nil, nil},
		{"migrate schema -h", []string{"migrate", "schema", "-h"}, 0, []string{"IDENTITY_SCHEMA_DIALECT"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr := cli(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout does not contain %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
			if tt.code == 0 && len(tt.wantStdout) == 0 && stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if tt.code == 0 && tt.args[0] != "bootstrap" && stderr != "" {
				t.Errorf("stderr = %q, want nothing on success", stderr)
			}
			if tt.code == 2 && tt.name != "no command" && strings.Count(stderr, "identity: ") != 1 {
				t.Errorf("the error is printed %d times, want once:\n%s", strings.Count(stderr, "identity: "), stderr)
			}
			if tt.code == 2 && len(tt.args) > 0 && tt.args[0] != "frobnicate" && strings.Contains(stderr, "Usage:") && tt.name != "no command" {
				t.Errorf("a usage error prints the whole usage:\n%s", stderr)
			}
			if tt.code != 0 && stdout != "" {
				t.Errorf("stdout = %q, want nothing on failure", stdout)
			}
			assertClean(t, stderr)
		})
	}
	if _, err := os.Stat("identity.db"); err == nil {
		t.Error("a usage error created identity.db in the working directory")
	}
}

// TestMigrateCommands runs apply, status, validate and drift in order on an
// empty database.
func TestMigrateCommands(t *testing.T) {
	clearEnv(t)
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		dir, err := migrations.Dir(target.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		files, err := dir.Files()
		if err != nil || len(files) == 0 {
			t.Fatalf("embedded migrations: %d files, %v", len(files), err)
		}
		last := files[len(files)-1]
		var applyLines []string
		for _, f := range files {
			applyLines = append(applyLines, fmt.Sprintf("applied %s %s (", f.Version(), f.Desc()))
		}
		steps := []struct {
			name string
			args []string
			want []string
		}{
			{"status before apply", []string{"status"}, []string{
				"current version: none", "applied: 0\n", fmt.Sprintf("pending: %d\n", len(files)), "  pending " + files[0].Name(),
			}},
			{"apply", []string{"apply"}, applyLines},
			{"apply again", []string{"apply"}, []string{"database is up to date\n"}},
			{"apply from the committed directory", []string{"apply", "--dir", "../../migrations"}, []string{"database is up to date\n"}},
			{"status", []string{"status"}, []string{
				"current version: " + last.Version() + "\n", fmt.Sprintf("applied: %d\n", len(files)), "pending: 0\n",
			}},
			{"validate", []string{"validate"}, []string{"migration directory matches atlas.sum; applied history matches the files\n"}},
			{"drift", []string{"drift"}, []string{"database matches the ent schema\n"}},
		}
		for _, s := range steps {
			args := append([]string{"migrate"}, s.args...)
			args = append(args, "--database-url", target.URL)
			code, stdout, stderr := cli(t, args...)
			if code != 0 {
				t.Fatalf("%s: exit code %d\nstdout:\n%s\nstderr:\n%s", s.name, code, stdout, stderr)
			}
			for _, w := range s.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("%s: stdout does not contain %q:\n%s", s.name, w, stdout)
				}
			}
			if s.name == "status" && strings.Contains(stdout, "  pending ") {
				t.Errorf("%s: lists pending files after apply:\n%s", s.name, stdout)
			}
			if stderr != "" {
				t.Errorf("%s: stderr = %q, want nothing", s.name, stderr)
			}
		}
		// The database is really migrated.
		db, _, err := storage.OpenDB(context.Background(), target.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var roles int
		if err := db.QueryRow(`SELECT count(*) FROM cf_roles`).Scan(&roles); err != nil || roles != 4 {
			t.Errorf("cf_roles holds %d rows (err %v), want the 4 built-in roles", roles, err)
		}
	})
}

func TestBadDatabaseURL(t *testing.T) {
	clearEnv(t)
	missingDir := "sqlite://" + filepath.Join(t.TempDir(), "missing", "x.db")
	readOnly := readOnlyPath(t)
	urls := []struct {
		name string
		url  string
		want []string
	}{
		{"unsupported scheme", "mysql://x", []string{`unsupported scheme "mysql"`}},
		{"unsupported scheme with password", "mysql://root:s3cret@db.example.com/x", []string{`unsupported scheme "mysql"`, "root:xxxxx@"}},
		{"no scheme", "identity.db", []string{"no scheme"}},
		{"sqlite without path", "sqlite://", []string{"no file path"}},
		{"sqlite in a missing folder", missingDir, []string{"database unreachable", "x.db: no such file or directory"}},
		{"sqlite in a read-only folder", "sqlite://" + readOnly, []string{"database unreachable", readOnly + ": permission denied"}},
		{"postgres unreachable", "postgres://127.0.0.1:1/nope?sslmode=disable&connect_timeout=2", []string{"database unreachable", "127.0.0.1:1"}},
		{"postgres unreachable with password", "postgres://admin:s3cret@127.0.0.1:1/nope?sslmode=disable&connect_timeout=2", []string{"database unreachable", "admin:xxxxx@127.0.0.1:1"}},
	}
	commands := [][]string{
		{"migrate", "apply"},
		{"migrate", "status"},
		{"migrate", "drift"},
		{"bootstrap", "--email", "admin@example.com"},
		{"serve", "--addr", "127.0.0.1:0"},
	}
	for _, u := range urls {
		t.Run(u.name, func(t *testing.T) {
			for _, c := range commands {
				args := append(append([]string(nil), c...), "--database-url", u.url)
				code, stdout, stderr := cli(t, args...)
				if code != 1 {
					t.Errorf("%v: exit code = %d, want 1\nstderr:\n%s", c, code, stderr)
				}
				// serve logs its start ("time=... starting identity") first.
				errLine := stderr
				if c[0] == "serve" {
					lines := strings.SplitAfter(strings.TrimSuffix(stderr, "\n"), "\n")
					for _, l := range lines[:len(lines)-1] {
						if !strings.HasPrefix(l, "time=") {
							t.Errorf("%v: stderr line %q is neither a log line nor the error", c, l)
						}
					}
					errLine = lines[len(lines)-1] + "\n"
				}
				if !strings.HasPrefix(errLine, "identity: ") || strings.Count(errLine, "\n") != 1 {
					t.Errorf("%v: stderr is not one \"identity: ...\" line:\n%s", c, stderr)
				}
				for _, w := range u.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("%v: stderr does not contain %q:\n%s", c, w, stderr)
					}
				}
				if stdout != "" {
					t.Errorf("%v: stdout = %q, want nothing", c, stdout)
				}
				assertClean(t, stderr)
			}
		})
	}
}

var keyRE = regexp.MustCompile(`^cfk_[a-z2-7]{8}_[a-z2-7]{52}\n$`)

func TestBootstrap(t *testing.T) {
	clearEnv(t)
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		ctx := context.Background()
		code, stdout, stderr := cli(t, "bootstrap", "--email", "admin@example.com", "--database-url", target.URL)
		if code != 0 {
			t.Fatalf("exit code = %d\nstderr:\n%s", code, stderr)
		}
		if !keyRE.MatchString(stdout) {
			t.Fatalf("stdout = %q, want exactly one API key line", stdout)
		}
		dir, err := migrations.Dir(target.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		files, err := dir.Files()
		if err != nil {
			t.Fatal(err)
		}
		applied := fmt.Sprintf("applied %d migration(s)", len(files))
		for _, w := range []string{applied, "created user admin@example.com", "platform superadmin", "shown once"} {
			if !strings.Contains(stderr, w) {
				t.Errorf("stderr does not contain %q:\n%s", w, stderr)
			}
		}
		if strings.Contains(stderr, strings.TrimSpace(stdout)) {
			t.Error("the API key is also written to stderr")
		}

		// The key authenticates as a superadmin.
		client, _, _, err := storage.Open(ctx, target.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		a, err := apikey.Authenticate(ctx, client, strings.TrimSpace(stdout), time.Now())
		if err != nil {
			t.Fatalf("Authenticate(printed key): %v", err)
		}
		if !a.IsSuperadmin() {
			t.Errorf("the printed key acts as %v, want a platform superadmin", a)
		}

		// A second run promotes the same user and prints a new key.
		code, stdout2, stderr := cli(t, "bootstrap", "--email", "Admin@Example.com", "--database-url", target.URL)
		if code != 0 {
			t.Fatalf("second run: exit code = %d\nstderr:\n%s", code, stderr)
		}
		if !keyRE.MatchString(stdout2) || stdout2 == stdout {
			t.Errorf("second run: stdout = %q, want a new key", stdout2)
		}
		if !strings.Contains(stderr, "promoted existing user admin@example.com") || strings.Contains(stderr, "applied") {
			t.Errorf("second run: stderr = %q, want the existing user promoted and no migration applied", stderr)
		}
	})
}

func TestBootstrapErrors(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStderr string
	}{
		{"no email", nil, 2, "bootstrap needs --email"},
		{"argument", []string{"--email", "admin@example.com", "extra"}, 2, "bootstrap takes no arguments"},
		{"not an email", []string{"--email", "not-an-email"}, 1, "not-an-email"},
		{"no domain dot", []string{"--email", "admin@localhost"}, 1, "admin@localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := sqliteURL(t)
			args := append([]string{"bootstrap", "--database-url", url}, tt.args...)
			code, stdout, stderr := cli(t, args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d\nstderr:\n%s", code, tt.code, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want no key", stdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantStderr, stderr)
			}
			assertClean(t, stderr)
			if tt.code == 1 {
				// Migrated, but no user was created.
				db, _, err := storage.OpenDB(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				var users, keys int
				if err := db.QueryRow(`SELECT (SELECT count(*) FROM cf_users), (SELECT count(*) FROM cf_api_keys)`).Scan(&users, &keys); err != nil {
					t.Fatal(err)
				}
				if users != 0 || keys != 0 {
					t.Errorf("a failed bootstrap left %d users and %d keys", users, keys)
				}
			}
		})
	}
}

// devPostgres returns a PostgreSQL server for migrate check, or skips.
func devPostgres(t *testing.T) string {
	t.Helper()
	server := os.Getenv(testdb.EnvPostgres)
	fromEnv := server != ""
	if !fromEnv {
		server = defaultDevPostgres
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	db, _, err := storage.OpenDB(ctx, server)
	switch {
	case err != nil && fromEnv:
		t.Fatalf("%s is set but unusable: %v", testdb.EnvPostgres, err)
	case err != nil:
		t.Skipf("migrate check replays both dialects and needs PostgreSQL: %s is unset and no server answers at %s: %v",
			testdb.EnvPostgres, storage.Redact(defaultDevPostgres), err)
	}
	db.Close()
	return server
}

// copyMigrations copies ../../migrations into a temporary folder and lets
// edit change a file of it.
func copyMigrations(t *testing.T, edit func(root string)) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"sqlite", "postgres"} {
		if err := os.CopyFS(filepath.Join(root, d), os.DirFS(filepath.Join("..", "..", "migrations", d))); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil {
		edit(root)
	}
	return root
}

// dropLines removes the lines of the first migration file of root/d that
// contain needle.
func dropLines(t *testing.T, root, d, needle string) {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(root, d, "*.sql"))
	if err != nil || len(matches) == 0 {
		t.Fatalf("no migration files in %s: %v", d, err)
	}
	b, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for line := range strings.Lines(string(b)) {
		if !strings.Contains(line, needle) {
			kept = append(kept, line)
		}
	}
	if len(kept) == strings.Count(string(b), "\n") {
		t.Fatalf("%s has no line containing %q", matches[0], needle)
	}
	if err := os.WriteFile(matches[0], []byte(strings.Join(kept, "")), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMigrateCheck(t *testing.T) {
	clearEnv(t)
	server := devPostgres(t)
	tests := []struct {
		name       string
		dir        func(t *testing.T) string
		code       int
		wantStdout []string
		wantStderr []string
	}{
		{"committed directories", func(*testing.T) string { return "../../migrations" }, 0,
			[]string{"sqlite3: atlas.sum valid; replaying ../../migrations/sqlite yields the ent schema", "postgres: atlas.sum valid; replaying ../../migrations/postgres yields the ent schema"}, nil},
		{"index missing and rehashed", func(t *testing.T) string {
			root := copyMigrations(t, func(root string) { dropLines(t, root, "sqlite", "cf_users_platform_role") })
			if code, _, stderr := cli(t, "migrate", "hash", "--dir", root); code != 0 {
				t.Fatalf("migrate hash: %s", stderr)
			}
			return root
		}, 1, []string{"postgres: atlas.sum valid"}, []string{"sqlite3 migration directory differs from the ent schema", "cf_users_platform_role"}},
		{"tampered", func(t *testing.T) string {
			return copyMigrations(t, func(root string) { dropLines(t, root, "postgres", "cf_users_platform_role") })
		}, 1, []string{"sqlite3: atlas.sum valid"}, []string{"does not match atlas.sum", "identity migrate hash"}},
		{"missing folder", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, 1, nil, []string{"opening migration directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := cli(t, "migrate", "check", "--dir", tt.dir(t), "--dev-postgres-url", server)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout does not contain %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.wantStderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not contain %q:\n%s", w, stderr)
				}
			}
			if tt.code == 0 && stderr != "" {
				t.Errorf("stderr = %q, want nothing", stderr)
			}
			assertClean(t, stderr)
		})
	}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func TestServe(t *testing.T) {
	tests := []struct {
		name string
		// env is set before the run; args are added to serve.
		env  map[string]string
		args func(addr string) []string
		// migrate tells whether serve applies the migrations.
		migrate bool
		json    bool
	}{
		{"flags", nil, func(addr string) []string { return []string{"--addr", addr} }, true, false},
		{"environment", map[string]string{"IDENTITY_LOG_FORMAT": "json", "IDENTITY_LOG_LEVEL": "debug"},
			func(addr string) []string { return nil }, true, true},
		{"no migrate", map[string]string{"IDENTITY_NO_MIGRATE": "true"},
			func(addr string) []string { return []string{"--addr", addr} }, false, false},
		{"no migrate, 1", map[string]string{"IDENTITY_NO_MIGRATE": "1"},
			func(addr string) []string { return []string{"--addr", addr} }, false, false},
		{"no migrate, flag", nil,
			func(addr string) []string { return []string{"--addr", addr, "--no-migrate"} }, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			testdb.Each(t, func(t *testing.T, target testdb.Target) {
				addr := freeAddr(t)
				t.Setenv("IDENTITY_ADDR", addr)
				t.Setenv("IDENTITY_DATABASE_URL", target.URL)
				for k, v := range tt.env {
					t.Setenv(k, v)
				}
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				var stdout, stderr syncBuffer
				done := make(chan int, 1)
				finished := make(chan struct{})
				go func() {
					defer close(finished)
					done <- run(ctx, append([]string{"serve"}, tt.args(addr)...), &stdout, &stderr)
				}()
				t.Cleanup(func() {
					cancel()
					select {
					case <-finished:
					case <-time.After(20 * time.Second):
						t.Error("serve did not return after cancel")
					}
				})

				hc := &http.Client{Timeout: time.Second}
				get := func(path string) (int, error) {
					resp, err := hc.Get("http://" + addr + path)
					if err != nil {
						return 0, err
					}
					resp.Body.Close()
					return resp.StatusCode, nil
				}
				deadline := time.Now().Add(10 * time.Second)
				for {
					select {
					case code := <-done:
						t.Fatalf("serve returned %d before answering\nstderr:\n%s", code, stderr.String())
					default:
					}
					status, err := get("/healthz")
					if err == nil && status == http.StatusOK {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("/healthz did not answer 200 within 10s (last: %d, %v)\nstderr:\n%s", status, err, stderr.String())
					}
					time.Sleep(50 * time.Millisecond)
				}
				// Not ready while the schema is behind the migrations.
				wantReady := http.StatusServiceUnavailable
				if tt.migrate {
					wantReady = http.StatusOK
				}
				if status, err := get("/readyz"); err != nil || status != wantReady {
					t.Errorf("/readyz = %d, %v; want %d", status, err, wantReady)
				}

				cancel()
				select {
				case code := <-done:
					if code != 0 {
						t.Errorf("serve returned %d after cancel, want 0\nstderr:\n%s", code, stderr.String())
					}
				case <-time.After(20 * time.Second):
					t.Fatal("serve did not return within 20s of cancel")
				}
				if _, err := get("/healthz"); err == nil {
					t.Error("the server still answers after serve returned")
				}
				logs := stderr.String()
				for _, w := range []string{"starting identity", "version", "serving", addr, "shutting down", "stopped"} {
					if !strings.Contains(logs, w) {
						t.Errorf("stderr does not contain %q:\n%s", w, logs)
					}
				}
				if got := strings.Contains(logs, "migration applied"); got != tt.migrate {
					t.Errorf("logged \"migration applied\" = %t, want %t:\n%s", got, tt.migrate, logs)
				}
				if tt.json {
					for line := range strings.Lines(logs) {
						var v map[string]any
						if err := json.Unmarshal([]byte(line), &v); err != nil {
							t.Errorf("log line is not JSON: %q", line)
						}
					}
				}
				if stdout.String() != "" {
					t.Errorf("stdout = %q, want nothing", stdout.String())
				}
				assertClean(t, logs)
				if hasRevisions(t, target) != tt.migrate {
					t.Errorf("database migrated = %t, want %t", !tt.migrate, tt.migrate)
				}
			})
		})
	}
}

// hasRevisions reports whether the database of target records migrations.
func hasRevisions(t *testing.T, target testdb.Target) bool {
	t.Helper()
	db, _, err := storage.OpenDB(context.Background(), target.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'cf_schema_revisions'`
	if target.Dialect == dialect.Postgres {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'cf_schema_revisions'`
	}
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	return n == 1
}

// readOnlyPath returns a path in a folder the test process cannot write to.
func readOnlyPath(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o755) })
	p := filepath.Join(dir, "x.db")
	if os.Geteuid() == 0 {
		// root writes anywhere but in sysfs.
		p = "/sys/cf-identity-test.db"
	}
	if f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644); err == nil {
		_ = f.Close()
		_ = os.Remove(p) // a probe file: the skip below is what matters
		t.Skipf("%s is writable: no read-only folder to test with", p)
	}
	return p
}
