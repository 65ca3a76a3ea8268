package graph_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/stats"
	"github.com/cf/identity/tenancy"
)

const (
	platformStatsQuery = `query($f: Time, $t: Time) { platformStats(from: $f, to: $t) {
  usersByStatus { status count } bannedUsers lockedUsers activeSessions organizations activeAPIKeys
  signIns24h signIns7d activities24h activities7d newUsersPerDay { day count } } }`
	organizationStatsQuery = `query($id: ID!) { organizationStats(id: $id) {
  membersByStatus { status count } membersByRole { roleID key name count }
  pendingInvitations activeSessions activeAPIKeys activities24h activities7d } }`
)

type countJSON struct {
	Status, Day, Verb string
	Count             int
}

type platformStatsData struct {
	PlatformStats struct {
		UsersByStatus                                                     []countJSON
		BannedUsers, LockedUsers, ActiveSessions, Organizations           int
		ActiveAPIKeys, SignIns24h, SignIns7d, Activities24h, Activities7d int
		NewUsersPerDay                                                    []countJSON
	}
}

type roleJSON struct {
	RoleID, Key, Name string
	Count             int
}

type organizationStatsData struct {
	OrganizationStats struct {
		MembersByStatus                                                                []countJSON
		MembersByRole                                                                  []roleJSON
		PendingInvitations, ActiveSessions, ActiveAPIKeys, Activities24h, Activities7d int
	}
}

// statsEnv is an owner's organization acme with a viewer and a member
// (member role), an outsider's organization beta, and a user of no
// organization, each with a personal key of every scope; the platform's
// superadmin is e.adminKey.
type statsEnv struct {
	*env
	acme, beta                                  *ent.Organization
	ownerKey, viewerKey, memberKey, outsiderKey string
	plainKey                                    string
}

func newStatsEnv(t *testing.T, e *env) *statsEnv {
	t.Helper()
	s := &statsEnv{env: e}
	org := func(slug string) (*ent.Organization, string) {
		owner, key, _ := e.newUserKey(t, slug+"-owner@example.com")
		octx, err := authz.NewContext(context.Background(), e.client, actor.User(owner.ID, actor.PlatformNone))
		if err != nil {
			t.Fatal(err)
		}
		o, err := tenancy.CreateOrganization(octx, e.client, ent.CreateOrganizationInput{Name: slug, Slug: slug})
		if err != nil {
			t.Fatalf("creating organization %s: %v", slug, err)
		}
		return o, key
	}
	s.acme, s.ownerKey = org("acme")
	s.beta, s.outsiderKey = org("beta")
	for _, m := range []struct {
		email string
		role  pulid.ID
		key   *string
	}{
		{"viewer@example.com", permission.ViewerRoleID, &s.viewerKey},
		{"member@example.com", permission.MemberRoleID, &s.memberKey},
	} {
		u, key, _ := e.newUserKey(t, m.email)
		if _, err := tenancy.AddMember(sys(), e.client, tenancy.AddMemberInput{OrganizationID: s.acme.ID, UserID: u.ID, RoleIDs: []pulid.ID{m.role}}); err != nil {
			t.Fatalf("adding %s: %v", m.email, err)
		}
		*m.key = key
	}
	_, s.plainKey, _ = e.newUserKey(t, "plain@example.com")
	return s
}

// TestStatsGraphQL: platformStats answers what stats.Platform counts, and
// organizationStats the figures of the organization, to the callers that
// may read them.
func TestStatsGraphQL(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		s := newStatsEnv(t, setup(t, db))
		now := time.Now().UTC()
		from, to := now.Add(-48*time.Hour), now.Add(time.Hour)

		t.Run("platformStats", func(t *testing.T) {
			var d platformStatsData
			wantOK(t, s.post(t, bearer(s.adminKey), platformStatsQuery, map[string]any{"f": from, "t": to}), &d)
			want, err := stats.Platform(actor.NewContext(context.Background(), actor.System("test")), s.client, from, to)
			if err != nil {
				t.Fatal(err)
			}
			got := d.PlatformStats
			if !reflect.DeepEqual(got.UsersByStatus, countsOf(want.UsersByStatus)) ||
				!reflect.DeepEqual(got.NewUsersPerDay, daysOf(want.NewUsersPerDay)) ||
				got.BannedUsers != want.BannedUsers || got.LockedUsers != want.LockedUsers ||
				got.ActiveSessions != want.ActiveSessions || got.Organizations != want.Organizations ||
				got.ActiveAPIKeys != want.ActiveAPIKeys || got.SignIns24h != want.SignIns24h || got.SignIns7d != want.SignIns7d ||
				got.Activities24h != want.Activities24h || got.Activities7d != want.Activities7d {
				t.Errorf("platformStats = %+v\nwant %+v", got, want)
			}
			// The superadmin, two owners, a viewer, a member, a plain user.
			active, created := 0, 0
			for _, c := range got.UsersByStatus {
				if c.Status == "active" {
					active = c.Count
				}
			}
			for _, c := range got.NewUsersPerDay {
				created += c.Count
			}
			if active != 6 || created != 6 || got.Organizations != 2 || got.ActiveAPIKeys != 6 {
				t.Errorf("platformStats = %+v; want 6 active users created in the range, 2 organizations, 6 keys", got)
			}
			if n := s.count(t, "SELECT COUNT(*) FROM cf_activities"); got.Activities24h != n || got.Activities7d != n || n == 0 {
				t.Errorf("activities24h = %d, activities7d = %d; want every activity, %d", got.Activities24h, got.Activities7d, n)
			}
		})

		t.Run("organizationStats", func(t *testing.T) {
			var d organizationStatsData
			wantOK(t, s.post(t, bearer(s.ownerKey), organizationStatsQuery, map[string]any{"id": s.acme.ID}), &d)
			got := d.OrganizationStats
			if want := []countJSON{{Status: "invited"}, {Status: "active", Count: 3}, {Status: "suspended"}}; !reflect.DeepEqual(got.MembersByStatus, want) {
				t.Errorf("membersByStatus = %+v, want %+v", got.MembersByStatus, want)
			}
			if want := []roleJSON{
				{string(permission.OwnerRoleID), "owner", "Owner", 1},
				{string(permission.MemberRoleID), "member", "Member", 1},
				{string(permission.ViewerRoleID), "viewer", "Viewer", 1},
			}; !reflect.DeepEqual(got.MembersByRole, want) {
				t.Errorf("membersByRole = %+v, want %+v", got.MembersByRole, want)
			}
			n := s.count(t, "SELECT COUNT(*) FROM cf_activities WHERE organization_id = "+s.q(1), string(s.acme.ID))
			if got.PendingInvitations != 0 || got.ActiveSessions != 0 || got.ActiveAPIKeys != 0 || got.Activities24h != n || got.Activities7d != n || n == 0 {
				t.Errorf("organizationStats = %+v; want no invitation, session or key, and the %d activities of acme", got, n)
			}
			// Platform staff read it too.
			wantOK(t, s.post(t, bearer(s.adminKey), organizationStatsQuery, map[string]any{"id": s.acme.ID}), nil)
		})
	})
}

func countsOf(in []stats.StatusCount) []countJSON {
	out := make([]countJSON, len(in))
	for i, c := range in {
		out[i] = countJSON{Status: c.Status, Count: c.Count}
	}
	return out
}

func daysOf(in []stats.DayCount) []countJSON {
	out := make([]countJSON, len(in))
	for i, c := range in {
		out[i] = countJSON{Day: c.Day, Count: c.Count}
	}
	return out
}

// TestStatsRefusalsGraphQL: who may not read statistics, and bad ranges,
// get the codes of every other refusal; an organization of others answers
// exactly as an unknown one.
func TestStatsRefusalsGraphQL(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		s := newStatsEnv(t, setup(t, db))
		now := time.Now().UTC()
		notFound := s.post(t, bearer(s.ownerKey), organizationStatsQuery, map[string]any{"id": unknownOrgID}).onlyError(t)
		if notFound.code() != graph.CodeNotFound {
			t.Fatalf("unknown organization: %+v; want NOT_FOUND", notFound)
		}
		for _, tt := range []struct {
			name, key, query string
			vars             map[string]any
			code             string
			// in is a fragment of the message; field the extensions.field.
			in, field string
			// header is an extra request header, "name: value".
			header string
		}{
			{name: "platformStats without a platform role", key: s.plainKey, query: platformStatsQuery,
				code: graph.CodeForbidden, in: permission.PlatformStatsRead},
			{name: "platformStats as an owner", key: s.ownerKey, query: platformStatsQuery,
				code: graph.CodeForbidden, in: permission.PlatformStatsRead},
			{name: "platformStats as the superadmin acting in an organization", key: s.adminKey, query: platformStatsQuery,
				header: "X-Organization-ID: " + string(s.acme.ID), code: graph.CodeForbidden, in: "acts in organization"},
			{name: "platformStats without a credential", query: platformStatsQuery, code: graph.CodeUnauthenticated},
			{name: "platformStats from after to", key: s.adminKey, query: platformStatsQuery,
				vars: map[string]any{"f": now, "t": now.Add(-time.Hour)}, code: graph.CodeBadUserInput, field: "to", in: "must be after from"},
			{name: "platformStats to before the default from", key: s.adminKey, query: platformStatsQuery,
				vars: map[string]any{"f": now.Add(time.Hour)}, code: graph.CodeBadUserInput, field: "to"},
			{name: "platformStats over 366 days", key: s.adminKey, query: platformStatsQuery,
				vars: map[string]any{"f": now.Add(-367 * 24 * time.Hour), "t": now}, code: graph.CodeBadUserInput, field: "from", in: "at most 366"},
			{name: "organizationStats as a viewer", key: s.viewerKey, query: organizationStatsQuery,
				vars: map[string]any{"id": s.acme.ID}, code: graph.CodeForbidden, in: permission.ActivityRead},
			{name: "organizationStats as a member", key: s.memberKey, query: organizationStatsQuery,
				vars: map[string]any{"id": s.acme.ID}, code: graph.CodeForbidden, in: permission.ActivityRead},
			{name: "organizationStats of another organization", key: s.outsiderKey, query: organizationStatsQuery,
				vars: map[string]any{"id": s.acme.ID}, code: graph.CodeNotFound, in: notFound.Message},
			{name: "organizationStats as a user of no organization", key: s.plainKey, query: organizationStatsQuery,
				vars: map[string]any{"id": s.acme.ID}, code: graph.CodeNotFound, in: notFound.Message},
			{name: "organizationStats of an organization the owner is not in", key: s.ownerKey, query: organizationStatsQuery,
				vars: map[string]any{"id": s.beta.ID}, code: graph.CodeNotFound, in: notFound.Message},
			{name: "organizationStats of a user ID", key: s.ownerKey, query: organizationStatsQuery,
				vars: map[string]any{"id": unknownUserID}, code: graph.CodeBadUserInput, field: "id"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				auth := ""
				if tt.key != "" {
					auth = bearer(tt.key)
				}
				r := s.post(t, auth, tt.query, tt.vars)
				if name, value, ok := strings.Cut(tt.header, ": "); ok {
					r = s.postWith(t, auth, tt.query, tt.vars, name, value)
				}
				assertNoLeak(t, r)
				g := r.onlyError(t)
				t.Logf("%s: %s", g.code(), g.Message)
				if g.code() != tt.code || !strings.Contains(g.Message, tt.in) {
					t.Errorf("error = %q (%s); want %s containing %q", g.Message, g.code(), tt.code, tt.in)
				}
				if tt.code == graph.CodeNotFound && g.Message != notFound.Message {
					t.Errorf("message = %q; want the one of an unknown ID, %q", g.Message, notFound.Message)
				}
				if f, _ := g.Extensions["field"].(string); f != tt.field {
					t.Errorf("extensions.field = %q, want %q", f, tt.field)
				}
				if d := string(r.data); d != "" && d != "null" {
					t.Errorf("data = %s, want none", d)
				}
			})
		}
	})
}

// TestStatsStatementCount pins the SQL statements of platformStats and
// organizationStats requests, and proves they do not grow with the rows
// counted.
func TestStatsStatementCount(t *testing.T) {
	// 1 statement authenticates the key (joined with its owner) and 1
	// resolves the permissions (the user joined with its memberships and
	// their roles); platformStats costs 9
	// more (see stats.Platform), organizationStats 8 (see
	// stats.Organization).
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e, drv := countedEnv(t, db, graph.Options{})
		s := newStatsEnv(t, e)
		grow := func(n int) {
			for i := range n {
				u, _, _ := e.newUserKey(t, fmt.Sprintf("u%d-%d@example.com", i, time.Now().UnixNano()))
				if _, err := tenancy.AddMember(sys(), e.client, tenancy.AddMemberInput{OrganizationID: s.acme.ID, UserID: u.ID,
					RoleIDs: []pulid.ID{permission.MemberRoleID, permission.ViewerRoleID}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, tt := range []struct {
			name, key, query string
			vars             map[string]any
			want             int64
		}{
			{"platformStats", s.adminKey, platformStatsQuery, nil, 11},
			{"organizationStats", s.ownerKey, organizationStatsQuery, map[string]any{"id": s.acme.ID}, 10},
		} {
			t.Run(tt.name, func(t *testing.T) {
				measure := func() int64 {
					e.post(t, bearer(tt.key), `{ viewer { kind } }`, nil) // settles last_used_at
					drv.Reset()
					wantOK(t, e.post(t, bearer(tt.key), tt.query, tt.vars), nil)
					return drv.Count()
				}
				small := measure()
				grow(10)
				large := measure()
				t.Logf("statements per %s request: %d, then %d with 10 more members", tt.name, small, large)
				if small != large {
					t.Errorf("statement count grows with rows: %d, then %d", small, large)
				}
				if large != tt.want {
					t.Errorf("statements = %d, want %d (update the pinned count only with a reason)", large, tt.want)
				}
			})
		}
	})
}
