package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/bootstrap"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/predicate"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
)

// logBuffer is a log sink shared by the server's goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// setupLogged is setup with the server's log kept, to check that a request
// neither panicked nor logged an internal error.
func setupLogged(t testing.TB, db testdb.Target) (*env, *logBuffer) {
	t.Helper()
	client, sqlDB := testdb.Migrated(t, db)
	logs := &logBuffer{}
	srv := httptest.NewServer(graph.NewHandler(client, graph.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))}))
	t.Cleanup(srv.Close)
	res, err := bootstrap.Superadmin(context.Background(), client, adminEmail, "Admin")
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	return &env{db: db, client: client, sqlDB: sqlDB, srv: srv, adminID: res.UserID, adminKey: res.Key}, logs
}

// stackLeaks are fragments of Go panics and stack traces.
var stackLeaks = []string{"goroutine ", "panic", ".go:", "runtime."}

// assertTyped checks what every error answer must hold: at least one
// error, each with an extensions.code, none INTERNAL, and no SQL, driver
// text or stack in any message.
func assertTyped(t *testing.T, r response) {
	t.Helper()
	if len(r.errors) == 0 {
		t.Fatalf("want an error, got HTTP %d: %s", r.status, r.raw)
	}
	assertNoLeak(t, r)
	for _, g := range r.errors {
		if g.code() == "" {
			t.Errorf("error without extensions.code: %s", r.raw)
		}
		if g.code() == graph.CodeInternal {
			t.Errorf("caller mistake answered INTERNAL: %s", r.raw)
		}
		for _, leak := range stackLeaks {
			if strings.Contains(g.Message, leak) {
				t.Errorf("error leaks %q: %s", leak, g.Message)
			}
		}
	}
}

// assertQuietLog fails when the server recovered a panic or logged an
// internal error.
func assertQuietLog(t *testing.T, logs *logBuffer) {
	t.Helper()
	for _, bad := range []string{"graphql: panic", "graphql: internal error", "level=ERROR"} {
		if s := logs.String(); strings.Contains(s, bad) {
			t.Errorf("server log holds %q:\n%s", bad, s)
		}
	}
}

// TestCallerMistakes sends, over the real HTTP handler, requests that are
// the caller's mistake: each is answered with its status and a typed code
// (never INTERNAL, never without a code), a message that holds no SQL or
// stack, and no panic in the server. The bodies are in the golden file
// testdata/caller-errors.golden.json.
func TestCallerMistakes(t *testing.T) {
	type input = map[string]any
	const (
		users      = `query ($w: UserWhereInput) { users(where: $w) { totalCount } }`
		updateUser = `mutation ($id: ID!, $m: Map) { updateUser(id: $id, input: {metadata: $m}) { id } }`
		createOrg  = `mutation ($name: String!) { createOrganization(input: {name: $name, slug: "nul-org"}) { id } }`
		createKey  = `mutation ($t: Time) { createAPIKey(input: {name: "k", scopes: ["*"], expiresAt: $t}) { key } }`
		nested     = `{ users { edges { node { memberships(%s) { totalCount } } } } }`
		batchBody  = `[{"query":"{ __typename }"},{"query":"{ __typename }"}]`
		jsonCT     = "application/json"
	)
	cases := []struct {
		name string
		// A GraphQL request (query, vars) sent with POST, or, when
		// method is set, a raw request.
		query       string
		vars        map[string]any
		method      string
		contentType string
		body        string
		rawQuery    string // URL query of a raw request
		header      [2]string
		// only restricts the case to one dialect; it is then left out
		// of the golden file.
		only       string
		wantStatus int
		wantCode   string
		wantMsg    string // substring of the only error's message
		wantAllow  string
	}{
		{name: "after not a cursor", query: `{ users(after: "nope") { totalCount } }`,
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: `invalid Cursor "nope": not a cursor of this server`},
		{name: "before not a cursor", query: `{ users(before: "Z2FyYmFnZQ", last: 2) { totalCount } }`,
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "invalid Cursor"},
		{name: "cursor that panicked the decoder", query: `{ users(after: "gqF27aF270") { totalCount } }`,
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: `invalid Cursor "gqF27aF270"`},
		{name: "cursor not a string", query: `{ users(after: 5) { totalCount } }`,
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "want a string, got a number"},
		{name: "time not RFC 3339", query: users, vars: input{"w": input{"createdAtGT": "yesterday"}},
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: `invalid Time "yesterday": want an RFC 3339`},
		{name: "time literal not a string", query: `{ users(where: {createdAtGT: 12}) { totalCount } }`,
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "invalid Time"},
		{name: "map is a list", query: updateUser, vars: input{"id": unknownUserID, "m": []any{1, 2}},
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "invalid Map: want a JSON object"},
		{name: "map literal is a string", query: `mutation { createUser(input: {email: "a@example.com", metadata: "x"}) { id } }`,
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "got a string"},
		{name: "api key expiry in the past", query: createKey, vars: input{"t": "2000-01-01T00:00:00Z"},
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "invalid expiresAt: 2000-01-01T00:00:00Z is not in the future"},
		{name: "empty idIn inside or", query: users, vars: input{"w": input{"or": []any{input{"idIn": []any{}}}}},
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "empty filter"},
		{name: "empty where inside not", query: `{ users(where: {not: {}}) { totalCount } }`,
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "empty filter"},
		{name: "NUL in a filter", query: users, vars: input{"w": input{"emailContains": "a\x00b"}},
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "NUL character"},
		{name: "NUL in a mutation input", query: createOrg, vars: input{"name": "Acme\x00"},
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "NUL character"},
		{name: "NUL in a map", query: updateUser, vars: input{"id": unknownUserID, "m": input{"k": []any{"x\x00"}}},
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "invalid Map: a string contains a NUL character"},
		{name: "NUL in a map key", query: updateUser, vars: input{"id": unknownUserID, "m": input{"k\x00": 1}},
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "invalid Map: a key contains a NUL character"},
		{name: "LIKE pattern too complex", query: users, vars: input{"w": input{"emailContains": strings.Repeat("a%", 30000)}},
			only: dialect.SQLite, wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "a text filter (such as emailContains) is too long"},
		{name: "first with last", query: `{ users(first: 1, last: 1) { totalCount } }`,
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "first and last cannot be used together"},
		{name: "nested first with last", query: fmt.Sprintf(nested, "first: 1, last: 1"),
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "first and last cannot be used together"},
		{name: "nested negative first", query: fmt.Sprintf(nested, "first: -1"),
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "first and last must be between 0 and 1000"},
		{name: "nested negative last", query: fmt.Sprintf(nested, "last: -1"),
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "first and last must be between 0 and 1000"},
		{name: "negative first", query: `{ users(first: -1) { totalCount } }`,
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "first and last must be between 0 and 1000"},
		{name: "document does not parse", query: `{ users {`,
			wantStatus: 422, wantCode: "GRAPHQL_PARSE_FAILED"},
		{name: "document does not validate", query: `{ nope }`,
			wantStatus: 422, wantCode: "GRAPHQL_VALIDATION_FAILED"},
		{name: "variable of the wrong type", query: `query ($n: Int) { users(first: $n) { totalCount } }`, vars: input{"n": "ten"},
			wantStatus: 422, wantCode: "GRAPHQL_VALIDATION_FAILED"},
		{name: "truncated body", method: "POST", contentType: jsonCT, body: `{`,
			wantStatus: 400, wantCode: graph.CodeBadUserInput, wantMsg: "the request body is not a JSON object"},
		{name: "batch body", method: "POST", contentType: jsonCT, body: batchBody,
			wantStatus: 400, wantCode: graph.CodeBadUserInput, wantMsg: "batched requests are not supported"},
		{name: "empty body", method: "POST", contentType: jsonCT, body: "",
			wantStatus: 400, wantCode: graph.CodeBadUserInput, wantMsg: "the request body is empty"},
		{name: "body is a string", method: "POST", contentType: jsonCT, body: `"{ __typename }"`,
			wantStatus: 400, wantCode: graph.CodeBadUserInput, wantMsg: "the request body is not a JSON object"},
		{name: "data after the body", method: "POST", contentType: jsonCT, body: `{"query":"{ __typename }"} {}`,
			wantStatus: 400, wantCode: graph.CodeBadUserInput, wantMsg: "data after its JSON object"},
		{name: "variables not an object", method: "POST", contentType: jsonCT, body: `{"query":"{ __typename }","variables":[1]}`,
			wantStatus: 400, wantCode: graph.CodeBadUserInput, wantMsg: "variables must be a JSON object"},
		{name: "query not a string", method: "POST", contentType: jsonCT, body: `{"query":{"a":1}}`,
			wantStatus: 400, wantCode: graph.CodeBadUserInput, wantMsg: "query must be a string"},
		{name: "PUT", method: "PUT", contentType: jsonCT, body: `{"query":"{ __typename }"}`,
			wantStatus: 405, wantCode: graph.CodeBadUserInput, wantMsg: "method PUT is not supported", wantAllow: "GET, POST, OPTIONS"},
		{name: "DELETE", method: "DELETE",
			wantStatus: 405, wantCode: graph.CodeBadUserInput, wantMsg: "method DELETE is not supported", wantAllow: "GET, POST, OPTIONS"},
		{name: "form body", method: "POST", contentType: "application/x-www-form-urlencoded", body: "query=%7B__typename%7D",
			wantStatus: 415, wantCode: graph.CodeBadUserInput, wantMsg: "Content-Type application/x-www-form-urlencoded is not supported"},
		{name: "text body", method: "POST", contentType: "text/plain", body: `{"query":"{ __typename }"}`,
			wantStatus: 415, wantCode: graph.CodeBadUserInput, wantMsg: "Content-Type text/plain is not supported"},
		{name: "body without content type", method: "POST", body: `{"query":"{ __typename }"}`,
			wantStatus: 415, wantCode: graph.CodeBadUserInput, wantMsg: "a POST needs Content-Type: application/json"},
		{name: "websocket upgrade", method: "GET", rawQuery: "query=%7B__typename%7D", header: [2]string{"Upgrade", "websocket"},
			wantStatus: 400, wantCode: graph.CodeBadUserInput, wantMsg: "protocol upgrades"},
		{name: "mutation over GET", method: "GET", rawQuery: "query=" + url.QueryEscape(`mutation { deleteUser(id: "`+unknownUserID+`") }`),
			wantStatus: 405, wantCode: graph.CodeBadUserInput, wantMsg: "GET serves queries only", wantAllow: "POST"},
		{name: "GET variables not JSON", method: "GET", rawQuery: "query=%7B__typename%7D&variables=%7B",
			wantStatus: 400, wantCode: graph.CodeBadUserInput, wantMsg: "variables must be a JSON object"},
		{name: "GET bad URL escape", method: "GET", rawQuery: "query=%zz",
			wantStatus: 400, wantCode: graph.CodeBadUserInput, wantMsg: "the URL query could not be parsed"},
		{name: "GET bad time", method: "GET", rawQuery: "query=" + url.QueryEscape(`{ users(where: {createdAtGT: "x"}) { totalCount } }`),
			wantStatus: 200, wantCode: graph.CodeBadUserInput, wantMsg: "invalid Time"},
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e, logs := setupLogged(t, db)
		type entry struct {
			Case     string          `json:"case"`
			Status   int             `json:"status"`
			Allow    string          `json:"allow,omitempty"`
			Response json.RawMessage `json:"response"`
		}
		var all []entry
		for _, tc := range cases {
			if tc.only != "" && tc.only != db.Dialect {
				continue
			}
			t.Run(tc.name, func(t *testing.T) {
				var r response
				if tc.method == "" {
					r = e.post(t, bearer(e.adminKey), tc.query, tc.vars)
				} else {
					req, err := http.NewRequest(tc.method, e.srv.URL+"/graphql", strings.NewReader(tc.body))
					if err != nil {
						t.Fatal(err)
					}
					req.URL.RawQuery = tc.rawQuery
					req.Header.Set("Authorization", bearer(e.adminKey))
					if tc.contentType != "" {
						req.Header.Set("Content-Type", tc.contentType)
					}
					if tc.header[0] != "" {
						req.Header.Set(tc.header[0], tc.header[1])
					}
					r = do(t, e.srv.Client(), req)
				}
				if r.status != tc.wantStatus {
					t.Errorf("status = %d, want %d: %s", r.status, tc.wantStatus, r.raw)
				}
				if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Fatalf("Content-Type = %q, want JSON: %s", ct, r.raw)
				}
				if got := r.header.Get("Allow"); got != tc.wantAllow {
					t.Errorf("Allow = %q, want %q", got, tc.wantAllow)
				}
				assertTyped(t, r)
				g := r.onlyError(t)
				if g.code() != tc.wantCode {
					t.Errorf("code = %q, want %s: %s", g.code(), tc.wantCode, r.raw)
				}
				if !strings.Contains(g.Message, tc.wantMsg) {
					t.Errorf("message = %q, want it to hold %q", g.Message, tc.wantMsg)
				}
				assertQuietLog(t, logs)
				if tc.only == "" {
					all = append(all, entry{Case: tc.name, Status: r.status, Allow: r.header.Get("Allow"), Response: r.raw})
				}
			})
		}
		got, err := json.Marshal(all)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, db, "caller-errors.golden.json", got)
	})
}

// TestNullArgumentsAreOmitted: an explicit null for an optional argument of
// a root or nested connection (where, orderBy, before, after) answers as
// if the argument were left out. A nested `where: null` once reached
// gqlgen's input unmarshaler as a nil value and failed as an internal
// error (ent/entc.go patches the generated guard).
func TestNullArgumentsAreOmitted(t *testing.T) {
	const (
		root   = `{ users%s { totalCount edges { node { id } } } }`
		nested = `{ users { edges { node { id memberships%s { totalCount edges { node { id } } } } } } }`
	)
	cases := []struct{ name, shape, with, without string }{
		{"root where", root, "(where: null)", ""},
		{"root orderBy", root, "(orderBy: null)", ""},
		{"root cursors", root, "(after: null, before: null)", ""},
		{"nested where", nested, "(where: null)", ""},
		{"nested where and first", nested, "(first: 5, where: null)", "(first: 5)"},
		{"nested orderBy", nested, "(orderBy: null)", ""},
		{"nested cursors", nested, "(after: null, before: null)", ""},
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e, logs := setupLogged(t, db)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				want := e.post(t, bearer(e.adminKey), fmt.Sprintf(tc.shape, tc.without), nil)
				got := e.post(t, bearer(e.adminKey), fmt.Sprintf(tc.shape, tc.with), nil)
				if want.status != 200 || strings.Contains(string(want.raw), `"errors"`) {
					t.Fatalf("without the null: %d %s", want.status, want.raw)
				}
				if !strings.Contains(string(want.raw), `"node"`) {
					t.Fatalf("the fixture answers no rows: %s", want.raw)
				}
				if got.status != want.status || string(got.raw) != string(want.raw) {
					t.Errorf("with %s: %d %s\nwant %d %s", tc.with, got.status, got.raw, want.status, want.raw)
				}
				assertQuietLog(t, logs)
			})
		}
	})
}

// TestDatabaseErrorsAreTyped provokes, through the ent client on the real
// databases, the errors a caller's input can cause in SQLite and
// PostgreSQL (where GraphQL's own checks would stop that input first), and
// checks that PresentError gives each its code and a message without SQL.
func TestDatabaseErrorsAreTyped(t *testing.T) {
	notN := func(n int) predicate.User {
		p := user.EmailContains("x")
		for range n {
			p = user.Not(p)
		}
		return p
	}
	ids := func(n int) []pulid.ID {
		out := make([]pulid.ID, n)
		for i := range out {
			out[i] = pulid.ID(unknownUserID)
		}
		return out
	}
	cases := []struct {
		name     string
		only     string
		run      func(ctx context.Context, c *ent.Client) error
		wantCode string
	}{
		{
			name: "NUL in text", only: dialect.Postgres, wantCode: graph.CodeBadUserInput,
			run: func(ctx context.Context, c *ent.Client) error {
				return c.Organization.Create().SetName("Acme\x00").SetSlug("acme").Exec(ctx)
			},
		},
		{
			name: "NUL in JSON", only: dialect.Postgres, wantCode: graph.CodeBadUserInput,
			run: func(ctx context.Context, c *ent.Client) error {
				return c.Organization.Create().SetName("Acme").SetSlug("acme").SetMetadata(map[string]any{"k": "a\x00"}).Exec(ctx)
			},
		},
		{
			name: "NUL in a filter", only: dialect.Postgres, wantCode: graph.CodeBadUserInput,
			run: func(ctx context.Context, c *ent.Client) error {
				_, err := c.User.Query().Where(user.EmailContains("a\x00")).Count(ctx)
				return err
			},
		},
		{
			name: "deeply nested filter", wantCode: graph.CodeTooComplex,
			run: func(ctx context.Context, c *ent.Client) error {
				// Over SQLite's expression depth (1000) and PostgreSQL's
				// parser stack ("memory exhausted" past about 3300).
				_, err := c.User.Query().Where(notN(5000)).Count(ctx)
				return err
			},
		},
		{
			name: "too many arguments", wantCode: graph.CodeTooComplex,
			run: func(ctx context.Context, c *ent.Client) error {
				_, err := c.User.Query().Where(user.IDIn(ids(70000)...)).Count(ctx)
				return err
			},
		},
		{
			name: "LIKE pattern too complex", only: dialect.SQLite, wantCode: graph.CodeBadUserInput,
			run: func(ctx context.Context, c *ent.Client) error {
				_, err := c.User.Query().Where(user.EmailContains(strings.Repeat("a%", 30000))).Count(ctx)
				return err
			},
		},
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		client, _ := testdb.Migrated(t, db)
		// A row for the filters to be evaluated on: SQLite checks a LIKE
		// pattern only when it has a row to compare.
		if err := client.User.Create().SetEmail("someone@example.com").Exec(sys()); err != nil {
			t.Fatal(err)
		}
		for _, tc := range cases {
			if tc.only != "" && tc.only != db.Dialect {
				continue
			}
			t.Run(tc.name, func(t *testing.T) {
				err := tc.run(sys(), client)
				if err == nil {
					t.Fatal("the database accepted the input; the case provokes nothing")
				}
				g := graph.PresentError(sys(), err)
				if got := g.Extensions["code"]; got != tc.wantCode {
					t.Errorf("code = %v, want %s (message %q; database error %v)", got, tc.wantCode, g.Message, err)
				}
				for _, leak := range append(sqlLeaks, "SELECT", "ERROR") {
					if strings.Contains(g.Message, leak) {
						t.Errorf("message leaks %q: %s", leak, g.Message)
					}
				}
			})
		}
	})
}

// TestNoPanicOnUndecodableBody checks the transaction extension directly:
// a body that fails before any operation exists is answered without the
// recover function ever running (it logs "graphql: panic").
func TestNoPanicOnUndecodableBody(t *testing.T) {
	db := testdb.New(t, dialect.SQLite)
	e, logs := setupLogged(t, db)
	for _, body := range []string{"{", "[", "[]", `[{"query":"mutation { deleteUser(id: \"` + unknownUserID + `\") }"}]`, "\x00", "nul", "{\"query\": 1}"} {
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", bearer(e.adminKey))
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("body %q: status = %d, want 400", body, resp.StatusCode)
		}
	}
	assertQuietLog(t, logs)
}

// TestCursorOfAnotherOrder reuses a real cursor with an orderBy it was not
// made for: a different number of order fields (entgql refuses it) or an
// order field of another type (PostgreSQL refuses the comparison). Both
// are the caller's mistake: BAD_USER_INPUT, never INTERNAL.
func TestCursorOfAnotherOrder(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		e.newUserKey(t, "second@example.com")
		var page struct {
			Users struct {
				Edges []struct{ Cursor string }
			}
		}
		e.mustOK(t, `{ users(first: 1, orderBy: [{field: EMAIL}]) { edges { cursor } } }`, nil, &page)
		if len(page.Users.Edges) != 1 {
			t.Fatalf("want one edge, got %+v", page)
		}
		cursor := page.Users.Edges[0].Cursor
		for _, c := range []struct {
			name, orderBy string
			// sqliteOK: SQLite compares values of any type, so the page
			// is answered there.
			sqliteOK bool
		}{
			{"more order fields", `[{field: EMAIL}, {field: CREATED_AT}]`, false},
			{"an order field of another type", `[{field: CREATED_AT}]`, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.post(t, bearer(e.adminKey), `query($c: Cursor) { users(first: 1, after: $c, orderBy: `+c.orderBy+`) { edges { cursor } } }`,
					map[string]any{"c": cursor})
				if c.sqliteOK && db.Name() == "sqlite" && len(r.errors) == 0 {
					return
				}
				if len(r.errors) != 1 || r.errors[0].code() != graph.CodeBadUserInput || !strings.Contains(r.errors[0].Message, "the cursor does not fit this orderBy") {
					t.Fatalf("want one %s error about the cursor, got HTTP %d: %.400s", graph.CodeBadUserInput, r.status, r.raw)
				}
				assertNoLeak(t, r)
			})
		}
	})
}
