package graph_test

// Regression tests of the security review of sign-in (commit "review
// fixes: ..."), over HTTP and GraphQL.

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/session"
	"github.com/cf/identity/softdelete"
)

// reviewUser creates an active user with password pw and platform role
// role, and returns it with a personal API key with every scope.
func (e *authEnv) reviewUser(t *testing.T, email, pw string, role user.PlatformRole) (*ent.User, string) {
	t.Helper()
	active := user.StatusActive
	u, err := e.m.CreateUser(sys(), e.client, ent.CreateUserInput{Email: email, Status: &active, PlatformRole: &role}, &pw)
	if err != nil {
		t.Fatalf("creating user %s: %v", email, err)
	}
	key, _, err := apikey.Create(sys(), e.client, apikey.Params{Name: "review", OwnerID: u.ID, Scopes: []string{actor.ScopeAll}})
	if err != nil {
		t.Fatalf("creating the key of %s: %v", email, err)
	}
	return u, key
}

// reviewState is what the tests compare of a user row.
type reviewState struct {
	Email, FirstName  string
	Hash              string
	FailedLogins      int
	Locked, Deleted   bool
	OldPassword, New  bool // the hash verifies testPassword, otherPassword
	PasswordSetEvents int
}

func (e *authEnv) reviewStateOf(t *testing.T, id pulid.ID) reviewState {
	t.Helper()
	u, err := e.client.User.Get(softdelete.IncludeDeleted(sys()), id)
	if err != nil {
		t.Fatalf("reading user %s: %v", id, err)
	}
	h, _ := u.PasswordHash.Value()
	return reviewState{
		Email: u.Email, FirstName: u.FirstName, Hash: fmt.Sprint(h), FailedLogins: u.FailedLogins,
		Locked: u.LockedUntil != nil, Deleted: u.DeletedAt != nil,
		OldPassword: u.PasswordHash.Verify(testPassword), New: u.PasswordHash.Verify(otherPassword),
		PasswordSetEvents: e.count(t, `SELECT COUNT(*) FROM cf_activities WHERE verb = 'user.password_set' AND object_id = `+e.q(1), string(id)),
	}
}

const reviewSetPassword = `mutation ($id: ID!, $pw: String!) { setUserPassword(id: $id, password: $pw) }`

// Review 1: setUserPassword on oneself, by a plain user with an access
// token or with a personal API key with scope *, is FORBIDDEN and changes
// nothing: the old password still signs in.
func TestReviewSetUserPasswordOnSelf(t *testing.T) {
	const email = "self-set@example.com"
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		u, key := e.reviewUser(t, email, testPassword, user.PlatformRoleNone)
		tok := e.login(t, email, testPassword)
		for _, c := range []struct{ name, credential string }{
			{"access token", tok.AccessToken},
			{"personal API key with scope *", key},
		} {
			t.Run(c.name, func(t *testing.T) {
				before, rows := e.reviewStateOf(t, u.ID), e.rowCounts(t)
				r := gqlOn(t, e.srv, c.credential, reviewSetPassword, map[string]any{"id": string(u.ID), "pw": otherPassword}, nil)
				if g := r.onlyError(t); g.code() != graph.CodeForbidden {
					t.Errorf("setUserPassword on oneself: code %q, want FORBIDDEN: %s", g.code(), r.raw)
				}
				assertNoSecrets(t, r, otherPassword, c.credential)
				if after := e.reviewStateOf(t, u.ID); after != before || !after.OldPassword || after.New {
					t.Errorf("a refused setUserPassword changed the user: before %+v, after %+v", before, after)
				}
				if after := e.rowCounts(t); after != rows {
					t.Errorf("rows after = %+v, want %+v: a refused setUserPassword wrote something", after, rows)
				}
				wantOK(t, gqlOn(t, e.srv, tok.AccessToken, viewerQuery, nil, nil), nil)
			})
		}
		e.login(t, email, testPassword)
		wantAuthError(t, loginOn(t, e.srv, email, otherPassword), http.StatusUnauthorized, graph.CodeInvalidCredentials)
	})
}

// Review 2: platform staff manage only users of a lower platform rank over
// GraphQL: an admin may not setUserPassword, unlockUser, updateUser or
// deleteUser a superadmin or another admin, and may a user of platform
// role none; a superadmin may an admin.
func TestReviewRankRuleGraphQL(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		_, adminKey := e.reviewUser(t, "platform-admin@example.com", testPassword, user.PlatformRoleAdmin)
		ops := []struct {
			name  string
			query string
			vars  func(id pulid.ID) map[string]any
			done  func(before, after reviewState) bool
		}{
			{"setUserPassword", reviewSetPassword,
				func(id pulid.ID) map[string]any { return map[string]any{"id": string(id), "pw": otherPassword} },
				func(_, a reviewState) bool { return a.New && !a.OldPassword && a.PasswordSetEvents == 1 }},
			{"unlockUser", `mutation ($id: ID!) { unlockUser(id: $id) { id failedLogins lockedUntil } }`,
				func(id pulid.ID) map[string]any { return map[string]any{"id": string(id)} },
				func(_, a reviewState) bool { return a.FailedLogins == 0 && !a.Locked }},
			{"updateUser", `mutation ($id: ID!, $email: String!) { updateUser(id: $id, input: {email: $email, firstName: "Renamed"}) { id email firstName } }`,
				func(id pulid.ID) map[string]any {
					return map[string]any{"id": string(id), "email": "renamed-" + strings.ToLower(string(id[len(id)-8:])) + "@example.com"}
				},
				func(b, a reviewState) bool { return a.Email != b.Email && a.FirstName == "Renamed" }},
			{"deleteUser", `mutation ($id: ID!) { deleteUser(id: $id) }`,
				func(id pulid.ID) map[string]any { return map[string]any{"id": string(id)} },
				func(_, a reviewState) bool { return a.Deleted }},
		}
		cases := []struct {
			name       string
			credential string
			target     user.PlatformRole
			allowed    bool
		}{
			{"admin on a superadmin", adminKey, user.PlatformRoleSuperadmin, false},
			{"admin on another admin", adminKey, user.PlatformRoleAdmin, false},
			{"admin on platform role none", adminKey, user.PlatformRoleNone, true},
			{"superadmin on an admin", e.adminKey, user.PlatformRoleAdmin, true},
		}
		n := 0
		for _, op := range ops {
			for _, c := range cases {
				t.Run(op.name+"/"+c.name, func(t *testing.T) {
					n++
					target, _ := e.reviewUser(t, fmt.Sprintf("rank-target-%d@example.com", n), testPassword, c.target)
					if err := e.client.User.UpdateOneID(target.ID).SetFailedLogins(6).SetLockedUntil(e.clock.Now().Add(time.Hour)).Exec(sys()); err != nil {
						t.Fatal(err)
					}
					before := e.reviewStateOf(t, target.ID)
					r := gqlOn(t, e.srv, c.credential, op.query, op.vars(target.ID), nil)
					assertNoSecrets(t, r, otherPassword, c.credential)
					after := e.reviewStateOf(t, target.ID)
					if c.allowed {
						wantOK(t, r, nil)
						if !op.done(before, after) {
							t.Errorf("%s succeeded but the user is %+v (before %+v)", op.name, after, before)
						}
						return
					}
					if g := r.onlyError(t); g.code() != graph.CodeForbidden {
						t.Errorf("%s: code %q, want FORBIDDEN: %s", op.name, g.code(), r.raw)
					}
					if after != before {
						t.Errorf("a refused %s changed the user: before %+v, after %+v", op.name, before, after)
					}
				})
			}
		}
	})
}

// Review 3: /auth/refresh of a session whose user was deleted or whose
// organization was deleted answers 401 SESSION_REVOKED (not 500), and so
// does that of a banned user (the ban revoked it at once); each revokes the
// session with its reason and records session.revoked. A login into a deleted organization is 403.
func TestReviewRefreshEndedSessionHTTP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		loginIn := func(t *testing.T, email string, org pulid.ID) tokenAnswer {
			t.Helper()
			return tokensOf(t, authPost(t, e.srv, "/auth/login", jsonString(t, map[string]string{"email": email, "password": testPassword, "organizationID": string(org)}), nil))
		}
		cases := []struct {
			name    string
			prepare func(t *testing.T, u *ent.User, email string) tokenAnswer
			status  int
			code    string
			reason  string
		}{
			{"user soft-deleted", func(t *testing.T, u *ent.User, email string) tokenAnswer {
				tok := e.login(t, email, testPassword)
				if err := e.client.User.DeleteOneID(u.ID).Exec(sys()); err != nil {
					t.Fatalf("deleting the user: %v", err)
				}
				return tok
			}, http.StatusUnauthorized, graph.CodeSessionRevoked, session.RevokedUserDeleted},
			{"organization soft-deleted", func(t *testing.T, u *ent.User, email string) tokenAnswer {
				org, _, _ := e.orgFixture(t, "gone-"+strings.ToLower(string(u.ID[len(u.ID)-6:])))
				e.addMember(t, org, u.ID)
				tok := loginIn(t, email, org.ID)
				if err := e.client.Organization.DeleteOneID(org.ID).Exec(sys()); err != nil {
					t.Fatalf("deleting the organization: %v", err)
				}
				return tok
			}, http.StatusUnauthorized, graph.CodeSessionRevoked, session.RevokedMembershipEnded},
			{"user banned", func(t *testing.T, u *ent.User, email string) tokenAnswer {
				tok := e.login(t, email, testPassword)
				if err := e.client.User.UpdateOneID(u.ID).SetBannedAt(e.clock.Now().Add(-time.Minute)).SetBanReason("review").Exec(sys()); err != nil {
					t.Fatalf("banning the user: %v", err)
				}
				return tok
			}, http.StatusUnauthorized, graph.CodeSessionRevoked, "user_banned"}, // revoked at once by the ban
		}
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				email := fmt.Sprintf("ended-%d@example.com", i)
				u := e.newPasswordUser(t, email, testPassword)
				tok := c.prepare(t, u, email)
				r := refreshOn(t, e.srv, tok.RefreshToken)
				wantAuthError(t, r, c.status, c.code)
				assertNoSecrets(t, r, tok.RefreshToken, tok.AccessToken)
				var reason string
				if err := e.sqlDB.QueryRow(`SELECT COALESCE(revoked_reason, '') FROM cf_sessions WHERE revoked_at IS NOT NULL AND id = `+e.q(1), tok.SessionID).Scan(&reason); err != nil || reason != c.reason {
					t.Errorf("session revoked for %q (%v), want revoked for %s", reason, err, c.reason)
				}
				if n := e.count(t, `SELECT COUNT(*) FROM cf_activities WHERE verb = 'session.revoked' AND object_id = `+e.q(1), tok.SessionID); n != 1 {
					t.Errorf("%d session.revoked activities of the session, want 1", n)
				}
				if n := e.liveTokens(t, tok.SessionID); n != 0 {
					t.Errorf("%d live refresh tokens of the ended session, want 0", n)
				}
				wantAuthError(t, refreshOn(t, e.srv, tok.RefreshToken), http.StatusUnauthorized, graph.CodeSessionRevoked)
			})
		}

		t.Run("login into a soft-deleted organization", func(t *testing.T) {
			const email = "gone-org-member@example.com"
			u := e.newPasswordUser(t, email, testPassword)
			org, _, _ := e.orgFixture(t, "gone-login")
			e.addMember(t, org, u.ID)
			if err := e.client.Organization.DeleteOneID(org.ID).Exec(sys()); err != nil {
				t.Fatalf("deleting the organization: %v", err)
			}
			r := authPost(t, e.srv, "/auth/login", jsonString(t, map[string]string{"email": email, "password": testPassword, "organizationID": string(org.ID)}), nil)
			wantAuthError(t, r, http.StatusForbidden, graph.CodeForbidden)
			if n := e.count(t, `SELECT COUNT(*) FROM cf_sessions WHERE user_id = `+e.q(1), string(u.ID)); n != 0 {
				t.Errorf("%d sessions opened in a deleted organization", n)
			}
		})
	})
}

// Review 4: /auth/switch never hands out an access token that outlives the
// one presented (the presented one minted by a server whose clock is 10
// minutes behind has about 5 minutes left; the switched one must not last
// 15), and refuses the token of a revoked session with 401.
func TestReviewSwitchExpiryHTTP(t *testing.T) {
	const email = "switcher@example.com"
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		u := e.newPasswordUser(t, email, testPassword)
		acme, _, _ := e.orgFixture(t, "acme")
		globex, _, _ := e.orgFixture(t, "globex")
		e.addMember(t, acme, u.ID)
		e.addMember(t, globex, u.ID)
		behind := newManager(t, e.client, e.key, func(c *session.Config) {
			c.Now = func() time.Time { return e.clock.Now().Add(-10 * time.Minute) }
		})
		mintBehind := func(t *testing.T) string {
			t.Helper()
			tok, err := behind.Login(context.Background(), session.LoginInput{Email: email, Password: testPassword, Client: session.Client{IP: "127.0.0.1"}})
			if err != nil {
				t.Fatalf("Login 10 minutes ago: %v", err)
			}
			return tok.AccessToken
		}
		switchTo := func(t *testing.T, token string, org pulid.ID) response {
			t.Helper()
			return authPost(t, e.srv, "/auth/switch", jsonString(t, map[string]string{"organizationID": string(org)}), map[string]string{"Authorization": bearer(token)})
		}
		cases := []struct {
			name    string
			present func(t *testing.T) string
		}{
			{"token with 5 minutes left", mintBehind},
			{"switched token with 5 minutes left, switched again", func(t *testing.T) string {
				return tokensOf(t, switchTo(t, mintBehind(t), globex.ID)).AccessToken
			}},
			{"fresh token", func(t *testing.T) string { return e.login(t, email, testPassword).AccessToken }},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				presented := c.present(t)
				was := claimsOf(t, presented).Expiry
				sw := tokensOf(t, switchTo(t, presented, acme.ID))
				got := claimsOf(t, sw.AccessToken)
				if got.Organization != acme.ID {
					t.Errorf("switched token in %q, want %s", got.Organization, acme.ID)
				}
				if got.Expiry.After(was) {
					t.Errorf("switched token expires %v, after the presented one (%v)", got.Expiry, was)
				}
				if left := was.Sub(e.clock.Now()); sw.ExpiresIn > int(left/time.Second)+1 {
					t.Errorf("expiresIn = %d s, the presented token had %s left", sw.ExpiresIn, left)
				}
				if was.Before(e.clock.Now().Add(6*time.Minute)) && got.Expiry.After(e.clock.Now().Add(6*time.Minute)) {
					t.Errorf("the switched token of a 5-minute token expires %v, %s from now", got.Expiry, got.Expiry.Sub(e.clock.Now()))
				}
				wantOK(t, gqlOn(t, e.srv, sw.AccessToken, viewerQuery, nil, nil), nil)
			})
		}

		t.Run("revoked session", func(t *testing.T) {
			tok := e.login(t, email, testPassword)
			if status, body := logoutRaw(t, e.srv, tok.RefreshToken); status != http.StatusNoContent {
				t.Fatalf("logout: HTTP %d %s", status, body)
			}
			r := switchTo(t, tok.AccessToken, acme.ID)
			wantAuthError(t, r, http.StatusUnauthorized, graph.CodeUnauthenticated)
			assertNoSecrets(t, r, tok.AccessToken)
			if n := e.count(t, `SELECT COUNT(*) FROM cf_activities WHERE verb = 'session.organization_switched' AND object_id = `+e.q(1), tok.SessionID); n != 0 {
				t.Errorf("%d session.organization_switched of the revoked session", n)
			}
		})
	})
}

// Review 5: one changePassword or setUserPassword per request, alone in
// its mutation; a refused operation runs nothing (no failed login counted,
// no password changed).
func TestReviewOnePasswordMutation(t *testing.T) {
	const email = "one-per-request@example.com"
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		u := e.newPasswordUser(t, email, testPassword)
		tok := e.login(t, email, testPassword)
		const (
			change = `changePassword(currentPassword: $cur, newPassword: $next)`
			set    = `setUserPassword(id: $id, password: $next)`
			update = `updateUser(id: $id, input: {firstName: "Changed"}) { id }`
			onePer = "one changePassword, setUserPassword or requestEmailChange per request"
			alone  = "must be the only field"
		)
		cases := []struct {
			name, credential, query, cur, msg string
		}{
			{"two aliased changePassword, wrong current password", tok.AccessToken,
				`mutation ($cur: String!, $next: String!) { a: ` + change + ` b: ` + change + ` }`, "Wrong-current-password-1", onePer},
			{"two aliased changePassword, right current password", tok.AccessToken,
				`mutation ($cur: String!, $next: String!) { a: ` + change + ` b: ` + change + ` }`, testPassword, onePer},
			{"changePassword twice through fragments", tok.AccessToken,
				`mutation ($cur: String!, $next: String!) { ...A ...B } fragment A on Mutation { a: ` + change + ` } fragment B on Mutation { b: ` + change + ` }`, "Wrong-current-password-1", onePer},
			{"changePassword and setUserPassword", tok.AccessToken,
				`mutation ($id: ID!, $cur: String!, $next: String!) { ` + change + ` ` + set + ` }`, testPassword, onePer},
			{"two aliased setUserPassword", e.adminKey,
				`mutation ($id: ID!, $next: String!) { a: ` + set + ` b: ` + set + ` }`, "", onePer},
			{"setUserPassword next to updateUser", e.adminKey,
				`mutation ($id: ID!, $next: String!) { ` + set + ` ` + update + ` }`, "", alone},
			{"changePassword next to updateUser", tok.AccessToken,
				`mutation ($id: ID!, $cur: String!, $next: String!) { ` + update + ` ` + change + ` }`, "Wrong-current-password-1", alone},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before, rows := e.reviewStateOf(t, u.ID), e.rowCounts(t)
				vars := map[string]any{"next": otherPassword}
				if strings.Contains(c.query, "$id") {
					vars["id"] = string(u.ID)
				}
				if c.cur != "" {
					vars["cur"] = c.cur
				}
				r := gqlOn(t, e.srv, c.credential, c.query, vars, nil)
				g := r.onlyError(t)
				if g.code() != graph.CodeBadUserInput || !strings.Contains(g.Message, c.msg) {
					t.Errorf("code %q message %q, want BAD_USER_INPUT %q: %s", g.code(), g.Message, c.msg, r.raw)
				}
				assertNoSecrets(t, r, otherPassword, testPassword, c.cur)
				if after := e.reviewStateOf(t, u.ID); after != before {
					t.Errorf("a refused operation changed the user: before %+v, after %+v", before, after)
				}
				if after := e.rowCounts(t); after != rows {
					t.Errorf("rows after = %+v, want %+v: a refused operation ran", after, rows)
				}
			})
		}
		wantOK(t, gqlOn(t, e.srv, tok.AccessToken, viewerQuery, nil, nil), nil)
		// Alone (next to __typename) the same mutation runs.
		var done struct{ SetUserPassword bool }
		wantOK(t, gqlOn(t, e.srv, e.adminKey, `mutation ($id: ID!, $pw: String!) { __typename setUserPassword(id: $id, password: $pw) }`,
			map[string]any{"id": string(u.ID), "pw": otherPassword}, nil), &done)
		if !done.SetUserPassword {
			t.Errorf("setUserPassword = false")
		}
		e.login(t, email, otherPassword)
	})
}

// Review 6 (GraphQL part): changePassword on a locked account is
// ACCOUNT_LOCKED whatever the current password, and counts nothing.
func TestReviewChangePasswordLockedGraphQL(t *testing.T) {
	const email = "locked-gql@example.com"
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		u := e.newPasswordUser(t, email, testPassword)
		tok := e.login(t, email, testPassword)
		if err := e.client.User.UpdateOneID(u.ID).SetFailedLogins(4).SetLockedUntil(e.clock.Now().Add(time.Hour)).Exec(sys()); err != nil {
			t.Fatal(err)
		}
		const change = `mutation ($cur: String!, $next: String!) { changePassword(currentPassword: $cur, newPassword: $next) }`
		var msgs []string
		for _, c := range []struct{ name, cur string }{
			{"right current password", testPassword},
			{"wrong current password", "Wrong-current-password-1"},
		} {
			t.Run(c.name, func(t *testing.T) {
				before := e.reviewStateOf(t, u.ID)
				r := gqlOn(t, e.srv, tok.AccessToken, change, map[string]any{"cur": c.cur, "next": otherPassword}, nil)
				g := r.onlyError(t)
				if g.code() != graph.CodeAccountLocked {
					t.Errorf("changePassword on a locked account: code %q, want ACCOUNT_LOCKED: %s", g.code(), r.raw)
				}
				msgs = append(msgs, g.Message)
				assertNoSecrets(t, r, c.cur, otherPassword)
				if after := e.reviewStateOf(t, u.ID); after != before || after.FailedLogins != 4 || !after.OldPassword {
					t.Errorf("a refused change changed the user: before %+v, after %+v", before, after)
				}
			})
		}
		if len(msgs) == 2 && msgs[0] != msgs[1] {
			t.Errorf("a right and a wrong current password answer %q and %q while locked", msgs[0], msgs[1])
		}
	})
}
