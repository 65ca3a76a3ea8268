package graph_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/activitylog"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	entapikey "github.com/cf/identity/ent/apikey"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/softdelete"
	"github.com/cf/identity/tenancy"
)

const (
	adminRoleID  = "rol_00000000000000000000000002"
	memberRoleID = "rol_00000000000000000000000003"
	viewerRoleID = "rol_00000000000000000000000004"
)

// trailEnv is an organization with an owner (key) and a member, Bob.
type trailEnv struct {
	*authEnv
	org      *ent.Organization
	owner    *ent.User
	ownerKey string
	bob      *ent.User
	bobKey   string
	bobM     pulid.ID
}

func setupTrail(t *testing.T, db testdb.Target) *trailEnv {
	t.Helper()
	e := &trailEnv{authEnv: setupAuth(t, db, graph.Options{}, nil)}
	e.org, e.owner, e.ownerKey = e.orgFixture(t, "acme")
	e.bob, e.bobKey, _ = e.newUserKey(t, "bob@example.com")
	m, err := tenancy.AddMember(sys(), e.client, tenancy.AddMemberInput{OrganizationID: e.org.ID, UserID: e.bob.ID})
	if err != nil {
		t.Fatal(err)
	}
	e.bobM = m.ID
	return e
}

// newRows returns the verbs of the activities written since the position
// each chain had in before.
func (e *trailEnv) verbsSince(t *testing.T, before map[string]int64) []string {
	t.Helper()
	rows := e.client.Activity.Query().Order(ent.Asc(activity.FieldChain), ent.Asc(activity.FieldSeq)).AllX(sys())
	var verbs []string
	for _, a := range rows {
		if a.Seq > before[a.Chain] {
			verbs = append(verbs, a.Verb)
		}
	}
	return verbs
}

func (e *trailEnv) heads(t *testing.T) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, h := range e.client.ActivityChain.Query().AllX(sys()) {
		out[h.ID] = h.Seq
	}
	return out
}

// TestOneRowPerEffectiveChange: each mutation, applied in turn, writes one
// activity per change it makes, none for a no-op, one for a change named
// twice in a bulk input, none for a refused write.
func TestOneRowPerEffectiveChange(t *testing.T) {
	const (
		assign   = `mutation ($m: ID!, $r: ID!) { assignRole(membershipID: $m, roleID: $r) { id } }`
		unassign = `mutation ($m: ID!, $r: ID!) { unassignRole(membershipID: $m, roleID: $r) { id } }`
		bulk     = `mutation ($ms: [ID!]!, $r: ID!) { bulkAssignRole(roleID: $r, membershipIDs: $ms) { id } }`
		setRoles = `mutation ($m: ID!, $rs: [ID!]!) { setMemberRoles(membershipID: $m, roleIDs: $rs) { id } }`
		rename   = `mutation ($o: ID!, $n: String!) { updateOrganization(id: $o, input: {name: $n}) { id } }`
		title    = `mutation ($m: ID!, $t: String!) { updateMember(id: $m, input: {title: $t}) { id } }`
	)
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupTrail(t, db)
		m, o := string(e.bobM), string(e.org.ID)
		steps := []struct {
			name    string
			as      string
			query   string
			vars    map[string]any
			wantErr bool
			want    []string
		}{
			{"assign a role", e.ownerKey, assign, map[string]any{"m": m, "r": adminRoleID}, false, []string{"role.assigned"}},
			{"assign it again", e.ownerKey, assign, map[string]any{"m": m, "r": adminRoleID}, false, nil},
			{"unassign a role not held", e.ownerKey, unassign, map[string]any{"m": m, "r": viewerRoleID}, false, nil},
			{"bulk with one member three times", e.ownerKey, bulk, map[string]any{"ms": []string{m, m, m}, "r": viewerRoleID}, false, []string{"role.assigned"}},
			{"set the roles held", e.ownerKey, setRoles, map[string]any{"m": m, "rs": []string{viewerRoleID, memberRoleID, adminRoleID}}, false, nil},
			{"set fewer roles", e.ownerKey, setRoles, map[string]any{"m": m, "rs": []string{memberRoleID}}, false, []string{"role.unassigned", "role.unassigned"}},
			{"rename to the same name", e.ownerKey, rename, map[string]any{"o": o, "n": "acme"}, false, nil},
			{"rename", e.ownerKey, rename, map[string]any{"o": o, "n": "Acme Inc"}, false, []string{"organization.updated"}},
			{"refused rename", e.bobKey, rename, map[string]any{"o": o, "n": "Pwned"}, true, nil},
			{"refused assignment", e.bobKey, assign, map[string]any{"m": m, "r": adminRoleID}, true, nil},
			{"title", e.ownerKey, title, map[string]any{"m": m, "t": "CTO"}, false, []string{"member.updated"}},
			{"the same title", e.ownerKey, title, map[string]any{"m": m, "t": "CTO"}, false, nil},
		}
		for _, st := range steps {
			before := e.heads(t)
			r := gqlOn(t, e.srv, st.as, st.query, st.vars, nil)
			if st.wantErr != (len(r.errors) > 0) {
				t.Fatalf("%s: %s", st.name, r.raw)
			}
			got := e.verbsSince(t, before)
			if !slices.Equal(got, st.want) {
				t.Errorf("%s: new activities %v, want %v", st.name, got, st.want)
			}
		}
		// The organization's rename carries its old and new name.
		a := e.client.Activity.Query().Where(activity.Verb("organization.updated")).OnlyX(sys())
		if fmt.Sprint(a.Data["changes"]) != fmt.Sprint(map[string]any{"name": map[string]any{"old": "acme", "new": "Acme Inc"}}) {
			t.Errorf("organization.updated data = %v", a.Data)
		}
		if r, err := activitylog.Verify(sys(), e.client, o); err != nil || !r.OK() {
			t.Errorf("verify = %+v, %v", r, err)
		}
	})
}

// TestFailedActivityFailsTheWrite: when the activity row cannot be written
// (a trigger refuses it), the write it records fails too and nothing of it
// remains, over GraphQL and through the Go client.
func TestFailedActivityFailsTheWrite(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupTrail(t, db)
		install := []string{"CREATE TRIGGER cf_test_refuse BEFORE INSERT ON cf_activities BEGIN SELECT RAISE(ABORT, 'injected failure'); END"}
		remove := []string{"DROP TRIGGER cf_test_refuse"}
		if db.Dialect == dialect.Postgres {
			install = []string{
				"CREATE FUNCTION cf_test_refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql",
				"CREATE TRIGGER cf_test_refuse BEFORE INSERT ON cf_activities FOR EACH ROW EXECUTE FUNCTION cf_test_refuse()",
			}
			remove = []string{"DROP TRIGGER cf_test_refuse ON cf_activities", "DROP FUNCTION cf_test_refuse()"}
		}
		for _, q := range install {
			if _, err := e.sqlDB.Exec(q); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			for _, q := range remove {
				_, _ = e.sqlDB.Exec(q)
			}
		})
		r := gqlOn(t, e.srv, e.ownerKey, `mutation ($o: ID!) { updateOrganization(id: $o, input: {name: "Renamed"}) { id } }`, map[string]any{"o": e.org.ID}, nil)
		if g := r.onlyError(t); g.code() != graph.CodeInternal {
			t.Errorf("rename with a failing trail: %s", r.raw)
		}
		assertNoLeak(t, r)
		if name := e.client.Organization.GetX(sys(), e.org.ID).Name; name != "acme" {
			t.Errorf("organization name = %q after a failed activity, want acme", name)
		}
		octx := e.ownerCtx(t)
		if _, err := tenancy.AssignRole(octx, e.client, e.bobM, adminRoleID); err == nil {
			t.Error("AssignRole succeeded with a failing trail")
		}
		if roles := e.client.Membership.GetX(sys(), e.bobM).QueryRoles().IDsX(sys()); len(roles) != 1 {
			t.Errorf("roles after a failed AssignRole = %v, want the member role only", roles)
		}
	})
}

func (e *trailEnv) ownerCtx(t *testing.T) context.Context {
	t.Helper()
	return asUser(t, e.client, e.owner.ID)
}

// TestActivityViews: an organization admin reads its organization's rows
// whole; a member reads only its own actions; platform support reads them
// with personal data masked (or none, or all, as configured); the feed is
// newest first and pages by cursor without gaps.
func TestActivityViews(t *testing.T) {
	const feed = `query ($o: ID!, $after: Cursor) { activities(first: 3, after: $after, where: {organizationID: $o}) {
		edges { node { id verb occurredAt actor { type userID display } data } } pageInfo { hasNextPage endCursor } } }`
	type feedData struct {
		Activities struct {
			Edges []struct {
				Node struct {
					ID, Verb, OccurredAt string
					Actor                struct{ Type, UserID, Display string }
					Data                 map[string]any
				}
			}
			PageInfo struct {
				HasNextPage bool
				EndCursor   string
			}
		}
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupTrail(t, db)
		// An invitation names an email: personal data.
		octx := e.ownerCtx(t)
		if err := trail.Record(octx, e.client, trail.Event{Verb: "member.invited", ObjectType: "Invitation", ObjectID: pulid.New("inv"),
			Organization: e.org.ID, Data: map[string]any{"email": "carol@example.com", "roles": []any{"member"}}}); err != nil {
			t.Fatal(err)
		}
		// One action of Bob's own in the organization.
		if err := trail.Record(asUser(t, e.client, e.bob.ID), e.client, trail.Event{Verb: "member.updated", ObjectType: "Membership",
			ObjectID: e.bobM, Organization: e.org.ID}); err != nil {
			t.Fatal(err)
		}
		support, supportKey, _ := e.newUserKey(t, "support@example.com")
		e.client.User.UpdateOne(support).SetPlatformRole(user.PlatformRoleSupport).ExecX(sys())
		all := func(key string) []string {
			var verbs []string
			after := any(nil)
			for range 20 {
				var d feedData
				wantOK(t, gqlOn(t, e.srv, key, feed, map[string]any{"o": e.org.ID, "after": after}, nil), &d)
				var last time.Time
				for _, ed := range d.Activities.Edges {
					// Compared as times: RFC 3339 drops trailing zeros of
					// the fraction, so ".535Z" sorts after ".535894Z" as text.
					at, err := time.Parse(time.RFC3339Nano, ed.Node.OccurredAt)
					if err != nil {
						t.Fatalf("occurredAt %q: %v", ed.Node.OccurredAt, err)
					}
					if !last.IsZero() && at.After(last) {
						t.Errorf("feed not newest first: %s after %s", ed.Node.OccurredAt, last.Format(time.RFC3339Nano))
					}
					last = at
					verbs = append(verbs, ed.Node.Verb)
				}
				if !d.Activities.PageInfo.HasNextPage {
					return verbs
				}
				after = d.Activities.PageInfo.EndCursor
			}
			t.Fatal("feed does not end")
			return nil
		}
		ownerSees := all(e.ownerKey)
		want := e.client.Activity.Query().Where(activity.OrganizationID(e.org.ID)).CountX(sys())
		if len(ownerSees) != want {
			t.Errorf("owner pages through %d activities, want all %d: %v", len(ownerSees), want, ownerSees)
		}
		// Bob (a member without activity:read) sees his own action only.
		if bob := all(e.bobKey); !slices.Equal(bob, []string{"member.updated"}) {
			t.Errorf("member sees %v, want his own member.updated only", bob)
		}
		dataOf := func(key string) map[string]any {
			var d feedData
			wantOK(t, gqlOn(t, e.srv, key, `query ($o: ID!) { activities(where: {organizationID: $o, verb: "member.invited"}) { edges { node { data } } } }`,
				map[string]any{"o": e.org.ID}, nil), &d)
			if len(d.Activities.Edges) != 1 {
				t.Fatalf("member.invited rows: %d", len(d.Activities.Edges))
			}
			return d.Activities.Edges[0].Node.Data
		}
		if got := dataOf(e.ownerKey)["email"]; got != "carol@example.com" {
			t.Errorf("owner sees email %v", got)
		}
		for _, tc := range []struct {
			exposure trail.Exposure
			want     string
		}{{trail.ExposeSanitized, trail.Masked}, {trail.ExposeAll, "carol@example.com"}, {trail.ExposeNone, "<nil>"}} {
			trail.SetPlatformExposure(tc.exposure)
			got := fmt.Sprint(dataOf(supportKey)["email"])
			if got != tc.want {
				t.Errorf("support with exposure %s sees email %s, want %s", tc.exposure, got, tc.want)
			}
		}
		trail.SetPlatformExposure(trail.ExposeSanitized)
		// Bad input.
		r := gqlOn(t, e.srv, e.ownerKey, `{ activities(where: {createdAtGTE: "2026-02-01T00:00:00Z", createdAtLT: "2026-01-01T00:00:00Z"}) { edges { node { id } } } }`, nil, nil)
		if g := r.onlyError(t); g.code() != graph.CodeBadUserInput || !strings.Contains(g.Message, "inverted") {
			t.Errorf("inverted range: %s", r.raw)
		}
		r = gqlOn(t, e.srv, e.ownerKey, `{ activities(where: {verbHasPrefix: "nothing.like.this"}) { edges { node { id } } } }`, nil, nil)
		var none feedData
		wantOK(t, r, &none)
		if len(none.Activities.Edges) != 0 {
			t.Errorf("unknown verb prefix matched %d rows", len(none.Activities.Edges))
		}
	})
}

// TestPurgeKeepsTheTrail: hard-deleting a user who acted keeps the rows of
// its actions as written (no foreign key rewrites them): the chain still
// verifies and the actor's ID stays.
func TestPurgeKeepsTheTrail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupTrail(t, db)
		carl, carlKey, _ := e.newUserKey(t, "carl@example.com")
		r := gqlOn(t, e.srv, carlKey, `mutation ($id: ID!) { updateUser(id: $id, input: {firstName: "Carl"}) { id } }`, map[string]any{"id": carl.ID}, nil)
		wantOK(t, r, nil)
		before := e.client.Activity.Query().Where(activity.ActorUserID(carl.ID)).AllX(sys())
		if len(before) == 0 {
			t.Fatal("carl has no activity")
		}
		if _, err := e.client.APIKey.Delete().Where(entapikey.UserID(carl.ID)).Exec(trail.Domain(sys())); err != nil {
			t.Fatal(err)
		}
		if err := e.client.User.DeleteOneID(carl.ID).Exec(softdelete.Purge(sys())); err != nil {
			t.Fatalf("purge: %v", err)
		}
		if n := e.client.User.Query().Where(user.ID(carl.ID)).CountX(softdelete.IncludeDeleted(sys())); n != 0 {
			t.Fatalf("carl still exists")
		}
		after := e.client.Activity.Query().Where(activity.ActorUserID(carl.ID)).AllX(sys())
		if len(after) != len(before) {
			t.Errorf("carl's activities: %d after the purge, %d before", len(after), len(before))
		}
		for _, chain := range []string{string(e.org.ID), activitylog.PlatformChain} {
			if r, err := activitylog.Verify(sys(), e.client, chain); err != nil || !r.OK() {
				t.Errorf("verify %s after the purge = %+v, %v", chain, r, err)
			}
		}
		// The trail names the actor still, by ID and as shown then.
		var d struct {
			Activities struct {
				Edges []struct {
					Node struct {
						Actor     struct{ UserID, Display string }
						ActorUser *struct{ ID string }
					}
				}
			}
		}
		wantOK(t, e.post(t, bearer(e.adminKey), `query ($u: ID!) { activities(where: {actorUserID: $u}) { edges { node { actor { userID display } actorUser { id } } } } }`,
			map[string]any{"u": carl.ID}), &d)
		if len(d.Activities.Edges) == 0 || d.Activities.Edges[0].Node.Actor.UserID != string(carl.ID) ||
			d.Activities.Edges[0].Node.Actor.Display != "carl@example.com" || d.Activities.Edges[0].Node.ActorUser != nil {
			t.Errorf("activity of a purged actor = %+v", d)
		}
	})
}

func asUser(t *testing.T, c *ent.Client, id pulid.ID) context.Context {
	t.Helper()
	ctx, err := authz.NewContext(context.Background(), c, actor.User(id, actor.PlatformNone))
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

// TestHostileRequestHeaders: a user agent or request ID that is not valid
// UTF-8, or is cut in the middle of a character, does not break the write
// it comes with (PostgreSQL refuses invalid UTF-8): the activity keeps a
// valid form of it, and the chain verifies.
func TestHostileRequestHeaders(t *testing.T) {
	const rename = `mutation ($o: ID!, $n: String!) { updateOrganization(id: $o, input: {name: $n}) { id } }`
	cases := []struct {
		name    string
		headers map[string]string
	}{
		{"invalid byte in the user agent", map[string]string{"User-Agent": "agent \xff\xfe"}},
		{"user agent cut inside a character", map[string]string{"User-Agent": strings.Repeat("é", 300)}},
		{"request ID with invalid bytes", map[string]string{"X-Request-ID": "req-\xff"}},
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupTrail(t, db)
		for i, tc := range cases {
			r := gqlOn(t, e.srv, e.ownerKey, rename, map[string]any{"o": e.org.ID, "n": fmt.Sprintf("Acme %d", i)}, tc.headers)
			wantOK(t, r, nil)
			a := e.client.Activity.Query().Where(activity.Verb("organization.updated")).Order(ent.Desc(activity.FieldSeq)).FirstX(sys())
			if !utf8.ValidString(a.UserAgent) || !utf8.ValidString(a.RequestID) || len(a.UserAgent) > 512 {
				t.Errorf("%s: stored user agent %q, request ID %q", tc.name, a.UserAgent, a.RequestID)
			}
		}
		if r, err := activitylog.Verify(sys(), e.client, string(e.org.ID)); err != nil || !r.OK() {
			t.Errorf("verify = %+v, %v", r, err)
		}
	})
}
