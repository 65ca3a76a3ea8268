package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/storage"
)

// TestEveryFlagHasEnv checks that every flag of every command names the
// environment variable that sets it, and that no two flags share one.
func TestEveryFlagHasEnv(t *testing.T) {
	clearEnv(t)
	commands := [][]string{
		{"serve"}, {"bootstrap"}, {"version"},
		{"migrate", "diff"}, {"migrate", "apply"}, {"migrate", "status"}, {"migrate", "validate"},
		{"migrate", "drift"}, {"migrate", "check"}, {"migrate", "schema"}, {"migrate", "hash"},
	}
	flagLine := regexp.MustCompile(`^  -([a-z0-9-]+)`)
	envRE := regexp.MustCompile(`\(env (IDENTITY_[A-Z0-9_]+)\)`)
	for _, c := range commands {
		t.Run(strings.Join(c, " "), func(t *testing.T) {
			code, stdout, stderr := cli(t, append(c, "-h")...)
			if code != 0 || stderr != "" {
				t.Fatalf("-h: exit %d, stderr %q", code, stderr)
			}
			// Each flag's help starts with "  -name" and runs to the next.
			var blocks []string
			for line := range strings.Lines(stdout) {
				if flagLine.MatchString(line) {
					blocks = append(blocks, line)
				} else if len(blocks) > 0 {
					blocks[len(blocks)-1] += line
				}
			}
			if len(blocks) == 0 && c[0] != "version" {
				t.Fatalf("no flags in the help:\n%s", stdout)
			}
			envOf := map[string]string{}
			for _, b := range blocks {
				name := flagLine.FindStringSubmatch(b)[1]
				m := envRE.FindStringSubmatch(b)
				if m == nil {
					t.Errorf("flag -%s has no environment variable:\n%s", name, b)
					continue
				}
				for other, v := range envOf {
					if v == m[1] {
						t.Errorf("flags -%s and -%s share %s", name, other, v)
					}
				}
				envOf[name] = m[1]
				found := false
				for _, v := range envVars {
					found = found || v == m[1]
				}
				if !found {
					t.Errorf("%s (flag -%s) is missing from envVars, which the tests clear", m[1], name)
				}
			}
		})
	}
}

// TestEnvironmentSetsFlags checks variables of flags that had none.
func TestEnvironmentSetsFlags(t *testing.T) {
	clearEnv(t)
	t.Run("IDENTITY_BOOTSTRAP_NAME", func(t *testing.T) {
		url := sqliteURL(t)
		t.Setenv("IDENTITY_BOOTSTRAP_NAME", "Ada From Env")
		if code, _, stderr := cli(t, "bootstrap", "--database-url", url, "--email", "ada@example.com"); code != 0 {
			t.Fatalf("bootstrap: %d\n%s", code, stderr)
		}
		db, _, err := storage.OpenDB(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var name string
		if err := db.QueryRow(`SELECT display_name FROM cf_users WHERE email = 'ada@example.com'`).Scan(&name); err != nil || name != "Ada From Env" {
			t.Errorf("user name = %q, %v; want the name of IDENTITY_BOOTSTRAP_NAME", name, err)
		}
	})
	t.Run("IDENTITY_SCHEMA_DIALECT", func(t *testing.T) {
		t.Setenv("IDENTITY_SCHEMA_DIALECT", "nosuch")
		code, _, stderr := cli(t, "migrate", "schema")
		if code != 2 || !strings.Contains(stderr, `unknown dialect "nosuch"`) {
			t.Errorf("migrate schema with IDENTITY_SCHEMA_DIALECT=nosuch: exit %d\n%s", code, stderr)
		}
	})
	t.Run("IDENTITY_REVIEW_DIALECTS", func(t *testing.T) {
		t.Setenv("IDENTITY_REVIEW_DIALECTS", "oracle")
		code, _, stderr := cli(t, "migrate", "check", "--dir", "../../migrations")
		if code != 2 || !strings.Contains(stderr, `--dialects: unknown dialect "oracle"`) {
			t.Errorf("migrate check with IDENTITY_REVIEW_DIALECTS=oracle: exit %d\n%s", code, stderr)
		}
	})
	t.Run("IDENTITY_SHUTDOWN_TIMEOUT", func(t *testing.T) {
		t.Setenv("IDENTITY_SHUTDOWN_TIMEOUT", "7s")
		t.Setenv("IDENTITY_DATABASE_URL", sqliteURL(t))
		s := startServe(t)
		if logs := s.stop(t); !strings.Contains(logs, "grace=7s") {
			t.Errorf("shutdown does not use IDENTITY_SHUTDOWN_TIMEOUT:\n%s", logs)
		}
	})
}

func TestVersionOf(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want []string
	}{
		{"no build info", nil, false, []string{"identity (devel)\n", "revision: unknown"}},
		{"work tree build", &debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Version: "(devel)"}}, true,
			[]string{"identity (devel)\n", "revision: unknown", "go: go1.26\n"}},
		{"stamped", &debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-11-30T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}, true, []string{"identity v1.2.3\n", "revision: 0123abcd\n", "revision time: 2026-11-30T10:00:00Z\n", "modified: true\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			versionOf(tt.bi, tt.ok).write(&b)
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("version output does not contain %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// served is a running "identity serve".
type served struct {
	addr   string
	cancel context.CancelFunc
	done   chan int
	stderr *syncBuffer
}

// startServe runs serve with the environment of the test plus args, on a
// free port, and waits until /healthz answers.
func startServe(t *testing.T, args ...string) *served {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := &served{addr: addr, cancel: cancel, done: make(chan int, 1), stderr: &syncBuffer{}}
	var stdout syncBuffer
	go func() { s.done <- run(ctx, append([]string{"serve", "--addr", addr}, args...), &stdout, s.stderr) }()
	t.Cleanup(cancel)
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case code := <-s.done:
			t.Fatalf("serve returned %d before answering\nstderr:\n%s", code, s.stderr.String())
		default:
		}
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("/healthz did not answer within 15s\nstderr:\n%s", s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops the server and returns its logs.
func (s *served) stop(t *testing.T) string {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		if code != 0 {
			t.Errorf("serve returned %d\n%s", code, s.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20s")
	}
	return s.stderr.String()
}

// TestServeBindsFirst checks that a port in use fails serve before it
// touches the database.
func TestServeBindsFirst(t *testing.T) {
	clearEnv(t)
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		code, _, stderr := cli(t, "serve", "--addr", ln.Addr().String(), "--database-url", target.URL)
		if code != 1 || !strings.Contains(stderr, "listening on "+ln.Addr().String()) {
			t.Fatalf("serve on a busy port: exit %d\n%s", code, stderr)
		}
		if strings.Contains(stderr, "migration applied") || hasRevisions(t, target) {
			t.Errorf("serve migrated the database although it could not listen:\n%s", stderr)
		}
	})
}

// foreignTarget returns a database holding a table of another application.
func foreignTarget(t *testing.T, d string) testdb.Target {
	t.Helper()
	target := testdb.New(t, d)
	db, _, err := storage.OpenDB(context.Background(), target.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE shop_orders (id integer PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return target
}

// TestForeignDatabase checks that serve, bootstrap and migrate apply leave
// a database of another application alone unless --migrate is given.
func TestForeignDatabase(t *testing.T) {
	clearEnv(t)
	refused := [][]string{
		{"bootstrap", "--email", "admin@example.com"},
		{"migrate", "apply"},
		{"serve", "--addr", "127.0.0.1:0"},
	}
	for _, d := range testdb.Dialects() {
		t.Run(testdb.Target{Dialect: d}.Name(), func(t *testing.T) {
			target := foreignTarget(t, d)
			for _, c := range refused {
				code, stdout, stderr := cli(t, append(c, "--database-url", target.URL)...)
				if code != 1 {
					t.Errorf("%v: exit %d, want 1\n%s", c, code, stderr)
				}
				for _, w := range []string{"refusing to create tables", "shop_orders", "--migrate", "IDENTITY_MIGRATE=true"} {
					if !strings.Contains(stderr, w) {
						t.Errorf("%v: stderr does not contain %q:\n%s", c, w, stderr)
					}
				}
				// serve logs its start first; the error is one line.
				if stdout != "" || strings.Count(stderr, "identity: ") != 1 || !strings.HasPrefix(stderr[strings.LastIndex(stderr, "identity: "):], "identity: migration: refusing") {
					t.Errorf("%v: stdout %q, stderr %q; want one error line", c, stdout, stderr)
				}
				if hasRevisions(t, target) {
					t.Fatalf("%v created %s", c, "cf_schema_revisions")
				}
			}
			t.Setenv("IDENTITY_MIGRATE", "true")
			code, stdout, stderr := cli(t, "bootstrap", "--email", "admin@example.com", "--database-url", target.URL)
			if code != 0 || !keyRE.MatchString(stdout) {
				t.Fatalf("bootstrap with IDENTITY_MIGRATE=true: exit %d\n%s", code, stderr)
			}
			t.Setenv("IDENTITY_MIGRATE", "")
			// Now ours: no flag needed.
			if code, _, stderr := cli(t, "migrate", "apply", "--database-url", target.URL); code != 0 {
				t.Errorf("migrate apply after --migrate: exit %d\n%s", code, stderr)
			}
		})
	}
	t.Run("migrate apply --migrate", func(t *testing.T) {
		target := foreignTarget(t, testdb.Dialects()[0])
		code, stdout, stderr := cli(t, "migrate", "apply", "--migrate", "--database-url", target.URL)
		if code != 0 || !strings.Contains(stdout, "applied ") {
			t.Errorf("migrate apply --migrate: exit %d\n%s%s", code, stdout, stderr)
		}
	})
}

// TestCreatesMissingDatabase checks that serve, bootstrap and migrate
// apply create a missing PostgreSQL database, and say so.
func TestCreatesMissingDatabase(t *testing.T) {
	clearEnv(t)
	server := os.Getenv(testdb.EnvPostgres)
	if server == "" {
		t.Skipf("%s is not set", testdb.EnvPostgres)
	}
	missing := func(t *testing.T) string {
		t.Helper()
		name := fmt.Sprintf("cf_identity_cli_%d", time.Now().UnixNano())
		u, err := url.Parse(server)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		t.Cleanup(func() {
			admin, _, err := storage.OpenDB(context.Background(), server)
			if err != nil {
				t.Error(err)
				return
			}
			defer admin.Close()
			if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
				t.Errorf("dropping %s: %v", name, err)
			}
		})
		return u.String()
	}
	t.Run("status names the fix", func(t *testing.T) {
		dbURL := missing(t)
		code, _, stderr := cli(t, "migrate", "status", "--database-url", dbURL)
		if code != 1 || !strings.Contains(stderr, "does not exist") || !strings.Contains(stderr, "createdb cf_identity_cli_") {
			t.Errorf("migrate status on a missing database: exit %d\n%s", code, stderr)
		}
	})
	t.Run("migrate apply", func(t *testing.T) {
		dbURL := missing(t)
		code, stdout, stderr := cli(t, "migrate", "apply", "--database-url", dbURL)
		if code != 0 || !strings.Contains(stderr, "created database "+storage.Redact(dbURL)) || !strings.Contains(stdout, "applied ") {
			t.Errorf("migrate apply: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})
	t.Run("bootstrap", func(t *testing.T) {
		dbURL := missing(t)
		code, stdout, stderr := cli(t, "bootstrap", "--email", "admin@example.com", "--database-url", dbURL)
		if code != 0 || !keyRE.MatchString(stdout) || !strings.Contains(stderr, "created database") {
			t.Errorf("bootstrap: exit %d\nstderr:\n%s", code, stderr)
		}
	})
	t.Run("serve", func(t *testing.T) {
		t.Setenv("IDENTITY_DATABASE_URL", missing(t))
		logs := startServe(t).stop(t)
		if !strings.Contains(logs, "created database") || !strings.Contains(logs, "migration applied") {
			t.Errorf("serve logs:\n%s", logs)
		}
	})
	t.Run("serve --no-migrate creates nothing", func(t *testing.T) {
		dbURL := missing(t)
		code, _, stderr := cli(t, "serve", "--addr", "127.0.0.1:0", "--no-migrate", "--database-url", dbURL)
		if code != 1 || !strings.Contains(stderr, "does not exist") {
			t.Errorf("serve --no-migrate: exit %d\n%s", code, stderr)
		}
	})
}

// TestMaxHeaderBytes checks the header limit of serve: 64 KiB by default,
// set by --max-header-bytes.
func TestMaxHeaderBytes(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name   string
		args   []string
		header int
		want   int
	}{
		{"default, small", nil, 1 << 10, http.StatusOK},
		{"default, 100 KiB", nil, 100 << 10, http.StatusRequestHeaderFieldsTooLarge},
		{"flag, 16 KiB", []string{"--max-header-bytes", "4096"}, 16 << 10, http.StatusRequestHeaderFieldsTooLarge},
		{"flag, 200 KiB allowed", []string{"--max-header-bytes", "262144"}, 100 << 10, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("IDENTITY_DATABASE_URL", sqliteURL(t))
			s := startServe(t, tt.args...)
			req, err := http.NewRequest(http.MethodGet, "http://"+s.addr+"/healthz", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Padding", strings.Repeat("a", tt.header))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
			s.stop(t)
		})
	}
}

// TestBootstrapEmailRules checks the email rules and their switches.
func TestBootstrapEmailRules(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name  string
		email string
		args  []string
		env   map[string]string
		code  int
		want  string
	}{
		{"mixed scripts", "rооt@example.com", nil, nil, 1, "mixes letters of the Latin and Cyrillic scripts"},
		{"mixed scripts allowed by flag", "rооt@example.com", []string{"--email-allow-mixed-scripts"}, nil, 0, "created user"},
		{"mixed scripts allowed by env", "rооt@example.com", nil, map[string]string{"IDENTITY_EMAIL_ALLOW_MIXED_SCRIPTS": "true"}, 0, "created user"},
		{"IP literal", "root@[127.0.0.1]", nil, nil, 1, "the domain is an IP address"},
		{"IP literal allowed by env", "root@[127.0.0.1]", nil, map[string]string{"IDENTITY_EMAIL_ALLOW_IP_LITERALS": "1"}, 0, "created user"},
		{"single-script IDN", "user@пример.рф", nil, nil, 0, "created user"},
		{"Latin with accents", "josé@example.com", nil, nil, 0, "created user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"bootstrap", "--database-url", sqliteURL(t), "--email", tt.email}, tt.args...)
			code, _, stderr := cli(t, args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, want %d; stderr does not contain %q?\n%s", code, tt.code, tt.want, stderr)
			}
			assertClean(t, stderr)
		})
	}
}

// TestServeLimits checks that the limit flags of serve reach the handler.
func TestServeLimits(t *testing.T) {
	clearEnv(t)
	introspect := `{"query":"{ __schema { queryType { name } } }"}`
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, addr, key string)
	}{
		{"introspection on by default", nil, nil, func(t *testing.T, addr, key string) {
			if body := post(t, addr, key, introspect, http.StatusOK); !strings.Contains(body, `"name":"Query"`) {
				t.Errorf("introspection answer: %s", body)
			}
		}},
		{"--no-introspection", []string{"--no-introspection"}, nil, func(t *testing.T, addr, key string) {
			if body := post(t, addr, key, introspect, -1); strings.Contains(body, `"name":"Query"`) || !strings.Contains(body, `"errors"`) {
				t.Errorf("introspection answered with --no-introspection: %s", body)
			}
		}},
		{"IDENTITY_MAX_BODY_BYTES", nil, map[string]string{"IDENTITY_MAX_BODY_BYTES": "200"}, func(t *testing.T, addr, key string) {
			post(t, addr, key, `{"query":"{ viewer { id } }","variables":{"pad":"`+strings.Repeat("x", 500)+`"}}`, http.StatusRequestEntityTooLarge)
		}},
		{"--cors-origins", []string{"--cors-origins", "https://app.example, https://admin.example"}, nil, func(t *testing.T, addr, key string) {
			for origin, want := range map[string]string{"https://admin.example": "https://admin.example", "https://evil.example": ""} {
				if got := preflight(t, addr, origin); got != want {
					t.Errorf("preflight from %s: Access-Control-Allow-Origin = %q, want %q", origin, got, want)
				}
			}
		}},
		{"no CORS origin by default", nil, nil, func(t *testing.T, addr, key string) {
			if got := preflight(t, addr, "https://app.example"); got != "" {
				t.Errorf("Access-Control-Allow-Origin = %q without --cors-origins", got)
			}
		}},
		{"IDENTITY_DEPTH_LIMIT", nil, map[string]string{"IDENTITY_DEPTH_LIMIT": "2"}, func(t *testing.T, addr, key string) {
			body := post(t, addr, key, `{"query":"{ viewer { user { memberships { edges { node { id } } } } } }"}`, -1)
			if !strings.Contains(body, "QUERY_TOO_COMPLEX") {
				t.Errorf("a query 6 deep with IDENTITY_DEPTH_LIMIT=2: %s", body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbURL := sqliteURL(t)
			code, stdout, stderr := cli(t, "bootstrap", "--database-url", dbURL, "--email", "admin@example.com")
			if code != 0 {
				t.Fatalf("bootstrap: %s", stderr)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			t.Setenv("IDENTITY_DATABASE_URL", dbURL)
			s := startServe(t, tt.args...)
			tt.check(t, s.addr, strings.TrimSpace(stdout))
			s.stop(t)
		})
	}
	t.Run("bad values", func(t *testing.T) {
		for _, args := range [][]string{{"--nodes-limit", "0"}, {"--auth-failure-limit", "0"}, {"--request-timeout", "0s"}} {
			code, _, stderr := cli(t, append([]string{"serve", "--database-url", sqliteURL(t)}, args...)...)
			if code != 2 || !strings.Contains(stderr, args[0]) {
				t.Errorf("serve %v: exit %d\n%s", args, code, stderr)
			}
		}
	})
}

// post sends a GraphQL request with key and returns the body; want is the
// status expected (-1: any).
func post(t *testing.T, addr, key, body string, want int) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want >= 0 && resp.StatusCode != want {
		t.Errorf("POST /graphql: status %d, want %d: %s", resp.StatusCode, want, b)
	}
	return string(b)
}

// preflight sends a CORS preflight from origin and returns the
// Access-Control-Allow-Origin of the answer.
func preflight(t *testing.T, addr, origin string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, "http://"+addr+"/graphql", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("Access-Control-Allow-Origin")
}
