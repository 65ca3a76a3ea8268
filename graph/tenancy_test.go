package graph_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
)

// TestOrganizationAdminFlow drives an organization through GraphQL as its
// members: create (creator becomes owner), add a member (a platform act:
// the owner is refused and invites instead, see TestAddMemberIsAPlatformAct;
// here the platform admin adds him), assign roles, keys, viewer and can,
// and the active organization header.
func TestOrganizationAdminFlow(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db)
		alice, aliceKey, _ := e.newUserKey(t, "alice@example.com")
		bob, bobKey, _ := e.newUserKey(t, "bob@example.com")
		_, eveKey, _ := e.newUserKey(t, "eve@example.com")

		call := func(key, query string, vars map[string]any, header ...string) response {
			t.Helper()
			if len(header) == 0 {
				return e.post(t, bearer(key), query, vars)
			}
			return e.postWith(t, bearer(key), query, vars, header[0], header[1])
		}
		ok := func(r response, v any) {
			t.Helper()
			if r.status != http.StatusOK || len(r.errors) > 0 {
				t.Fatalf("want success, got HTTP %d: %s", r.status, r.raw)
			}
			if v != nil {
				r.decodeData(t, v)
			}
		}
		code := func(r response, want string) {
			t.Helper()
			if len(r.errors) == 0 || r.errors[0].code() != want {
				t.Fatalf("want %s, got HTTP %d: %s", want, r.status, r.raw)
			}
			assertNoLeak(t, r)
		}

		var created struct{ CreateOrganization struct{ ID string } }
		ok(call(aliceKey, `mutation { createOrganization(input: {name: "Acme", slug: "acme"}) { id } }`, nil), &created)
		org := created.CreateOrganization.ID

		// The owner cannot add an existing user directly; the platform
		// admin can.
		code(call(aliceKey, `mutation ($o: ID!, $u: ID!) { addMember(input: {organizationID: $o, userID: $u}) { id } }`,
			map[string]any{"o": org, "u": string(bob.ID)}), graph.CodeForbidden)
		var added struct{ AddMember struct{ ID string } }
		ok(call(e.adminKey, `mutation ($o: ID!, $u: ID!) { addMember(input: {organizationID: $o, userID: $u}) { id } }`,
			map[string]any{"o": org, "u": string(bob.ID)}), &added)
		bobM := added.AddMember.ID

		// Bob, a member, cannot invite or assign; Eve, an outsider, sees nothing.
		code(call(bobKey, `mutation ($o: ID!, $u: ID!) { addMember(input: {organizationID: $o, userID: $u}) { id } }`,
			map[string]any{"o": org, "u": string(alice.ID)}), graph.CodeForbidden)
		code(call(bobKey, `mutation ($m: ID!) { assignRole(membershipID: $m, roleID: "rol_00000000000000000000000002") { id } }`,
			map[string]any{"m": bobM}), graph.CodeForbidden)
		code(call(eveKey, `mutation ($o: ID!) { updateOrganization(id: $o, input: {name: "Eve's"}) { id } }`,
			map[string]any{"o": org}), graph.CodeNotFound)
		code(call(bobKey, `mutation ($o: ID!) { updateOrganization(id: $o, input: {name: "Bob's"}) { id } }`,
			map[string]any{"o": org}), graph.CodeForbidden)
		var eveView struct{ Organizations struct{ TotalCount int } }
		ok(call(eveKey, `{ organizations { totalCount } }`, nil), &eveView)
		if eveView.Organizations.TotalCount != 0 {
			t.Fatalf("eve sees %d organizations", eveView.Organizations.TotalCount)
		}

		// Alice makes Bob an admin; his viewer shows where each permission comes from.
		ok(call(aliceKey, `mutation ($m: ID!) { setMemberRoles(membershipID: $m, roleIDs: ["rol_00000000000000000000000002", "rol_00000000000000000000000003"]) { id } }`,
			map[string]any{"m": bobM}), nil)
		var v struct {
			Viewer struct {
				Kind          string
				Organizations []struct {
					Organization struct{ ID string }
					Roles        []struct{ Key string }
					Level        int
				}
				Permissions []struct {
					Permission string
					GrantedBy  []string
				}
			}
		}
		ok(call(bobKey, `query ($o: ID!) { viewer { kind organizations { organization { id } roles { key } level } permissions(organizationID: $o) { permission grantedBy } } }`,
			map[string]any{"o": org}), &v)
		if len(v.Viewer.Organizations) != 1 || v.Viewer.Organizations[0].Organization.ID != org || v.Viewer.Organizations[0].Level != 80 {
			t.Fatalf("viewer organizations = %+v", v.Viewer.Organizations)
		}
		grants := map[string]string{}
		for _, p := range v.Viewer.Permissions {
			grants[p.Permission] = strings.Join(p.GrantedBy, ",")
		}
		if grants["member:read"] != "admin,member" || grants["member:invite"] != "admin" || grants["organization:delete"] != "" {
			t.Fatalf("bob's permissions = %v", grants)
		}
		var can struct {
			Can struct {
				Allowed bool
				Reason  string
			}
		}
		ok(call(bobKey, `query ($o: ID!) { can(permission: "organization:delete", organizationID: $o) { allowed reason } }`,
			map[string]any{"o": org}), &can)
		if can.Can.Allowed || !strings.Contains(can.Can.Reason, "no role") {
			t.Fatalf("can organization:delete = %+v", can.Can)
		}

		// Bob, now admin, may not touch the owner.
		var members struct {
			Memberships struct {
				Edges []struct {
					Node struct {
						ID     string
						UserID string
					}
				}
			}
		}
		ok(call(bobKey, `{ memberships { edges { node { id userID } } } }`, nil), &members)
		var aliceM string
		for _, m := range members.Memberships.Edges {
			if m.Node.UserID == string(alice.ID) {
				aliceM = m.Node.ID
			}
		}
		code(call(bobKey, `mutation ($m: ID!) { removeMember(id: $m) }`, map[string]any{"m": aliceM}), graph.CodeForbidden)
		code(call(aliceKey, `mutation ($m: ID!) { removeMember(id: $m) }`, map[string]any{"m": aliceM}), graph.CodeConflict)

		// Organization keys: scopes within the creator's permissions, shown once.
		code(call(bobKey, `mutation ($o: ID!) { createAPIKey(input: {name: "ci", organizationID: $o, scopes: ["organization:delete"]}) { key } }`,
			map[string]any{"o": org}), graph.CodeForbidden)
		var k struct {
			CreateAPIKey struct {
				Key    string
				APIKey struct{ ID string }
			}
		}
		ok(call(bobKey, `mutation ($o: ID!) { createAPIKey(input: {name: "ci", organizationID: $o, scopes: ["member:read", "organization:read"]}) { key apiKey { id } } }`,
			map[string]any{"o": org}), &k)
		var orgView struct {
			Memberships   struct{ TotalCount int }
			Organizations struct{ TotalCount int }
			Users         struct{ TotalCount int }
		}
		ok(call(k.CreateAPIKey.Key, `{ memberships { totalCount } organizations { totalCount } users { totalCount } }`, nil), &orgView)
		if orgView.Memberships.TotalCount != 2 || orgView.Organizations.TotalCount != 1 || orgView.Users.TotalCount != 0 {
			t.Fatalf("org key sees %+v; want 2 memberships, 1 organization, 0 users (no user:read scope)", orgView)
		}
		ok(call(bobKey, `mutation ($k: ID!) { revokeAPIKey(id: $k) { revokedAt } }`, map[string]any{"k": k.CreateAPIKey.APIKey.ID}), nil)
		if r := call(k.CreateAPIKey.Key, `{ viewer { kind } }`, nil); r.status != http.StatusUnauthorized {
			t.Fatalf("revoked key: HTTP %d", r.status)
		}

		// The active organization header.
		ok(call(bobKey, `{ organizations { totalCount } }`, nil, "X-Organization-ID", org), nil)
		code(call(eveKey, `{ organizations { totalCount } }`, nil, "X-Organization-ID", org), graph.CodeForbidden)
		code(call(bobKey, `{ organizations { totalCount } }`, nil, "X-Organization-ID", "not-an-id"), graph.CodeBadUserInput)
	})
}
