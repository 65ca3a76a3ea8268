package graph_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
)

func TestConnectionsArePaged(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		n := graph.DefaultPageSize + 5
		bulk := make([]*ent.UserCreate, n)
		for i := range bulk {
			bulk[i] = e.client.User.Create().SetEmail(fmt.Sprintf("user%03d@example.com", i))
		}
		e.client.User.CreateBulk(bulk...).ExecX(sys())

		var page struct {
			Users struct {
				TotalCount int
				PageInfo   struct{ HasNextPage bool }
				Edges      []struct{ Node struct{ ID string } }
			}
		}
		e.mustOK(t, `{ users { totalCount pageInfo { hasNextPage } edges { node { id } } } }`, nil, &page)
		if page.Users.TotalCount != n+1 || len(page.Users.Edges) != graph.DefaultPageSize || !page.Users.PageInfo.HasNextPage {
			t.Fatalf("default page: totalCount %d, %d edges, hasNextPage %v; want %d, %d, true",
				page.Users.TotalCount, len(page.Users.Edges), page.Users.PageInfo.HasNextPage, n+1, graph.DefaultPageSize)
		}

		bad := []struct{ name, query string }{
			{"first too large", fmt.Sprintf(`{ users(first: %d) { totalCount } }`, graph.MaxPageSize+1)},
			{"last too large", fmt.Sprintf(`{ users(last: %d) { totalCount } }`, graph.MaxPageSize+1)},
			{"negative", `{ users(first: -1) { totalCount } }`},
			{"nested edge too large", fmt.Sprintf(`{ users(first: 1) { edges { node { memberships(first: %d) { totalCount } } } } }`, graph.MaxPageSize+1)},
		}
		for _, b := range bad {
			t.Run(b.name, func(t *testing.T) {
				r := e.post(t, bearer(e.adminKey), b.query, nil)
				if r.status != http.StatusOK || len(r.errors) == 0 || r.errors[0].code() != graph.CodeBadUserInput {
					t.Fatalf("want BAD_USER_INPUT, got HTTP %d: %s", r.status, r.raw)
				}
			})
		}
	})
}

func TestMutationsAreRecorded(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		r := e.post(t, bearer(e.adminKey), `mutation { createOrganization(input: {name: "Acme", slug: "acme"}) { id } }`, nil)
		if len(r.errors) > 0 {
			t.Fatalf("createOrganization: %s", r.raw)
		}
		var data struct{ CreateOrganization struct{ ID string } }
		r.decodeData(t, &data)
		a, err := e.client.Activity.Query().Where(activity.Verb("organization.created")).Only(sys())
		if err != nil {
			t.Fatal(err)
		}
		if a.ObjectID != data.CreateOrganization.ID || a.OrganizationID == nil || string(*a.OrganizationID) != data.CreateOrganization.ID {
			t.Errorf("activity object %s org %v, want %s", a.ObjectID, a.OrganizationID, data.CreateOrganization.ID)
		}
		if a.Channel != "graphql" || a.ActorType != activity.ActorTypeAPIKey || a.ActorUserID == nil || *a.ActorUserID != e.adminID {
			t.Errorf("activity channel %q actor %s/%v, want graphql api_key/%s", a.Channel, a.ActorType, a.ActorUserID, e.adminID)
		}
		if a.RequestID == "" || a.RequestID != r.header.Get("X-Request-ID") || a.IP != "127.0.0.1" {
			t.Errorf("activity request %q ip %q, want %q 127.0.0.1", a.RequestID, a.IP, r.header.Get("X-Request-ID"))
		}
		// A refused write records nothing.
		before := e.client.Activity.Query().CountX(sys())
		r = e.post(t, bearer(e.adminKey), `mutation { createOrganization(input: {name: "Dup", slug: "acme"}) { id } }`, nil)
		if len(r.errors) == 0 {
			t.Fatalf("duplicate slug accepted: %s", r.raw)
		}
		if after := e.client.Activity.Query().CountX(sys()); after != before {
			t.Errorf("activities %d -> %d after a refused write", before, after)
		}
	})
}
