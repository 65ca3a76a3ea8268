package graph_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
)

const (
	acctTransition = `mutation ($id: ID!, $to: UserStatus!, $reason: String!) {
  transitionUser(id: $id, to: $to, reason: $reason) { id status statusReason statusChangedAt } }`
	acctBulk = `mutation ($ids: [ID!]!, $to: UserStatus!, $reason: String!) {
  bulkTransitionUsers(ids: $ids, to: $to, reason: $reason) { userID applied code message user { id status } } }`
	acctBan = `mutation ($id: ID!, $reason: String!, $expiresAt: Time) {
  banUser(id: $id, reason: $reason, expiresAt: $expiresAt) { id status bannedAt banReason banExpiresAt } }`
	acctUnban = `mutation ($id: ID!, $reason: String!) {
  unbanUser(id: $id, reason: $reason) { id bannedAt banReason banExpiresAt } }`
)

// entCreateUser is the input of a user with email in status st.
func entCreateUser(email string, st *user.Status) ent.CreateUserInput {
	return ent.CreateUserInput{Email: email, Status: st}
}

type acctUser struct {
	ID              string     `json:"id"`
	Status          string     `json:"status"`
	StatusReason    string     `json:"statusReason"`
	StatusChangedAt *time.Time `json:"statusChangedAt"`
	BannedAt        *time.Time `json:"bannedAt"`
	BanReason       string     `json:"banReason"`
	BanExpiresAt    *time.Time `json:"banExpiresAt"`
}

// TestAccountLifecycleJourney: a superadmin (API key) suspends and
// reactivates a user, bans one until tomorrow and lifts the ban; the
// user's access token stops working at once each time, sign-in is refused
// with the state, and comes back.
func TestAccountLifecycleJourney(t *testing.T) {
	const email = "journey@example.com"
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		u := e.newPasswordUser(t, email, testPassword)
		tok := e.login(t, email, testPassword)
		wantOK(t, gqlOn(t, e.srv, tok.AccessToken, viewerQuery, nil, nil), nil)

		// Suspend.
		var out struct{ TransitionUser acctUser }
		r := gqlOn(t, e.srv, e.adminKey, acctTransition, map[string]any{"id": string(u.ID), "to": "suspended", "reason": "chargeback"}, nil)
		wantOK(t, r, &out)
		if got := out.TransitionUser; got.Status != "suspended" || got.StatusReason != "chargeback" || got.StatusChangedAt == nil {
			t.Errorf("transitionUser answered %+v", got)
		}
		wantAuthError(t, gqlOn(t, e.srv, tok.AccessToken, viewerQuery, nil, nil), http.StatusUnauthorized, graph.CodeUnauthenticated)
		wantAuthError(t, refreshOn(t, e.srv, tok.RefreshToken), http.StatusUnauthorized, graph.CodeSessionRevoked)
		wantAuthError(t, loginOn(t, e.srv, email, testPassword), http.StatusForbidden, graph.CodeAccountSuspended)

		// Reactivate: the old token stays dead, a new login works.
		r = gqlOn(t, e.srv, e.adminKey, acctTransition, map[string]any{"id": string(u.ID), "to": "active", "reason": "paid"}, nil)
		wantOK(t, r, &out)
		if out.TransitionUser.Status != "active" {
			t.Errorf("transitionUser to active answered %+v", out.TransitionUser)
		}
		wantAuthError(t, gqlOn(t, e.srv, tok.AccessToken, viewerQuery, nil, nil), http.StatusUnauthorized, graph.CodeUnauthenticated)
		tok = e.login(t, email, testPassword)
		wantOK(t, gqlOn(t, e.srv, tok.AccessToken, viewerQuery, nil, nil), nil)

		// Ban until tomorrow: the next request with the access token is 401.
		tomorrow := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
		var banned struct{ BanUser acctUser }
		r = gqlOn(t, e.srv, e.adminKey, acctBan, map[string]any{"id": string(u.ID), "reason": "spam", "expiresAt": tomorrow.Format(time.RFC3339)}, nil)
		wantOK(t, r, &banned)
		if got := banned.BanUser; got.BannedAt == nil || got.BanReason != "spam" || got.BanExpiresAt == nil || !got.BanExpiresAt.Equal(tomorrow) || got.Status != "active" {
			t.Errorf("banUser answered %+v", got)
		}
		wantAuthError(t, gqlOn(t, e.srv, tok.AccessToken, viewerQuery, nil, nil), http.StatusUnauthorized, graph.CodeUnauthenticated)
		g := wantAuthError(t, loginOn(t, e.srv, email, testPassword), http.StatusForbidden, graph.CodeAccountBanned)
		if g.Extensions["bannedUntil"] != tomorrow.Format(time.RFC3339) {
			t.Errorf("bannedUntil = %v, want %s", g.Extensions["bannedUntil"], tomorrow.Format(time.RFC3339))
		}

		// Unban.
		var unbanned struct{ UnbanUser acctUser }
		wantOK(t, gqlOn(t, e.srv, e.adminKey, acctUnban, map[string]any{"id": string(u.ID), "reason": "appeal"}, nil), &unbanned)
		if got := unbanned.UnbanUser; got.BannedAt != nil || got.BanExpiresAt != nil || got.BanReason != "" {
			t.Errorf("unbanUser answered %+v", got)
		}
		wantAuthError(t, gqlOn(t, e.srv, tok.AccessToken, viewerQuery, nil, nil), http.StatusUnauthorized, graph.CodeUnauthenticated)
		tok = e.login(t, email, testPassword)
		wantOK(t, gqlOn(t, e.srv, tok.AccessToken, viewerQuery, nil, nil), nil)

		for verb, want := range map[string]int{"user.suspended": 1, "user.reactivated": 1, "user.banned": 1, "user.unbanned": 1} {
			if n := e.count(t, `SELECT COUNT(*) FROM cf_activities WHERE verb = `+e.q(1)+` AND object_id = `+e.q(2), verb, string(u.ID)); n != want {
				t.Errorf("%d %s activities, want %d", n, verb, want)
			}
		}
	})
}

type acctResult struct {
	UserID  string `json:"userID"`
	Applied bool   `json:"applied"`
	Code    string `json:"code"`
	Message string `json:"message"`
	User    *struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"user"`
}

// TestAccountBulkGraphQL: bulkTransitionUsers answers one result per user
// in input order, with codes, as the superadmin and as a platform admin.
func TestAccountBulkGraphQL(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		a := e.newPasswordUser(t, "bulk-a@example.com", testPassword)
		b := e.newPasswordUser(t, "bulk-b@example.com", testPassword)
		pending := user.StatusPending
		p, err := e.m.CreateUser(sys(), e.client, entCreateUser("bulk-p@example.com", &pending), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, adminKey := e.reviewUser(t, "bulk-admin@example.com", testPassword, user.PlatformRoleAdmin)
		tok := e.login(t, "bulk-a@example.com", testPassword)

		var out struct{ BulkTransitionUsers []acctResult }
		ids := []string{string(a.ID), unknownUserID, string(p.ID), string(b.ID), string(a.ID)}
		wantOK(t, gqlOn(t, e.srv, e.adminKey, acctBulk, map[string]any{"ids": ids, "to": "suspended", "reason": "bulk"}, nil), &out)
		want := []struct {
			id, code string
		}{{string(a.ID), ""}, {unknownUserID, graph.CodeNotFound}, {string(p.ID), graph.CodeBadUserInput}, {string(b.ID), ""}}
		if len(out.BulkTransitionUsers) != len(want) {
			t.Fatalf("results = %+v, want %d", out.BulkTransitionUsers, len(want))
		}
		for i, w := range want {
			r := out.BulkTransitionUsers[i]
			applied := w.code == ""
			if r.UserID != w.id || r.Applied != applied || r.Code != w.code || (applied && (r.User == nil || r.User.Status != "suspended")) || (!applied && (r.User != nil || r.Message == "")) {
				t.Errorf("result %d = %+v, want %s applied %v code %q", i, r, w.id, applied, w.code)
			}
		}
		if m := out.BulkTransitionUsers[2].Message; !strings.Contains(m, "pending") || !strings.Contains(m, "suspended") {
			t.Errorf("refusal message %q does not name the statuses", m)
		}
		wantAuthError(t, gqlOn(t, e.srv, tok.AccessToken, viewerQuery, nil, nil), http.StatusUnauthorized, graph.CodeUnauthenticated)

		// A platform admin: the superadmin is out of rank.
		wantOK(t, gqlOn(t, e.srv, adminKey, acctBulk, map[string]any{"ids": []string{string(e.adminID), string(a.ID)}, "to": "active", "reason": "back"}, nil), &out)
		if rs := out.BulkTransitionUsers; len(rs) != 2 || rs[0].Code != graph.CodeForbidden || rs[0].Applied || !rs[1].Applied {
			t.Errorf("admin bulk = %+v, want FORBIDDEN for the superadmin and the other applied", rs)
		}
	})
}

// TestAccountRefusalsGraphQL: refusals answer BAD_USER_INPUT (naming the
// statuses, or the field) or FORBIDDEN, and status and ban fields are
// gone from the generic inputs.
func TestAccountRefusalsGraphQL(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		u := e.newPasswordUser(t, "refused@example.com", testPassword)
		pending := user.StatusPending
		p, err := e.m.CreateUser(sys(), e.client, entCreateUser("refused-p@example.com", &pending), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, adminKey := e.reviewUser(t, "refused-admin@example.com", testPassword, user.PlatformRoleAdmin)
		_, plainKey := e.reviewUser(t, "refused-plain@example.com", testPassword, user.PlatformRoleNone)
		past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		cases := []struct {
			name, credential, query string
			vars                    map[string]any
			status                  int
			code, field             string
			contains                []string
		}{
			{"graph refuses pending -> suspended", e.adminKey, acctTransition, map[string]any{"id": string(p.ID), "to": "suspended", "reason": "x"},
				http.StatusOK, graph.CodeBadUserInput, "", []string{"pending", "suspended"}},
			{"already active", e.adminKey, acctTransition, map[string]any{"id": string(u.ID), "to": "active", "reason": "x"},
				http.StatusOK, graph.CodeBadUserInput, "", []string{"already active"}},
			{"blank reason", e.adminKey, acctTransition, map[string]any{"id": string(u.ID), "to": "suspended", "reason": "   "},
				http.StatusOK, graph.CodeBadUserInput, "reason", nil},
			{"admin on the superadmin", adminKey, acctTransition, map[string]any{"id": string(e.adminID), "to": "suspended", "reason": "x"},
				http.StatusOK, graph.CodeForbidden, "", nil},
			{"plain user", plainKey, acctTransition, map[string]any{"id": string(u.ID), "to": "suspended", "reason": "x"},
				http.StatusOK, graph.CodeNotFound, "", nil},
			{"ban in the past", e.adminKey, acctBan, map[string]any{"id": string(u.ID), "reason": "x", "expiresAt": past},
				http.StatusOK, graph.CodeBadUserInput, "expiresAt", nil},
			{"ban without reason", e.adminKey, acctBan, map[string]any{"id": string(u.ID), "reason": ""},
				http.StatusOK, graph.CodeBadUserInput, "reason", nil},
			{"ban oneself", e.adminKey, acctBan, map[string]any{"id": string(e.adminID), "reason": "x"},
				http.StatusOK, graph.CodeForbidden, "", nil},
			{"unban of a user not banned", e.adminKey, acctUnban, map[string]any{"id": string(u.ID), "reason": "x"},
				http.StatusOK, graph.CodeBadUserInput, "id", nil},
			{"createUser suspended", e.adminKey, `mutation { createUser(input: {email: "new-suspended@example.com", status: suspended}) { id } }`, nil,
				http.StatusOK, graph.CodeBadUserInput, "", []string{"suspended"}},
		}
		for _, field := range []string{"status: suspended", `statusReason: "x"`, `bannedAt: "2030-01-01T00:00:00Z"`, `banReason: "x"`, `banExpiresAt: "2030-01-01T00:00:00Z"`, `statusChangedAt: "2030-01-01T00:00:00Z"`} {
			cases = append(cases, struct {
				name, credential, query string
				vars                    map[string]any
				status                  int
				code, field             string
				contains                []string
			}{"updateUser " + field, e.adminKey, `mutation ($id: ID!) { updateUser(id: $id, input: {` + field + `}) { id } }`, map[string]any{"id": string(u.ID)},
				http.StatusUnprocessableEntity, "GRAPHQL_VALIDATION_FAILED", "", nil})
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				rows := e.rowCounts(t)
				r := gqlOn(t, e.srv, c.credential, c.query, c.vars, nil)
				if r.status != c.status {
					t.Errorf("HTTP %d, want %d: %s", r.status, c.status, r.raw)
				}
				g := r.onlyError(t)
				if g.code() != c.code {
					t.Errorf("code %q, want %s: %s", g.code(), c.code, r.raw)
				}
				if c.field != "" && g.Extensions["field"] != c.field {
					t.Errorf("field %v, want %s: %s", g.Extensions["field"], c.field, r.raw)
				}
				for _, s := range c.contains {
					if !strings.Contains(g.Message, s) {
						t.Errorf("message %q does not name %q", g.Message, s)
					}
				}
				assertNoSecrets(t, r, c.credential)
				if after := e.rowCounts(t); after != rows {
					t.Errorf("rows %+v -> %+v: a refusal wrote", rows, after)
				}
			})
		}
		var got struct{ Node acctUser }
		e.mustOK(t, `query ($id: ID!) { node(id: $id) { ... on User { id status bannedAt } } }`, map[string]any{"id": string(u.ID)}, &got)
		if got.Node.Status != "active" || got.Node.BannedAt != nil {
			t.Errorf("after the refusals the user is %+v", got.Node)
		}
	})
}
