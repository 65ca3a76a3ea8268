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
	srv := httptest.NewServer(graph.NewHandler(c, graph.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
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
		if _, err := tenancy.AddMember(octx, c, tenancy.AddMemberInput{OrganizationID: org.ID, UserID: u.ID}); err != nil {
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
