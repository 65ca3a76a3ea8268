package graph_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/bootstrap"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Well-formed identifiers that name nothing in a fresh database.
const (
	unknownUserID = "usr_01JD3Q6X6S4W7N9ZKX2C1V0B8E"
	unknownOrgID  = "org_01JD3Q6X6S4W7N9ZKX2C1V0B8E"
	ownerRoleID   = "rol_00000000000000000000000001"
	adminEmail    = "admin@example.com"
)

// sqlLeaks are fragments that must never reach a client: they would mean a
// database or driver error was passed through.
var sqlLeaks = []string{"INSERT", "SELECT", "UNIQUE constraint", "SQLSTATE", "violates", "ent:", "sql:"}

// env is one server over one fresh, migrated database.
type env struct {
	db       testdb.Target
	client   *ent.Client
	sqlDB    *sql.DB
	srv      *httptest.Server
	adminID  pulid.ID
	adminKey string
}

func setup(t *testing.T, db testdb.Target) *env {
	t.Helper()
	client, sqlDB := testdb.Migrated(t, db)
	srv := httptest.NewServer(graph.NewHandler(client, graph.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	t.Cleanup(srv.Close)
	res, err := bootstrap.Superadmin(context.Background(), client, adminEmail, "Admin")
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	return &env{db: db, client: client, sqlDB: sqlDB, srv: srv, adminID: res.UserID, adminKey: res.Key}
}

// sys returns a context acting as the system, for test fixtures.
func sys() context.Context {
	return actor.NewContext(context.Background(), actor.System("test"))
}

// newUserKey creates an active user with platform role none and a personal
// API key with every scope, and returns the user and the key.
func (e *env) newUserKey(t *testing.T, email string) (*ent.User, string, *ent.APIKey) {
	t.Helper()
	u, err := e.client.User.Create().
		SetEmail(email).
		SetPlatformRole(user.PlatformRoleNone).
		SetStatus(user.StatusActive).
		Save(sys())
	if err != nil {
		t.Fatalf("creating user %s: %v", email, err)
	}
	key, k, err := apikey.Create(sys(), e.client, apikey.Params{Name: "test", OwnerID: u.ID, Scopes: []string{actor.ScopeAll}})
	if err != nil {
		t.Fatalf("creating key for %s: %v", email, err)
	}
	return u, key, k
}

// q is the placeholder of the n-th (1-based) query argument for the
// dialect of e.
func (e *env) q(n int) string {
	if e.db.Dialect == dialect.Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (g gqlError) code() string {
	c, _ := g.Extensions["code"].(string)
	return c
}

type response struct {
	status int
	header http.Header
	raw    []byte
	// top holds the top-level members of the body, to tell a missing
	// "data" from a null one.
	top    map[string]json.RawMessage
	data   json.RawMessage
	errors []gqlError
}

// decodeData unmarshals data into v.
func (r response) decodeData(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.data, v); err != nil {
		t.Fatalf("decoding data %s: %v", r.data, err)
	}
}

// onlyError checks that r has exactly one error and returns it.
func (r response) onlyError(t *testing.T) gqlError {
	t.Helper()
	if len(r.errors) != 1 {
		t.Fatalf("want exactly one error, got %d: %s", len(r.errors), r.raw)
	}
	return r.errors[0]
}

func bearer(key string) string { return "Bearer " + key }

// post sends a GraphQL request with the given Authorization header value
// ("" for none).
func (e *env) post(t *testing.T, auth, query string, vars map[string]any) response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return do(t, e.srv.Client(), req)
}

// postWith is post with one extra request header.
func (e *env) postWith(t *testing.T, auth, query string, vars map[string]any, name, value string) response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	req.Header.Set(name, value)
	return do(t, e.srv.Client(), req)
}

func do(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return r
	}
	if err := json.Unmarshal(raw, &r.top); err != nil {
		t.Fatalf("response is not a JSON object: %v\n%s", err, raw)
	}
	r.data = r.top["data"]
	if e, ok := r.top["errors"]; ok {
		if err := json.Unmarshal(e, &r.errors); err != nil {
			t.Fatalf("decoding errors: %v\n%s", err, raw)
		}
	}
	return r
}

// mustOK sends query with the admin key and fails unless it succeeds
// without errors.
func (e *env) mustOK(t *testing.T, query string, vars map[string]any, data any) {
	t.Helper()
	r := e.post(t, bearer(e.adminKey), query, vars)
	if r.status != http.StatusOK || len(r.errors) > 0 {
		t.Fatalf("want success, got HTTP %d: %s", r.status, r.raw)
	}
	if data != nil {
		r.decodeData(t, data)
	}
}

// assertNoLeak checks that no error message or extension of r shows SQL or
// driver text.
func assertNoLeak(t *testing.T, r response) {
	t.Helper()
	for _, e := range r.errors {
		ext, _ := json.Marshal(e.Extensions)
		for _, s := range []string{e.Message, string(ext)} {
			for _, leak := range sqlLeaks {
				if strings.Contains(s, leak) {
					t.Errorf("error leaks %q: %s", leak, s)
				}
			}
		}
	}
}

// golden compares got, indented, with testdata/name. With -update the file
// is rewritten from the first dialect's run; later dialects still compare,
// so a difference between databases always shows.
func golden(t *testing.T, db testdb.Target, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *update && db.Dialect == testdb.Dialects()[0] {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("%s differs from the golden file (run with -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, buf.Bytes(), want)
	}
}

func TestUnauthenticated(t *testing.T) {
	const (
		msgMissing   = "authentication required: send Authorization: Bearer <API key or access token>"
		msgMalformed = "malformed Authorization header: want Bearer <API key or access token>"
		msgInvalid   = "invalid, revoked or expired API key"
		msgNeither   = "invalid, revoked or expired API key or access token"
	)
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)

		// working returns a fresh key after checking that it is accepted,
		// so that a later 401 is due to what the case changes.
		working := func(t *testing.T, email string) (*ent.User, string, *ent.APIKey) {
			u, key, k := e.newUserKey(t, email)
			if r := e.post(t, bearer(key), `{ __typename }`, nil); r.status != http.StatusOK || len(r.errors) > 0 {
				t.Fatalf("fresh key refused: HTTP %d: %s", r.status, r.raw)
			}
			return u, key, k
		}

		cases := []struct {
			name string
			// auth returns the Authorization header value to send.
			auth    func(t *testing.T) string
			wantMsg string
			golden  string
		}{
			{
				name:    "no header",
				auth:    func(*testing.T) string { return "" },
				wantMsg: msgMissing,
				golden:  "unauthenticated.golden.json",
			},
			{
				name:    "basic scheme",
				auth:    func(*testing.T) string { return "Basic xyz" },
				wantMsg: msgMalformed,
			},
			{
				name:    "empty bearer",
				auth:    func(*testing.T) string { return "Bearer " },
				wantMsg: msgMalformed,
			},
			{
				name:    "bearer garbage",
				auth:    func(*testing.T) string { return "Bearer not-a-key" },
				wantMsg: msgNeither,
			},
			{
				name: "unknown well-formed key",
				auth: func(*testing.T) string {
					return bearer("cfk_abcdefgh_" + strings.Repeat("abcd", 13))
				},
				wantMsg: msgInvalid,
			},
			{
				name: "known prefix wrong secret",
				auth: func(t *testing.T) string {
					_, key, _ := working(t, "wrongsecret@example.com")
					i := strings.LastIndexByte(key, '_')
					sec := []byte(key[i+1:])
					if sec[0] == 'a' {
						sec[0] = 'b'
					} else {
						sec[0] = 'a'
					}
					return bearer(key[:i+1] + string(sec))
				},
				wantMsg: msgInvalid,
			},
			{
				name: "revoked key",
				auth: func(t *testing.T) string {
					_, key, k := working(t, "revoked@example.com")
					if err := e.client.APIKey.UpdateOneID(k.ID).SetRevokedAt(time.Now()).Exec(sys()); err != nil {
						t.Fatal(err)
					}
					return bearer(key)
				},
				wantMsg: msgInvalid,
			},
			{
				name: "expired key",
				auth: func(t *testing.T) string {
					_, key, k := working(t, "expired@example.com")
					if err := e.client.APIKey.UpdateOneID(k.ID).SetExpiresAt(time.Now().Add(-time.Minute)).Exec(sys()); err != nil {
						t.Fatal(err)
					}
					return bearer(key)
				},
				wantMsg: msgInvalid,
			},
			{
				name: "suspended owner",
				auth: func(t *testing.T) string {
					u, key, _ := working(t, "suspended@example.com")
					if err := e.client.User.UpdateOneID(u.ID).SetStatus(user.StatusSuspended).Exec(sys()); err != nil {
						t.Fatal(err)
					}
					return bearer(key)
				},
				wantMsg: msgInvalid,
			},
			{
				name: "banned owner",
				auth: func(t *testing.T) string {
					u, key, _ := working(t, "banned@example.com")
					if err := e.client.User.UpdateOneID(u.ID).SetBannedAt(time.Now()).Exec(sys()); err != nil {
						t.Fatal(err)
					}
					return bearer(key)
				},
				wantMsg: msgInvalid,
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := e.post(t, tc.auth(t), `{ users { totalCount edges { node { id email } } } }`, nil)
				if r.status != http.StatusUnauthorized {
					t.Errorf("status = %d, want 401", r.status)
				}
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
				}
				if _, ok := r.top["data"]; ok {
					t.Errorf("body has a data member: %s", r.raw)
				}
				if bytes.Contains(r.raw, []byte(adminEmail)) || bytes.Contains(r.raw, []byte(e.adminID)) {
					t.Errorf("body leaks user data: %s", r.raw)
				}
				g := r.onlyError(t)
				if g.code() != graph.CodeUnauthenticated {
					t.Errorf("code = %q, want %s", g.code(), graph.CodeUnauthenticated)
				}
				if g.Message != tc.wantMsg {
					t.Errorf("message = %q, want %q", g.Message, tc.wantMsg)
				}
				if tc.golden != "" {
					golden(t, db, tc.golden, r.raw)
				}
			})
		}

		// The admin key still works: the 401s above are about the
		// credentials, not a broken server.
		var got struct{ Users struct{ TotalCount int } }
		e.mustOK(t, `{ users { totalCount } }`, nil, &got)
		if got.Users.TotalCount < 1 {
			t.Errorf("totalCount = %d, want at least 1", got.Users.TotalCount)
		}
	})
}

func TestBootstrapKeyListsUsers(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		var got struct {
			Users struct {
				TotalCount int
				Edges      []struct {
					Node struct{ ID, Email string }
				}
			}
		}
		e.mustOK(t, `{ users { totalCount edges { node { id email } } } }`, nil, &got)
		if got.Users.TotalCount != 1 || len(got.Users.Edges) != 1 {
			t.Fatalf("users = %+v, want exactly the bootstrap user", got.Users)
		}
		n := got.Users.Edges[0].Node
		if n.Email != adminEmail {
			t.Errorf("email = %q, want %q", n.Email, adminEmail)
		}
		if !strings.HasPrefix(n.ID, "usr_") || n.ID != string(e.adminID) {
			t.Errorf("id = %q, want the bootstrap user's usr_ ID %q", n.ID, e.adminID)
		}
		if _, err := pulid.Parse(n.ID); err != nil {
			t.Errorf("id %q: %v", n.ID, err)
		}
	})
}

func TestMutationErrors(t *testing.T) {
	const (
		createUser = `mutation ($input: CreateUserInput!) { createUser(input: $input) { id email } }`
		createOrg  = `mutation ($input: CreateOrganizationInput!) { createOrganization(input: $input) { id slug } }`
		deleteUser = `mutation ($id: ID!) { deleteUser(id: $id) }`
		node       = `query ($id: ID!) { node(id: $id) { __typename id } }`
	)
	type input = map[string]any
	cases := []struct {
		name  string
		query string
		vars  map[string]any
		// before runs first, with the admin key, and must succeed.
		before   string
		bvars    map[string]any
		wantCode string
		wantMsg  string // exact, when set
		// wantData is the expected data member, compacted ("null" or an object).
		wantData string
	}{
		{
			name:     "createUser malformed email",
			query:    createUser,
			vars:     input{"input": input{"email": "not-an-email"}},
			wantCode: graph.CodeBadUserInput,
			wantMsg:  `invalid email: "not-an-email" is not a valid email address`,
			wantData: `null`,
		},
		{
			name:     "createUser duplicate email in other case",
			query:    createUser,
			vars:     input{"input": input{"email": "ADMIN@Example.COM"}},
			wantCode: graph.CodeConflict,
			wantMsg:  "a user with this email already exists",
			wantData: `null`,
		},
		{
			name:     "createOrganization bad slug",
			query:    createOrg,
			vars:     input{"input": input{"name": "Bad", "slug": "Not A Slug"}},
			wantCode: graph.CodeBadUserInput,
			wantData: `null`,
		},
		{
			name:     "createOrganization duplicate slug",
			before:   createOrg,
			bvars:    input{"input": input{"name": "Acme", "slug": "acme"}},
			query:    createOrg,
			vars:     input{"input": input{"name": "Acme again", "slug": "acme"}},
			wantCode: graph.CodeConflict,
			wantMsg:  "an organization with this slug already exists",
			wantData: `null`,
		},
		{
			name:     "createOrganization unknown parent",
			query:    createOrg,
			vars:     input{"input": input{"name": "Child", "slug": "child", "parentID": unknownOrgID}},
			wantCode: graph.CodeBadUserInput,
			wantMsg:  "a referenced object does not exist or is still in use",
			wantData: `null`,
		},
		{
			name:     "deleteUser unknown id",
			query:    deleteUser,
			vars:     input{"id": unknownUserID},
			wantCode: graph.CodeNotFound,
			wantData: `null`,
		},
		{
			name:     "deleteUser malformed id",
			query:    deleteUser,
			vars:     input{"id": "usr_nope"},
			wantCode: graph.CodeBadUserInput,
			wantData: `null`,
		},
		{
			name:     "node malformed id",
			query:    `{ node(id: "nope") { id } }`,
			wantCode: graph.CodeBadUserInput,
			wantData: `{"node":null}`,
		},
		{
			name:     "node unknown user id",
			query:    node,
			vars:     input{"id": unknownUserID},
			wantCode: graph.CodeNotFound,
			wantData: `{"node":null}`,
		},
		{
			name:     "node unknown prefix",
			query:    node,
			vars:     input{"id": "zzz_01JD3Q6X6S4W7N9ZKX2C1V0B8E"},
			wantCode: graph.CodeNotFound,
			wantData: `{"node":null}`,
		},
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		type entry struct {
			Case     string          `json:"case"`
			Status   int             `json:"status"`
			Response json.RawMessage `json:"response"`
		}
		var all []entry
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.before != "" {
					e.mustOK(t, tc.before, tc.bvars, nil)
				}
				r := e.post(t, bearer(e.adminKey), tc.query, tc.vars)
				all = append(all, entry{Case: tc.name, Status: r.status, Response: r.raw})
				if r.status != http.StatusOK {
					t.Errorf("status = %d, want 200", r.status)
				}
				assertNoLeak(t, r)
				g := r.onlyError(t)
				if g.code() != tc.wantCode {
					t.Errorf("code = %q, want %s (message %q)", g.code(), tc.wantCode, g.Message)
				}
				if g.code() == graph.CodeInternal {
					t.Errorf("got INTERNAL: %s", r.raw)
				}
				if tc.wantMsg != "" && g.Message != tc.wantMsg {
					t.Errorf("message = %q, want %q", g.Message, tc.wantMsg)
				}
				var data bytes.Buffer
				if err := json.Compact(&data, r.data); err != nil || data.String() != tc.wantData {
					t.Errorf("data = %s, want %s", r.data, tc.wantData)
				}
			})
		}
		// Nothing was written by the failed mutations: only the bootstrap
		// user and the one organization created by a "before" step.
		if n := e.client.User.Query().CountX(sys()); n != 1 {
			t.Errorf("users = %d after failed mutations, want 1", n)
		}
		if n := e.client.Organization.Query().CountX(sys()); n != 1 {
			t.Errorf("organizations = %d after failed mutations, want 1", n)
		}
		got, err := json.Marshal(all)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, db, "errors.golden.json", got)
	})
}

func TestNodesResolveByPrefix(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		var org struct{ CreateOrganization struct{ ID string } }
		e.mustOK(t, `mutation { createOrganization(input: {name: "Acme", slug: "acme"}) { id } }`, nil, &org)
		orgID := org.CreateOrganization.ID
		if !strings.HasPrefix(orgID, "org_") {
			t.Fatalf("organization id = %q, want an org_ ID", orgID)
		}

		type typed struct{ Typename, ID string }
		want := []typed{{"User", string(e.adminID)}, {"Organization", orgID}, {"Role", ownerRoleID}}

		var got struct {
			Nodes []*struct {
				Typename string `json:"__typename"`
				ID       string
			}
		}
		e.mustOK(t, `query ($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`,
			map[string]any{"ids": []string{string(e.adminID), orgID, ownerRoleID}}, &got)
		if len(got.Nodes) != len(want) {
			t.Fatalf("got %d nodes, want %d", len(got.Nodes), len(want))
		}
		for i, w := range want {
			if n := got.Nodes[i]; n == nil || n.Typename != w.Typename || n.ID != w.ID {
				t.Errorf("nodes[%d] = %+v, want %+v", i, n, w)
			}
		}

		for _, w := range want {
			t.Run("node "+w.Typename, func(t *testing.T) {
				var got struct {
					Node struct {
						Typename string `json:"__typename"`
						ID       string
					}
				}
				e.mustOK(t, `query ($id: ID!) { node(id: $id) { __typename id } }`, map[string]any{"id": w.ID}, &got)
				if got.Node.Typename != w.Typename || got.Node.ID != w.ID {
					t.Errorf("node = %+v, want %+v", got.Node, w)
				}
			})
		}
	})
}

func TestSoftDeleteThroughAPI(t *testing.T) {
	const email = "gone@example.com"
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		var created struct{ CreateUser struct{ ID string } }
		e.mustOK(t, `mutation ($e: String!) { createUser(input: {email: $e}) { id } }`, map[string]any{"e": email}, &created)
		id := created.CreateUser.ID

		var deleted struct{ DeleteUser string }
		e.mustOK(t, `mutation ($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": id}, &deleted)
		if deleted.DeleteUser != id {
			t.Errorf("deleteUser = %q, want %q", deleted.DeleteUser, id)
		}

		// Gone from the API ...
		var list struct {
			Users struct {
				TotalCount int
				Edges      []struct{ Node struct{ ID, Email string } }
			}
		}
		e.mustOK(t, `{ users { totalCount edges { node { id email } } } }`, nil, &list)
		if list.Users.TotalCount != 1 {
			t.Errorf("totalCount = %d after delete, want 1", list.Users.TotalCount)
		}
		for _, ed := range list.Users.Edges {
			if ed.Node.ID == id || ed.Node.Email == email {
				t.Errorf("deleted user still listed: %+v", ed.Node)
			}
		}
		r := e.post(t, bearer(e.adminKey), `query ($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": id})
		if g := r.onlyError(t); g.code() != graph.CodeNotFound {
			t.Errorf("node(deleted user): code = %q, want %s", g.code(), graph.CodeNotFound)
		}
		r = e.post(t, bearer(e.adminKey), `mutation ($id: ID!) { deleteUser(id: $id) }`, map[string]any{"id": id})
		if g := r.onlyError(t); g.code() != graph.CodeNotFound {
			t.Errorf("deleting again: code = %q, want %s", g.code(), graph.CodeNotFound)
		}

		// ... but the row is kept, marked deleted.
		var n int
		err := e.sqlDB.QueryRow("SELECT COUNT(*) FROM cf_users WHERE id = "+e.q(1)+" AND deleted_at IS NOT NULL", id).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("rows with id %s and deleted_at set = %d, want 1", id, n)
		}

		// The email is free again among live users.
		var again struct{ CreateUser struct{ ID, Email string } }
		e.mustOK(t, `mutation ($e: String!) { createUser(input: {email: $e}) { id email } }`, map[string]any{"e": email}, &again)
		if again.CreateUser.ID == id || again.CreateUser.Email != email {
			t.Errorf("re-created user = %+v, want a new user with %s", again.CreateUser, email)
		}
		var live, dead int
		err = e.sqlDB.QueryRow("SELECT COUNT(*) FROM cf_users WHERE email = "+e.q(1)+" AND deleted_at IS NULL", email).Scan(&live)
		if err != nil {
			t.Fatal(err)
		}
		err = e.sqlDB.QueryRow("SELECT COUNT(*) FROM cf_users WHERE email = "+e.q(1)+" AND deleted_at IS NOT NULL", email).Scan(&dead)
		if err != nil {
			t.Fatal(err)
		}
		if live != 1 || dead != 1 {
			t.Errorf("rows for %s: live %d, deleted %d; want 1 and 1", email, live, dead)
		}
		// A second live user with that email is still refused.
		r = e.post(t, bearer(e.adminKey), `mutation ($e: String!) { createUser(input: {email: $e}) { id } }`, map[string]any{"e": email})
		if g := r.onlyError(t); g.code() != graph.CodeConflict {
			t.Errorf("duplicate live email: code = %q, want %s", g.code(), graph.CodeConflict)
		}
	})
}

func TestSchemaHasNoSecrets(t *testing.T) {
	// Field names that contain a forbidden word but name a connection or
	// filter over the RefreshToken entity, not a token value; each must
	// have one of the listed named types.
	allowed := map[string][]string{
		"Query.refreshTokens":                 {"RefreshTokenConnection"},
		"User.refreshTokens":                  {"RefreshTokenConnection"},
		"UserWhereInput.hasRefreshTokens":     {"Boolean"},
		"UserWhereInput.hasRefreshTokensWith": {"RefreshTokenWhereInput"},
		// Mutations that take a password and answer only whether it worked.
		"Mutation.changePassword":  {"Boolean"},
		"Mutation.setUserPassword": {"Boolean"},
		// The tokens of a new impersonation, handed out once to its
		// impersonator as /auth/login hands out a sign-in's; never stored.
		"Impersonation.accessToken":  {"String"},
		"Impersonation.refreshToken": {"String"},
	}
	forbidden := []string{"hash", "secret", "password", "accesstoken", "refreshtoken"}
	edgeInputs := []string{"CreateUserInput", "UpdateUserInput", "CreateOrganizationInput", "UpdateOrganizationInput"}
	edgeIDFields := []string{"organizationids", "userids", "membershipids"}

	type typeRef struct {
		Name   *string
		OfType *typeRef
	}
	named := func(r typeRef) string {
		for r.Name == nil && r.OfType != nil {
			r = *r.OfType
		}
		if r.Name == nil {
			return ""
		}
		return *r.Name
	}
	type field struct {
		Name string
		Type typeRef
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		var got struct {
			Schema struct {
				Types []struct {
					Name        string
					Fields      []field
					InputFields []field
				}
			} `json:"__schema"`
		}
		const ref = `type { name ofType { name ofType { name ofType { name } } } }`
		e.mustOK(t, `{ __schema { types { name fields { name `+ref+` } inputFields { name `+ref+` } } } }`, nil, &got)

		types := map[string]bool{}
		checked := 0
		for _, ty := range got.Schema.Types {
			types[ty.Name] = true
			for _, f := range append(append([]field{}, ty.Fields...), ty.InputFields...) {
				checked++
				full := ty.Name + "." + f.Name
				lower := strings.ToLower(f.Name)
				for _, w := range forbidden {
					if !strings.Contains(lower, w) {
						continue
					}
					if ok := allowed[full]; ok != nil {
						if tn := named(f.Type); !contains(ok, tn) {
							t.Errorf("%s has type %s, want one of %v", full, tn, ok)
						}
						continue
					}
					t.Errorf("schema exposes %s (contains %q)", full, w)
				}
			}
		}
		if checked < 100 || !types["User"] || !types["APIKey"] || !types["OAuthAccount"] || !types["RefreshToken"] {
			t.Fatalf("introspection looks incomplete: %d fields over %d types", checked, len(types))
		}

		if types["CreateMembershipInput"] {
			t.Error("schema has CreateMembershipInput")
		}
		for _, name := range edgeInputs {
			if !types[name] {
				t.Errorf("schema has no input %s", name)
			}
		}
		for _, ty := range got.Schema.Types {
			if !contains(edgeInputs, ty.Name) {
				continue
			}
			for _, f := range ty.InputFields {
				for _, w := range edgeIDFields {
					if strings.Contains(strings.ToLower(f.Name), w) {
						t.Errorf("%s.%s sets an edge the API must not set directly", ty.Name, f.Name)
					}
				}
			}
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A user without platform role and without memberships sees its own rows
// only, and every write beyond its own profile is refused.
func TestPlainUserSeesOnlyItself(t *testing.T) {
	reads := []struct {
		name, query, wantData string
	}{
		{"users", `{ users { totalCount edges { node { email } } } }`, `{"users":{"totalCount":1,"edges":[{"node":{"email":"plain@example.com"}}]}}`},
		{"organizations", `{ organizations { totalCount } }`, `{"organizations":{"totalCount":0}}`},
		{"apiKeys", `{ apiKeys { totalCount edges { node { name } } } }`, `{"apiKeys":{"totalCount":1,"edges":[{"node":{"name":"test"}}]}}`},
		{"memberships", `{ memberships { totalCount } }`, `{"memberships":{"totalCount":0}}`},
		{"activities", `{ activities { totalCount } }`, `{"activities":{"totalCount":0}}`},
	}
	writes := []struct {
		name, query string
	}{
		{"createUser", `mutation { createUser(input: {email: "evil@example.com", platformRole: superadmin}) { id } }`},
		{"deleteUser admin", `mutation ($id: ID!) { deleteUser(id: $id) }`},
		{"promote self", `mutation ($me: ID!) { grantPlatformRole(userID: $me, role: superadmin, reason: "mine") { id } }`},
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		plain, key, _ := e.newUserKey(t, "plain@example.com")
		for _, tc := range reads {
			t.Run(tc.name, func(t *testing.T) {
				r := e.post(t, bearer(key), tc.query, nil)
				if r.status != http.StatusOK || len(r.errors) > 0 {
					t.Fatalf("HTTP %d: %s", r.status, r.raw)
				}
				var data bytes.Buffer
				if err := json.Compact(&data, r.data); err != nil || data.String() != tc.wantData {
					t.Errorf("data = %s, want %s", r.data, tc.wantData)
				}
				for _, leak := range []string{adminEmail, string(e.adminID)} {
					if bytes.Contains(r.raw, []byte(leak)) {
						t.Errorf("response leaks %q: %s", leak, r.raw)
					}
				}
			})
		}
		for _, tc := range writes {
			t.Run(tc.name, func(t *testing.T) {
				vars := map[string]any{}
				if strings.Contains(tc.query, "$id") {
					vars["id"] = string(e.adminID)
				}
				if strings.Contains(tc.query, "$me") {
					vars["me"] = string(plain.ID)
				}
				r := e.post(t, bearer(key), tc.query, vars)
				assertNoLeak(t, r)
				g := r.onlyError(t)
				if g.code() != graph.CodeForbidden && g.code() != graph.CodeNotFound {
					t.Errorf("code = %q, want FORBIDDEN or NOT_FOUND (message %q)", g.code(), g.Message)
				}
				if bytes.Contains(r.raw, []byte(adminEmail)) {
					t.Errorf("response leaks the admin: %s", r.raw)
				}
			})
		}
		// The refused mutations changed nothing.
		if _, err := e.client.User.Get(sys(), e.adminID); err != nil {
			t.Errorf("admin user after refused delete: %v", err)
		}
		if n := e.client.User.Query().CountX(sys()); n != 2 {
			t.Errorf("users = %d, want 2", n)
		}
		if u := e.client.User.GetX(sys(), plain.ID); u.PlatformRole != user.PlatformRoleNone {
			t.Errorf("plain user promoted itself to %s", u.PlatformRole)
		}
	})
}

func TestPlainEndpoints(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		notReady := httptest.NewServer(graph.NewHandler(e.client, graph.Options{
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready:  func(context.Context) error { return errors.New("database down") },
		}))
		t.Cleanup(notReady.Close)
		ready := httptest.NewServer(graph.NewHandler(e.client, graph.Options{
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready:  func(ctx context.Context) error { return e.sqlDB.PingContext(ctx) },
		}))
		t.Cleanup(ready.Close)
		stamped := httptest.NewServer(graph.NewHandler(e.client, graph.Options{
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			Version: "v1.2.3", Revision: "0123abcd", Modified: true,
		}))
		t.Cleanup(stamped.Close)
		clean := httptest.NewServer(graph.NewHandler(e.client, graph.Options{
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			Version: "v1.2.3", Revision: "0123abcd",
		}))
		t.Cleanup(clean.Close)
		unstamped := httptest.NewServer(graph.NewHandler(e.client, graph.Options{
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			Version: "(devel)",
		}))
		t.Cleanup(unstamped.Close)

		cases := []struct {
			name       string
			srv        *httptest.Server
			path       string
			wantStatus int
			wantType   string
			wantBody   *regexp.Regexp
		}{
			// The first line stays "ok" for probes that match it; the build
			// of the test binary has a version and no VCS stamp.
			{"healthz", e.srv, "/healthz", http.StatusOK, "text/plain", regexp.MustCompile(`^ok\nversion \S+\n(revision [0-9a-f]+( \(modified\))?\n)?$`)},
			{"healthz modified build", stamped, "/healthz", http.StatusOK, "text/plain", regexp.MustCompile(`^ok\nversion v1\.2\.3\nrevision 0123abcd \(modified\)\n$`)},
			{"healthz clean build", clean, "/healthz", http.StatusOK, "text/plain", regexp.MustCompile(`^ok\nversion v1\.2\.3\nrevision 0123abcd\n$`)},
			{"healthz without revision", unstamped, "/healthz", http.StatusOK, "text/plain", regexp.MustCompile(`^ok\nversion \(devel\)\n$`)},
			{"readyz", e.srv, "/readyz", http.StatusOK, "text/plain", regexp.MustCompile(`^ready\n$`)},
			{"readyz with ping", ready, "/readyz", http.StatusOK, "text/plain", regexp.MustCompile(`^ready\n$`)},
			{"readyz not ready", notReady, "/readyz", http.StatusServiceUnavailable, "text/plain", regexp.MustCompile(`^not ready\n$`)},
			{"graphiql", e.srv, "/", http.StatusOK, "text/html", regexp.MustCompile(`(?is)<html.*graphiql.*/graphql`)},
			{"unknown path", e.srv, "/nope", http.StatusNotFound, "", nil},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				req, err := http.NewRequest(http.MethodGet, tc.srv.URL+tc.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				r := do(t, tc.srv.Client(), req)
				if r.status != tc.wantStatus {
					t.Errorf("status = %d, want %d", r.status, tc.wantStatus)
				}
				if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, tc.wantType) {
					t.Errorf("Content-Type = %q, want %s", ct, tc.wantType)
				}
				if tc.wantBody != nil && !tc.wantBody.Match(r.raw) {
					t.Errorf("body does not match %s:\n%.400s", tc.wantBody, r.raw)
				}
				if r.header.Get("X-Request-ID") == "" {
					t.Error("no X-Request-ID header")
				}
			})
		}
	})
}
