package graph_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
)

const (
	impImpersonate = `mutation ($id: ID!, $reason: String!, $minutes: Int) {
  impersonateUser(userID: $id, reason: $reason, durationMinutes: $minutes) {
    accessToken tokenType expiresIn refreshToken expiresAt session { id userID impersonatorID } } }`
	impViewer = `{ viewer { user { id } impersonatorID session { id } } }`
	impStop   = `mutation ($id: ID) { stopImpersonation(sessionID: $id) { id revokedAt revokedReason } }`
)

// TestImpersonationGraphQL: a superadmin signed in with a password
// impersonates a user; the token acts as the user, its writes are recorded
// with the impersonator, it cannot take the account over, and
// stopImpersonation ends it at once.
func TestImpersonationGraphQL(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		super, _ := e.reviewUser(t, "imp-super@example.com", testPassword, user.PlatformRoleSuperadmin)
		target := e.newPasswordUser(t, "imp-target@example.com", testPassword)
		superTok := e.login(t, super.Email, testPassword)

		var started struct {
			ImpersonateUser struct {
				AccessToken, TokenType, RefreshToken, ExpiresAt string
				ExpiresIn                                       int
				Session                                         struct{ ID, UserID, ImpersonatorID string }
			}
		}
		wantOK(t, gqlOn(t, e.srv, superTok.AccessToken, impImpersonate, map[string]any{"id": string(target.ID), "reason": "ticket 9"}, nil), &started)
		imp := started.ImpersonateUser
		if imp.Session.UserID != string(target.ID) || imp.Session.ImpersonatorID != string(super.ID) || imp.TokenType != "Bearer" || imp.RefreshToken == "" {
			t.Fatalf("impersonateUser answered %+v", imp)
		}

		var v struct {
			Viewer struct {
				User           struct{ ID string }
				ImpersonatorID string
				Session        struct{ ID string }
			}
		}
		wantOK(t, gqlOn(t, e.srv, imp.AccessToken, impViewer, nil, nil), &v)
		if v.Viewer.User.ID != string(target.ID) || v.Viewer.ImpersonatorID != string(super.ID) || v.Viewer.Session.ID != imp.Session.ID {
			t.Fatalf("viewer of the impersonation: %+v", v.Viewer)
		}

		// A write runs as the target and names the impersonator.
		wantOK(t, gqlOn(t, e.srv, imp.AccessToken, `mutation ($id: ID!) { updateUser(id: $id, input: {displayName: "Fixed by support"}) { id } }`,
			map[string]any{"id": string(target.ID)}, nil), nil)
		if n := e.count(t, `SELECT COUNT(*) FROM cf_activities WHERE verb = 'user.updated' AND object_id = `+e.q(1)+
			` AND actor_user_id = `+e.q(2)+` AND impersonator_id = `+e.q(3), string(target.ID), string(target.ID), string(super.ID)); n != 1 {
			t.Errorf("%d user.updated by the target impersonated by the superadmin, want 1", n)
		}

		refusals := []struct {
			name, credential, query string
			vars                    map[string]any
			code, field, contains   string
		}{
			{"changing the email", imp.AccessToken, `mutation ($id: ID!) { updateUser(id: $id, input: {email: "x@evil.example"}) { id } }`,
				map[string]any{"id": string(target.ID)}, graph.CodeForbidden, "", "impersonated session"},
			{"creating an API key", imp.AccessToken, `mutation { createAPIKey(input: {name: "k", scopes: ["*"]}) { key } }`, nil,
				graph.CodeForbidden, "", "impersonated session"},
			{"a nested impersonation", imp.AccessToken, impImpersonate, map[string]any{"id": string(super.ID), "reason": "x"},
				graph.CodeForbidden, "", "impersonat"},
			{"with an API key", e.adminKey, impImpersonate, map[string]any{"id": string(target.ID), "reason": "x"},
				graph.CodeForbidden, "", "API key"},
			{"above the cap", superTok.AccessToken, impImpersonate, map[string]any{"id": string(target.ID), "reason": "x", "minutes": 61},
				graph.CodeBadUserInput, "durationMinutes", "60"},
			{"without a reason", superTok.AccessToken, impImpersonate, map[string]any{"id": string(target.ID), "reason": " "},
				graph.CodeBadUserInput, "reason", ""},
			{"oneself", superTok.AccessToken, impImpersonate, map[string]any{"id": string(super.ID), "reason": "x"},
				graph.CodeBadUserInput, "userID", "yourself"},
			{"the bootstrap superadmin (equal rank)", superTok.AccessToken, impImpersonate, map[string]any{"id": string(e.adminID), "reason": "x"},
				graph.CodeForbidden, "", "superadmin"},
		}
		for _, c := range refusals {
			t.Run(c.name, func(t *testing.T) {
				rows := e.rowCounts(t)
				r := gqlOn(t, e.srv, c.credential, c.query, c.vars, nil)
				if r.status != http.StatusOK {
					t.Errorf("HTTP %d: %s", r.status, r.raw)
				}
				g := r.onlyError(t)
				if g.code() != c.code || (c.field != "" && g.Extensions["field"] != c.field) || !strings.Contains(g.Message, c.contains) {
					t.Errorf("error %s (field %v) %q, want %s (field %q) naming %q", g.code(), g.Extensions["field"], g.Message, c.code, c.field, c.contains)
				}
				assertNoSecrets(t, r, c.credential)
				if after := e.rowCounts(t); after != rows {
					t.Errorf("rows %+v -> %+v: a refusal wrote", rows, after)
				}
			})
		}

		// Switching organization and logging out keep naming the
		// impersonator.
		sw := authPost(t, e.srv, "/auth/switch", `{}`, map[string]string{"Authorization": bearer(imp.AccessToken)})
		if sw.status != http.StatusOK {
			t.Fatalf("/auth/switch: HTTP %d %s", sw.status, sw.raw)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM cf_activities WHERE verb = 'session.organization_switched' AND object_id = `+e.q(1)+
			` AND impersonator_id = `+e.q(2), imp.Session.ID, string(super.ID)); n != 1 {
			t.Errorf("%d session.organization_switched naming the impersonator, want 1", n)
		}

		// Stop: the token answers 401 on the next request.
		var stopped struct {
			StopImpersonation struct{ ID, RevokedAt, RevokedReason string }
		}
		wantOK(t, gqlOn(t, e.srv, imp.AccessToken, impStop, nil, nil), &stopped)
		if stopped.StopImpersonation.ID != imp.Session.ID || stopped.StopImpersonation.RevokedReason != "impersonation_stopped" {
			t.Errorf("stopImpersonation answered %+v", stopped.StopImpersonation)
		}
		wantAuthError(t, gqlOn(t, e.srv, imp.AccessToken, impViewer, nil, nil), http.StatusUnauthorized, graph.CodeUnauthenticated)
		// A second impersonation ends with a logout, recorded with the
		// impersonator.
		wantOK(t, gqlOn(t, e.srv, superTok.AccessToken, impImpersonate, map[string]any{"id": string(target.ID), "reason": "again"}, nil), &started)
		if status, body := logoutRaw(t, e.srv, started.ImpersonateUser.RefreshToken); status != http.StatusNoContent {
			t.Fatalf("logout: HTTP %d %s", status, body)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM cf_activities WHERE verb = 'session.revoked' AND object_id = `+e.q(1)+
			` AND impersonator_id = `+e.q(2), started.ImpersonateUser.Session.ID, string(super.ID)); n != 1 {
			t.Errorf("%d session.revoked (logout) naming the impersonator, want 1", n)
		}
		for verb, want := range map[string]int{"user.impersonation_started": 2, "user.impersonation_stopped": 1} {
			if n := e.count(t, `SELECT COUNT(*) FROM cf_activities WHERE verb = `+e.q(1)+` AND object_id = `+e.q(2), verb, string(target.ID)); n != want {
				t.Errorf("%d %s, want %d", n, verb, want)
			}
		}
	})
}
