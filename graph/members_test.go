package graph_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
)

const (
	memUpdate     = `mutation ($id: ID!, $i: UpdateMemberInput!) { updateMember(id: $id, input: $i) { id title department managerID status } }`
	memSuspend    = `mutation ($id: ID!) { suspendMember(id: $id, reason: "on leave") { id status } }`
	memReactivate = `mutation ($id: ID!) { reactivateMember(id: $id) { id status } }`
	memList       = `query ($id: ID!) { node(id: $id) { ... on Organization { memberships(first: 50, orderBy: [{field: JOINED_AT}]) { edges { node {
    status title department user { email } roles { edges { node { key } } } manager { user { email } } } } } } } }`
)

// TestMemberAdministrationGraphQL: an owner sets titles, departments and
// managers, is refused a cycle and a manager of another organization,
// suspends and reactivates a member, and lists the roster with roles,
// manager and department.
func TestMemberAdministrationGraphQL(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		org, _, ownerKey := e.orgFixture(t, "members-gql")
		other, _, _ := e.orgFixture(t, "members-other")
		alice := e.newPasswordUser(t, "alice@members.example", testPassword)
		bob := e.newPasswordUser(t, "bob@members.example", testPassword)
		e.addMember(t, org, alice.ID)
		e.addMember(t, org, bob.ID)
		e.addMember(t, other, alice.ID)
		mem := func(org, u string) string {
			var id string
			if err := e.sqlDB.QueryRow(`SELECT id FROM cf_memberships WHERE organization_id = `+e.q(1)+` AND user_id = `+e.q(2), org, u).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return id
		}
		aliceM, bobM, aliceOther := mem(string(org.ID), string(alice.ID)), mem(string(org.ID), string(bob.ID)), mem(string(other.ID), string(alice.ID))

		wantOK(t, gqlOn(t, e.srv, ownerKey, memUpdate, map[string]any{"id": aliceM, "i": map[string]any{"title": "Lead", "department": "Support"}}, nil), nil)
		wantOK(t, gqlOn(t, e.srv, ownerKey, memUpdate, map[string]any{"id": bobM, "i": map[string]any{"department": "Support", "managerID": aliceM}}, nil), nil)

		refusals := []struct {
			name, query     string
			vars            map[string]any
			code, field, in string
		}{
			{"a manager cycle", memUpdate, map[string]any{"id": aliceM, "i": map[string]any{"managerID": bobM}}, graph.CodeBadUserInput, "managerID", "loop"},
			{"oneself as manager", memUpdate, map[string]any{"id": aliceM, "i": map[string]any{"managerID": aliceM}}, graph.CodeBadUserInput, "managerID", ""},
			{"a manager of another organization", memUpdate, map[string]any{"id": bobM, "i": map[string]any{"managerID": aliceOther}}, graph.CodeBadUserInput, "managerID", "same organization"},
			{"reactivating an active member", memReactivate, map[string]any{"id": bobM}, graph.CodeBadUserInput, "", "active"},
			{"a member of another organization", memSuspend, map[string]any{"id": aliceOther}, graph.CodeNotFound, "", ""},
		}
		for _, c := range refusals {
			t.Run(c.name, func(t *testing.T) {
				rows := e.rowCounts(t)
				r := gqlOn(t, e.srv, ownerKey, c.query, c.vars, nil)
				g := r.onlyError(t)
				if r.status != http.StatusOK || g.code() != c.code || (c.field != "" && g.Extensions["field"] != c.field) || !strings.Contains(g.Message, c.in) {
					t.Errorf("HTTP %d %s (field %v) %q, want %s (field %q) naming %q", r.status, g.code(), g.Extensions["field"], g.Message, c.code, c.field, c.in)
				}
				assertNoSecrets(t, r, ownerKey)
				if after := e.rowCounts(t); after != rows {
					t.Errorf("rows %+v -> %+v: a refusal wrote", rows, after)
				}
			})
		}

		// Suspend: bob keeps his account but not his place in the
		// organization; reactivate brings it back.
		var s struct{ SuspendMember struct{ Status string } }
		wantOK(t, gqlOn(t, e.srv, ownerKey, memSuspend, map[string]any{"id": bobM}, nil), &s)
		if s.SuspendMember.Status != string(membership.StatusSuspended) {
			t.Errorf("suspendMember answered %+v", s)
		}
		bobTok := e.login(t, bob.Email, testPassword)
		r := gqlOn(t, e.srv, bobTok.AccessToken, `{ viewer { organizations { organization { id } } } }`, nil, nil)
		if strings.Contains(string(r.raw), string(org.ID)) {
			t.Errorf("a suspended member still acts in the organization: %s", r.raw)
		}
		var re struct{ ReactivateMember struct{ Status string } }
		wantOK(t, gqlOn(t, e.srv, ownerKey, memReactivate, map[string]any{"id": bobM}, nil), &re)
		if re.ReactivateMember.Status != "active" {
			t.Errorf("reactivateMember answered %+v", re)
		}

		var list struct {
			Node struct {
				Memberships struct {
					Edges []struct {
						Node struct {
							Status, Title, Department string
							User                      struct{ Email string }
							Roles                     struct {
								Edges []struct{ Node struct{ Key string } }
							}
							Manager *struct{ User struct{ Email string } }
						}
					}
				}
			}
		}
		wantOK(t, gqlOn(t, e.srv, ownerKey, memList, map[string]any{"id": string(org.ID)}, nil), &list)
		got := map[string]string{}
		for _, ed := range list.Node.Memberships.Edges {
			n := ed.Node
			mgr := ""
			if n.Manager != nil {
				mgr = n.Manager.User.Email
			}
			var roles []string
			for _, r := range n.Roles.Edges {
				roles = append(roles, r.Node.Key)
			}
			got[n.User.Email] = n.Status + "|" + n.Title + "|" + n.Department + "|" + strings.Join(roles, ",") + "|" + mgr
		}
		want := map[string]string{
			"members-gql-owner@example.com": "active|||owner|",
			"alice@members.example":         "active|Lead|Support|member|",
			"bob@members.example":           "active||Support|member|alice@members.example",
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("roster %s = %q, want %q", k, got[k], w)
			}
		}
		for verb, want := range map[string]int{"member.updated": 2, "member.suspended": 1, "member.reactivated": 1} {
			if n := e.count(t, `SELECT COUNT(*) FROM cf_activities WHERE verb = `+e.q(1), verb); n != want {
				t.Errorf("%d %s, want %d", n, verb, want)
			}
		}
	})
}
