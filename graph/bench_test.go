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
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/tenancy"
)

// BenchmarkNestedQueryAsMember measures one authenticated GraphQL request
// of nestedQuery by a member of an organization of 50 members, end to end
// over HTTP on SQLite: authentication, permission resolution, filtered
// queries and JSON. Compare runs with benchstat.
func BenchmarkNestedQueryAsMember(b *testing.B) {
	db := testdb.New(b, dialect.SQLite)
	c, _ := testdb.Migrated(b, db)
	// nestedQuery costs about four million, over the default complexity
	// limit (as in TestNestedQueryStatementCount).
	srv := httptest.NewServer(graph.NewHandler(c, graph.Options{ComplexityLimit: 1 << 40, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	b.Cleanup(srv.Close)
	sys := actor.NewContext(context.Background(), actor.System("bench"))
	owner := c.User.Create().SetEmail("owner@example.com").SetStatus(user.StatusActive).SaveX(sys)
	octx, err := authz.NewContext(context.Background(), c, actor.User(owner.ID, actor.PlatformNone))
	if err != nil {
		b.Fatal(err)
	}
	org, err := tenancy.CreateOrganization(octx, c, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"})
	if err != nil {
		b.Fatal(err)
	}
	var member *ent.User
	for i := 0; i < 49; i++ {
		u := c.User.Create().SetEmail(fmt.Sprintf("m%d@example.com", i)).SetStatus(user.StatusActive).SaveX(sys)
		// The system adds the members (a direct add is a platform act).
		if _, err := tenancy.AddMember(sys, c, tenancy.AddMemberInput{OrganizationID: org.ID, UserID: u.ID}); err != nil {
			b.Fatal(err)
		}
		member = u
	}
	key, _, err := apikey.Create(sys, c, apikey.Params{Name: "bench", OwnerID: member.ID, Scopes: []string{actor.ScopeAll}})
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"query": nestedQuery})
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errors"`)) {
			b.Fatalf("HTTP %d: %s", resp.StatusCode, out)
		}
	}
}

// BenchmarkResolveGrants measures authz.NewContext for a member of three
// organizations.
func BenchmarkResolveGrants(b *testing.B) {
	db := testdb.New(b, dialect.SQLite)
	c, _ := testdb.Migrated(b, db)
	sys := actor.NewContext(context.Background(), actor.System("bench"))
	u := c.User.Create().SetEmail("u@example.com").SetStatus(user.StatusActive).SaveX(sys)
	uctx, err := authz.NewContext(context.Background(), c, actor.User(u.ID, actor.PlatformNone))
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := tenancy.CreateOrganization(uctx, c, ent.CreateOrganizationInput{Name: "O", Slug: fmt.Sprintf("o-%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := authz.NewContext(context.Background(), c, actor.User(u.ID, actor.PlatformNone)); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSignIn starts a server with sign-in over a fresh SQLite database
// (the /auth/* rate limits off) and creates a member of an organization
// with a password and a personal API key.
func benchSignIn(b *testing.B) (srv *httptest.Server, email, key string) {
	b.Helper()
	db := testdb.New(b, dialect.SQLite)
	c, _ := testdb.Migrated(b, db)
	m := newManager(b, c, newMasterKey(b), nil)
	srv = httptest.NewServer(graph.NewHandler(c, graph.Options{Sessions: m, AuthRateIP: -1, AuthRateAccount: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	b.Cleanup(srv.Close)
	sys := actor.NewContext(context.Background(), actor.System("bench"))
	owner := c.User.Create().SetEmail("owner@example.com").SetStatus(user.StatusActive).SaveX(sys)
	octx, err := authz.NewContext(context.Background(), c, actor.User(owner.ID, actor.PlatformNone))
	if err != nil {
		b.Fatal(err)
	}
	org, err := tenancy.CreateOrganization(octx, c, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"})
	if err != nil {
		b.Fatal(err)
	}
	email = "member@example.com"
	active, pw := user.StatusActive, testPassword
	u, err := m.CreateUser(sys, c, ent.CreateUserInput{Email: email, Status: &active}, &pw)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := tenancy.AddMember(sys, c, tenancy.AddMemberInput{OrganizationID: org.ID, UserID: u.ID}); err != nil {
		b.Fatal(err)
	}
	key, _, err = apikey.Create(sys, c, apikey.Params{Name: "bench", OwnerID: u.ID, Scopes: []string{actor.ScopeAll}})
	if err != nil {
		b.Fatal(err)
	}
	return srv, email, key
}

// benchPost posts a JSON body to path of srv, with the bearer credential
// when not empty, and fails unless the answer is 2xx without errors.
func benchPost(b *testing.B, srv *httptest.Server, path, credential string, body []byte) []byte {
	req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if credential != "" {
		req.Header.Set("Authorization", "Bearer "+credential)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || bytes.Contains(out, []byte(`"errors"`)) {
		b.Fatalf("%s: HTTP %d: %s", path, resp.StatusCode, out)
	}
	return out
}

// benchLogin signs in and returns the token answer.
func benchLogin(b *testing.B, srv *httptest.Server, email string) tokenAnswer {
	body, _ := json.Marshal(map[string]string{"email": email, "password": testPassword})
	var tok tokenAnswer
	if err := json.Unmarshal(benchPost(b, srv, "/auth/login", "", body), &tok); err != nil {
		b.Fatal(err)
	}
	return tok
}

const benchViewerQuery = `{ viewer { kind user { email } } }`

// BenchmarkRequestAccessToken measures a /graphql request (the viewer and
// its user) authenticated by an access token: offline verification, one
// session lookup, the permissions and the query. Compare with
// BenchmarkRequestAPIKey.
func BenchmarkRequestAccessToken(b *testing.B) {
	srv, email, _ := benchSignIn(b)
	access := benchLogin(b, srv, email).AccessToken
	body, _ := json.Marshal(map[string]any{"query": benchViewerQuery})
	b.ReportAllocs()
	for b.Loop() {
		benchPost(b, srv, "/graphql", access, body)
	}
}

// BenchmarkRequestAPIKey is BenchmarkRequestAccessToken with the member's
// personal API key.
func BenchmarkRequestAPIKey(b *testing.B) {
	srv, _, key := benchSignIn(b)
	body, _ := json.Marshal(map[string]any{"query": benchViewerQuery})
	b.ReportAllocs()
	for b.Loop() {
		benchPost(b, srv, "/graphql", key, body)
	}
}

// BenchmarkLoginHTTP measures POST /auth/login with the right password:
// argon2id at secret.MinArgon2 (the server default is stronger), the
// locked row update, the session, its refresh token, the activity and the
// signature.
func BenchmarkLoginHTTP(b *testing.B) {
	srv, email, _ := benchSignIn(b)
	body, _ := json.Marshal(map[string]string{"email": email, "password": testPassword})
	b.ReportAllocs()
	for b.Loop() {
		benchPost(b, srv, "/auth/login", "", body)
	}
}

// BenchmarkRefreshHTTP measures POST /auth/refresh, each iteration
// rotating the refresh token handed out by the one before.
func BenchmarkRefreshHTTP(b *testing.B) {
	srv, email, _ := benchSignIn(b)
	refresh := benchLogin(b, srv, email).RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		body, _ := json.Marshal(map[string]string{"refreshToken": refresh})
		var tok tokenAnswer
		if err := json.Unmarshal(benchPost(b, srv, "/auth/refresh", "", body), &tok); err != nil {
			b.Fatal(err)
		}
		refresh = tok.RefreshToken
	}
}
