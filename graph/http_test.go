package graph_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/storage"
)

// server starts another server over the database of e with opts (a
// discarding logger when opts has none).
func (e *env) server(t *testing.T, opts graph.Options) *httptest.Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := httptest.NewServer(graph.NewHandler(e.client, opts))
	t.Cleanup(srv.Close)
	return srv
}

// request sends method path with body and headers to srv.
func request(t *testing.T, srv *httptest.Server, method, path string, body io.Reader, headers map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return do(t, srv.Client(), req)
}

func gqlBody(t *testing.T, query string) *bytes.Reader {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": query})
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func TestSecurityHeaders(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		small := e.server(t, graph.Options{MaxBodyBytes: 64, AuthFailureLimit: 1})
		bad := unknownKey(t)
		// Exhaust small's budget of failures, for the 429 case.
		request(t, small, http.MethodPost, "/graphql", strings.NewReader(`{"query":"{viewer{kind}}"}`),
			map[string]string{"Authorization": bearer(bad), "Content-Type": "application/json"})
		admin := map[string]string{"Authorization": bearer(e.adminKey), "Content-Type": "application/json"}
		cases := []struct {
			name       string
			srv        *httptest.Server
			method     string
			path       string
			body       string
			headers    map[string]string
			wantStatus int
			api        bool // a GraphQL or auth answer: never cached
		}{
			{"graphql ok", e.srv, http.MethodPost, "/graphql", `{"query":"{ viewer { kind } }"}`, admin, http.StatusOK, true},
			{"createAPIKey", e.srv, http.MethodPost, "/graphql",
				`{"query":"mutation { createAPIKey(input: {name: \"h\", scopes: [\"*\"]}) { key } }"}`, admin, http.StatusOK, true},
			{"graphql GET", e.srv, http.MethodGet, "/graphql?query=%7Bviewer%7Bkind%7D%7D", "", admin, http.StatusOK, true},
			{"401", e.srv, http.MethodPost, "/graphql", `{"query":"{ viewer { kind } }"}`, nil, http.StatusUnauthorized, true},
			{"403", e.srv, http.MethodPost, "/graphql", `{"query":"{ viewer { kind } }"}`,
				map[string]string{"Authorization": bearer(e.adminKey), "X-Organization-ID": unknownOrgID}, 0, true},
			{"413", small, http.MethodPost, "/graphql", `{"query":"{ viewer { kind } }", "variables": {"pad": "` + strings.Repeat("x", 100) + `"}}`, admin, http.StatusRequestEntityTooLarge, true},
			{"429", small, http.MethodPost, "/graphql", `{"query":"{ viewer { kind } }"}`, admin, http.StatusTooManyRequests, true},
			{"healthz", e.srv, http.MethodGet, "/healthz", "", nil, http.StatusOK, true},
			{"readyz", e.srv, http.MethodGet, "/readyz", "", nil, http.StatusOK, true},
			{"not found", e.srv, http.MethodGet, "/nope", "", nil, http.StatusNotFound, true},
			{"graphiql", e.srv, http.MethodGet, "/", "", nil, http.StatusOK, false},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var body io.Reader
				if tc.body != "" {
					body = strings.NewReader(tc.body)
				}
				r := request(t, tc.srv, tc.method, tc.path, body, tc.headers)
				if tc.wantStatus != 0 && r.status != tc.wantStatus {
					t.Errorf("status = %d, want %d: %.300s", r.status, tc.wantStatus, r.raw)
				}
				if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
				}
				if got := r.header.Get("X-Frame-Options"); got != "DENY" {
					t.Errorf("X-Frame-Options = %q, want DENY", got)
				}
				csp := r.header.Get("Content-Security-Policy")
				if !strings.Contains(csp, "frame-ancestors 'none'") {
					t.Errorf("Content-Security-Policy = %q, want frame-ancestors 'none'", csp)
				}
				if tc.api {
					if got := r.header.Get("Cache-Control"); got != "no-store" {
						t.Errorf("Cache-Control = %q, want no-store", got)
					}
					return
				}
				for _, directive := range strings.Split(csp, ";") {
					words := strings.Fields(directive)
					if len(words) == 0 {
						continue
					}
					for _, src := range words[1:] {
						switch src {
						case "'self'", "'none'", "data:", "'unsafe-inline'":
							if src == "'unsafe-inline'" && !strings.HasPrefix(strings.TrimSpace(directive), "style-src-attr") {
								t.Errorf("CSP allows inline content in %q", directive)
							}
						default:
							t.Errorf("CSP source %q in %q: want only 'self', 'none' and data:", src, directive)
						}
					}
				}
				if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-eval") {
					t.Errorf("CSP = %q, want script-src 'self' without eval", csp)
				}
			})
		}
	})
}

// unknownKey returns an API key that has the right shape and names no
// stored key.
func unknownKey(t *testing.T) string {
	t.Helper()
	tok, _, err := secret.NewToken("cfk")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestCORS(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		const allowed, other = "https://app.example.com", "https://evil.example.net"
		withOrigins := e.server(t, graph.Options{CORSOrigins: []string{allowed}})
		preflight := func(origin string) map[string]string {
			return map[string]string{
				"Origin":                         origin,
				"Access-Control-Request-Method":  "POST",
				"Access-Control-Request-Headers": "authorization, content-type, x-organization-id, x-request-id",
			}
		}
		post := func(origin string) map[string]string {
			return map[string]string{"Origin": origin, "Authorization": bearer(e.adminKey), "Content-Type": "application/json"}
		}
		cases := []struct {
			name       string
			srv        *httptest.Server
			method     string
			headers    map[string]string
			wantOrigin string // Access-Control-Allow-Origin; "" for none
			wantStatus int
		}{
			{"default preflight", e.srv, http.MethodOptions, preflight(allowed), "", 0},
			{"default post", e.srv, http.MethodPost, post(allowed), "", http.StatusOK},
			{"preflight allowed", withOrigins, http.MethodOptions, preflight(allowed), allowed, http.StatusNoContent},
			{"preflight other origin", withOrigins, http.MethodOptions, preflight(other), "", 0},
			{"post allowed", withOrigins, http.MethodPost, post(allowed), allowed, http.StatusOK},
			{"post other origin", withOrigins, http.MethodPost, post(other), "", http.StatusOK},
			{"401 allowed", withOrigins, http.MethodPost, map[string]string{"Origin": allowed, "Content-Type": "application/json"}, allowed, http.StatusUnauthorized},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var body io.Reader
				if tc.method == http.MethodPost {
					body = gqlBody(t, "{ viewer { kind } }")
				}
				r := request(t, tc.srv, tc.method, "/graphql", body, tc.headers)
				if tc.wantStatus != 0 && r.status != tc.wantStatus {
					t.Errorf("status = %d, want %d: %.300s", r.status, tc.wantStatus, r.raw)
				}
				if got := r.header.Get("Access-Control-Allow-Origin"); got != tc.wantOrigin {
					t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tc.wantOrigin)
				}
				if r.header.Get("Access-Control-Allow-Credentials") != "" {
					t.Error("credentials allowed")
				}
				if tc.method != http.MethodOptions || tc.wantOrigin == "" {
					return
				}
				got := strings.ToLower(r.header.Get("Access-Control-Allow-Headers"))
				for _, h := range []string{"authorization", "content-type", "x-organization-id", "x-request-id"} {
					if !strings.Contains(got, h) {
						t.Errorf("Access-Control-Allow-Headers = %q, want %s", got, h)
					}
				}
				if m := r.header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
					t.Errorf("Access-Control-Allow-Methods = %q, want POST", m)
				}
			})
		}
	})
}

func TestAuthFailureRateLimit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		var logs syncBuffer
		cases := []struct {
			name  string
			opts  graph.Options
			limit int // failures answered 401 before 429; -1: never 429
		}{
			{"default", graph.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, graph.DefaultAuthFailureLimit},
			{"configured", graph.Options{AuthFailureLimit: 3, AuthFailureWindow: time.Hour}, 3},
			{"off", graph.Options{AuthFailureLimit: -1}, -1},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				srv := e.server(t, tc.opts)
				try := func(auth string) response {
					h := map[string]string{"Content-Type": "application/json"}
					if auth != "" {
						h["Authorization"] = auth
					}
					return request(t, srv, http.MethodPost, "/graphql", gqlBody(t, "{ viewer { kind } }"), h)
				}
				n := tc.limit
				if n < 0 {
					n = 50
				}
				// Missing and malformed credentials cost no lookup and do
				// not count (GraphiQL's placeholder key is malformed).
				for i, auth := range []string{"", "Basic x", "Bearer ", bearer("<API key>"), bearer("cfk_nope")} {
					for j := range n + 1 {
						if r := try(auth); r.status != http.StatusUnauthorized {
							t.Fatalf("malformed %d, try %d: status %d, want 401: %s", i, j+1, r.status, r.raw)
						}
					}
				}
				for i := range n {
					if r := try(bearer(unknownKey(t))); r.status != http.StatusUnauthorized {
						t.Fatalf("failure %d: status %d, want 401: %s", i+1, r.status, r.raw)
					}
				}
				r := try(bearer(e.adminKey))
				if tc.limit < 0 {
					if r.status != http.StatusOK {
						t.Fatalf("limit off: valid key got %d: %s", r.status, r.raw)
					}
					return
				}
				// Refused before the key is looked at: a valid key too.
				if r.status != http.StatusTooManyRequests {
					t.Fatalf("after %d failures: status %d, want 429: %s", n, r.status, r.raw)
				}
				if got := r.onlyError(t).code(); got != graph.CodeRateLimited {
					t.Errorf("code = %s, want %s", got, graph.CodeRateLimited)
				}
				if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
					t.Errorf("Retry-After = %q, want whole seconds >= 1", r.header.Get("Retry-After"))
				}
			})
		}
		out := logs.String()
		if !strings.Contains(out, "authentication failed") || !strings.Contains(out, "ip=127.0.0.1") || !strings.Contains(out, "reason=") {
			t.Errorf("failures are not logged with ip and reason:\n%.600s", out)
		}
	})
}

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

// A database that fails during authentication is no invalid key: 503 with
// INTERNAL, logged at error level.
func TestAuthDatabaseFailure(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		// Not migrated: the key lookup fails with "no such table".
		target := testdb.New(t, db.Dialect)
		client, _, _, err := storage.Open(context.Background(), target.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { client.Close() })
		var logs syncBuffer
		srv := httptest.NewServer(graph.NewHandler(client, graph.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}))
		t.Cleanup(srv.Close)
		key := unknownKey(t)
		for i := range graph.DefaultAuthFailureLimit + 2 {
			r := request(t, srv, http.MethodPost, "/graphql", gqlBody(t, "{ viewer { kind } }"),
				map[string]string{"Authorization": bearer(key), "Content-Type": "application/json"})
			if r.status != http.StatusServiceUnavailable {
				t.Fatalf("request %d: status = %d, want 503: %s", i+1, r.status, r.raw)
			}
			if got := r.onlyError(t).code(); got != graph.CodeInternal {
				t.Errorf("code = %s, want %s", got, graph.CodeInternal)
			}
			assertNoLeak(t, r)
		}
		if out := logs.String(); !strings.Contains(out, "level=ERROR") {
			t.Errorf("no error-level log:\n%.600s", out)
		}
	})
}

func TestBodyLimit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		small := e.server(t, graph.Options{MaxBodyBytes: 1024})
		padded := func(n int) []byte {
			b, _ := json.Marshal(map[string]any{"query": "{ viewer { kind } }"})
			return append(b[:len(b)-1], []byte(`,"extensions":{"pad":"`+strings.Repeat("x", n)+`"}}`)...)
		}
		cases := []struct {
			name       string
			srv        *httptest.Server
			body       []byte
			chunked    bool
			wantStatus int
		}{
			{"under limit", small, padded(900), false, http.StatusOK},
			{"over limit", small, padded(2000), false, http.StatusRequestEntityTooLarge},
			{"over limit chunked", small, padded(2000), true, http.StatusRequestEntityTooLarge},
			{"under limit chunked", small, padded(900), true, http.StatusOK},
			{"default limit", e.srv, padded(2 << 20), false, http.StatusRequestEntityTooLarge},
			{"default limit chunked", e.srv, padded(2 << 20), true, http.StatusRequestEntityTooLarge},
			{"default under", e.srv, padded(512 << 10), true, http.StatusOK},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var body io.Reader = bytes.NewReader(tc.body)
				if tc.chunked {
					body = io.MultiReader(body) // no length: sent chunked
				}
				r := request(t, tc.srv, http.MethodPost, "/graphql", body,
					map[string]string{"Authorization": bearer(e.adminKey), "Content-Type": "application/json"})
				if r.status != tc.wantStatus {
					t.Fatalf("status = %d, want %d: %.300s", r.status, tc.wantStatus, r.raw)
				}
				if tc.wantStatus == http.StatusOK {
					if len(r.errors) > 0 {
						t.Errorf("errors: %s", r.raw)
					}
					return
				}
				if got := r.onlyError(t).code(); got != graph.CodeTooLarge {
					t.Errorf("code = %s, want %s", got, graph.CodeTooLarge)
				}
			})
		}
	})
}

// A request past its deadline answers TIMEOUT promptly, and on PostgreSQL
// its statement is cancelled on the server, not left waiting.
func TestRequestDeadline(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		srv := e.server(t, graph.Options{RequestTimeout: 500 * time.Millisecond})
		auth := map[string]string{"Authorization": bearer(e.adminKey), "Content-Type": "application/json"}
		// Record the key's use now, so authentication writes nothing later.
		if r := request(t, srv, http.MethodPost, "/graphql", gqlBody(t, "{ viewer { kind } }"), auth); r.status != http.StatusOK {
			t.Fatalf("warm-up: %d %s", r.status, r.raw)
		}
		// Another transaction holds what the mutation needs.
		org := e.newOrganization(t, "slow")
		lockOrganization(t, e, org)
		start := time.Now()
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/graphql",
			gqlBody(t, `mutation { updateOrganization(id: "`+org+`", input: {name: "Slow"}) { id } }`))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range auth {
			req.Header.Set(k, v)
		}
		c := *srv.Client()
		c.Timeout = 10 * time.Second // without a deadline the server would wait for the lock forever
		r := do(t, &c, req)
		took := time.Since(start)
		if took > 3*time.Second {
			t.Errorf("answered after %s, want about the 500ms deadline", took)
		}
		if len(r.errors) == 0 {
			t.Fatalf("want a TIMEOUT error, got HTTP %d: %s", r.status, r.raw)
		}
		if got := r.errors[0].code(); got != graph.CodeTimeout {
			t.Errorf("code = %s, want %s: %s", got, graph.CodeTimeout, r.raw)
		}
		assertNoLeak(t, r)
		if db.Dialect == dialect.Postgres {
			waitNoLockWaiters(t, e)
		}
	})
}

// waitNoLockWaiters fails unless, within 2s, no statement of the test's
// database waits on a lock.
func waitNoLockWaiters(t *testing.T, e *env) {
	t.Helper()
	var n int
	for deadline := time.Now().Add(2 * time.Second); ; {
		err := e.sqlDB.QueryRowContext(context.Background(),
			"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND wait_event_type = 'Lock'").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n != 0 {
		t.Errorf("%d statement(s) still wait on the server after the request stopped", n)
	}
}

// A request whose client goes away stops: on PostgreSQL its statement is
// cancelled on the server, and on both dialects it does not go on to write
// once the lock it waited for is free.
func TestClientDisconnectCancels(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		auth := map[string]string{"Authorization": bearer(e.adminKey), "Content-Type": "application/json"}
		request(t, e.srv, http.MethodPost, "/graphql", gqlBody(t, "{ viewer { kind } }"), auth)
		ctx := context.Background()
		org := e.newOrganization(t, "gone")
		tx := lockOrganization(t, e, org)
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(cctx, http.MethodPost, e.srv.URL+"/graphql",
			gqlBody(t, `mutation { updateOrganization(id: "`+org+`", input: {name: "Gone"}) { id } }`))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range auth {
			req.Header.Set(k, v)
		}
		if resp, err := e.srv.Client().Do(req); err == nil {
			resp.Body.Close()
			t.Fatalf("request answered %d while the table was locked", resp.StatusCode)
		}
		if db.Dialect == dialect.Postgres {
			waitNoLockWaiters(t, e)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		var n int
		if err := e.sqlDB.QueryRowContext(ctx, "SELECT count(*) FROM cf_organizations WHERE name = 'Gone'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Error("the request of a client that went away went on and renamed the organization")
		}
	})
}

// newOrganization creates an organization as the admin and returns its ID.
func (e *env) newOrganization(t *testing.T, slug string) string {
	t.Helper()
	var data struct {
		CreateOrganization struct{ ID string }
	}
	e.mustOK(t, `mutation($slug: String!) { createOrganization(input: {name: "Org", slug: $slug}) { id } }`, map[string]any{"slug": slug}, &data)
	return data.CreateOrganization.ID
}

// lockOrganization begins a transaction that keeps others from writing
// the organization id (on SQLite: from writing anything) until it ends;
// reads go on.
func lockOrganization(t *testing.T, e *env, id string) *sql.Tx {
	t.Helper()
	ctx := context.Background()
	tx, err := e.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback() })
	q := "SELECT id FROM cf_organizations WHERE id = ?" // SQLite: BEGIN IMMEDIATE took the write lock
	if e.db.Dialect == dialect.Postgres {
		q = "SELECT id FROM cf_organizations WHERE id = $1 FOR UPDATE"
	}
	if _, err := tx.ExecContext(ctx, q, id); err != nil {
		t.Fatal(err)
	}
	return tx
}
