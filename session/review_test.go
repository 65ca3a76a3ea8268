package session

// Regression tests of the security review of sign-in (commit "review
// fixes: ..."): each test names the hole it proves closed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cf/identity/accesstoken"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
)

// reviewRows are the rows the sign-in flows write.
type reviewRows struct {
	Activities, Sessions, RefreshTokens, FailedLogins int
	Hashes                                            string
}

// reviewRowsOf counts the rows of e that sign-in writes, with every stored
// password hash, so that "writes nothing" can be asserted.
func reviewRowsOf(t testing.TB, e *env) reviewRows {
	t.Helper()
	var r reviewRows
	err := e.sql.QueryRow(`SELECT
		(SELECT COUNT(*) FROM cf_activities),
		(SELECT COUNT(*) FROM cf_sessions),
		(SELECT COUNT(*) FROM cf_refresh_tokens),
		(SELECT COALESCE(SUM(failed_logins), 0) FROM cf_users)`).Scan(&r.Activities, &r.Sessions, &r.RefreshTokens, &r.FailedLogins)
	if err != nil {
		t.Fatalf("counting rows: %v", err)
	}
	var hashes []string
	for _, u := range e.c.User.Query().Order(ent.Asc(user.FieldID)).AllX(sys()) {
		v, _ := u.PasswordHash.Value()
		hashes = append(hashes, fmt.Sprint(v))
	}
	r.Hashes = strings.Join(hashes, "\n")
	return r
}

// personalKeyCtx stores a personal API key of u with scope * and returns a
// context acting as it, with its grants loaded.
func (e *env) personalKeyCtx(t testing.TB, u *ent.User) context.Context {
	t.Helper()
	_, k, err := apikey.Create(sys(), e.c, apikey.Params{Name: "review", OwnerID: u.ID, Scopes: []string{actor.ScopeAll}})
	if err != nil {
		t.Fatalf("apikey.Create: %v", err)
	}
	return e.as(t, actor.APIKey(k.ID, u.ID, actor.PlatformNone, "", []string{actor.ScopeAll}))
}

// expiryOf decodes the exp claim of an access token without verifying it.
func expiryOf(t testing.TB, token string) time.Time {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token has %d segments", len(parts))
	}
	b, err := b64url.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return time.Unix(c.Exp, 0)
}

// Review 1: setting a password without the current one is an
// administration act. A plain user may not do it on their own account,
// with an access token or with a personal key with every scope, and
// nothing changes: the old password still signs in.
func TestReviewSetPasswordOnSelfRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		u := e.user(t, "self-setter@example.com", testPassword)
		tok := e.login(t, u.Email, laptop)
		for _, tt := range []struct {
			name string
			ctx  func(t *testing.T) context.Context
		}{
			{"access token", func(t *testing.T) context.Context { return e.asToken(t, tok.AccessToken) }},
			{"personal API key with scope *", func(t *testing.T) context.Context { return e.personalKeyCtx(t, u) }},
			{"plain user actor", func(t *testing.T) context.Context { return e.as(t, actor.User(u.ID, actor.PlatformNone)) }},
		} {
			t.Run(tt.name, func(t *testing.T) {
				ctx := tt.ctx(t)
				before := reviewRowsOf(t, e)
				err := e.m.SetPassword(ctx, e.c, u.ID, newPassword)
				if !errors.Is(err, privacy.Deny) {
					t.Fatalf("SetPassword on oneself: %v, want privacy.Deny", err)
				}
				if strings.Contains(err.Error(), newPassword) {
					t.Errorf("the error %q holds the password", err)
				}
				if after := reviewRowsOf(t, e); after != before {
					t.Errorf("a refused SetPassword wrote rows: before %+v, after %+v", before, after)
				}
				h := e.userRow(t, u.ID).PasswordHash
				if !h.Verify(testPassword) || h.Verify(newPassword) {
					t.Errorf("a refused SetPassword changed the password")
				}
				if _, err := e.m.Authenticate(context.Background(), tok.AccessToken); err != nil {
					t.Errorf("a refused SetPassword revoked the session: %v", err)
				}
			})
		}
		if n := len(e.activities(t, "user.password_set", u.ID)); n != 0 {
			t.Errorf("%d user.password_set activities for refused sets", n)
		}
		e.login(t, u.Email, laptop)
		if _, err := e.m.Login(context.Background(), LoginInput{Email: u.Email, Password: newPassword}); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("Login with the refused password: %v, want ErrInvalidCredentials", err)
		}
		// The password itself was acceptable: a platform admin sets it.
		admin := e.user(t, "review-admin@example.com", testPassword, func(q *ent.UserCreate) { q.SetPlatformRole(user.PlatformRoleAdmin) })
		if err := e.m.SetPassword(e.as(t, actor.User(admin.ID, actor.PlatformAdmin)), e.c, u.ID, newPassword); err != nil {
			t.Fatalf("SetPassword by a platform admin: %v", err)
		}
		if _, err := e.m.Login(context.Background(), LoginInput{Email: u.Email, Password: newPassword}); err != nil {
			t.Errorf("Login with the password set by the admin: %v", err)
		}
	})
}

// Review 2 (Manager part): platform staff set passwords and unlock only
// users of a lower platform rank: an admin never a superadmin or another
// admin; a superadmin any admin.
func TestReviewRankRuleManager(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		admin := e.user(t, "rank-admin@example.com", testPassword, func(q *ent.UserCreate) { q.SetPlatformRole(user.PlatformRoleAdmin) })
		root := e.user(t, "rank-root@example.com", testPassword, func(q *ent.UserCreate) { q.SetPlatformRole(user.PlatformRoleSuperadmin) })
		asAdmin := e.as(t, actor.User(admin.ID, actor.PlatformAdmin))
		asRoot := e.as(t, actor.User(root.ID, actor.PlatformSuperadmin))
		until := e.clock.Now().Add(time.Hour)
		ops := []struct {
			name string
			run  func(ctx context.Context, id pulid.ID) error
			// done reports whether the op took effect on u.
			done func(u *ent.User) bool
		}{
			{"SetPassword", func(ctx context.Context, id pulid.ID) error { return e.m.SetPassword(ctx, e.c, id, newPassword) },
				func(u *ent.User) bool { return u.PasswordHash.Verify(newPassword) }},
			{"UnlockUser", func(ctx context.Context, id pulid.ID) error { _, err := e.m.UnlockUser(ctx, e.c, id); return err },
				func(u *ent.User) bool { return u.LockedUntil == nil && u.FailedLogins == 0 }},
		}
		cases := []struct {
			name    string
			ctx     context.Context
			target  user.PlatformRole
			allowed bool
		}{
			{"admin on a superadmin", asAdmin, user.PlatformRoleSuperadmin, false},
			{"admin on another admin", asAdmin, user.PlatformRoleAdmin, false},
			{"admin on a user of platform role none", asAdmin, user.PlatformRoleNone, true},
			{"superadmin on an admin", asRoot, user.PlatformRoleAdmin, true},
		}
		n := 0
		for _, op := range ops {
			for _, tt := range cases {
				t.Run(op.name+"/"+tt.name, func(t *testing.T) {
					n++
					target := e.user(t, fmt.Sprintf("rank-target-%d@example.com", n), testPassword, func(q *ent.UserCreate) {
						q.SetPlatformRole(tt.target).SetFailedLogins(7).SetLockedUntil(until)
					})
					err := op.run(tt.ctx, target.ID)
					got := e.userRow(t, target.ID)
					if tt.allowed {
						if err != nil {
							t.Fatalf("%s: %v, want it done", op.name, err)
						}
						if !op.done(got) {
							t.Errorf("%s succeeded but did not take effect", op.name)
						}
						return
					}
					if !errors.Is(err, privacy.Deny) {
						t.Fatalf("%s: %v, want privacy.Deny", op.name, err)
					}
					if !got.PasswordHash.Verify(testPassword) || got.FailedLogins != 7 || !timePtrEq(got.LockedUntil, until) {
						t.Errorf("after a refused %s: password unchanged %t, failed_logins %d, locked_until %v; want unchanged, 7, %v",
							op.name, got.PasswordHash.Verify(testPassword), got.FailedLogins, got.LockedUntil, until)
					}
					for _, verb := range []string{"user.password_set", "user.unlocked"} {
						if k := len(e.activities(t, verb, target.ID)); k != 0 {
							t.Errorf("%d %s activities for a refused %s", k, verb, op.name)
						}
					}
				})
			}
		}
	})
}

// Review 3: a refresh of a session whose user was deleted, whose
// organization was deleted, or whose user may no longer sign in revokes
// the session with its reason and records session.revoked, instead of
// failing with an internal error.
func TestReviewRefreshEndsSession(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		owner := e.user(t, "end-owner@example.com", testPassword)
		cases := []struct {
			name string
			// prepare signs u in and ends what the session stands on.
			prepare func(t *testing.T, u *ent.User) *Tokens
			want    func(error) bool
			wantMsg string
			reason  string
		}{
			{
				name: "user soft-deleted",
				prepare: func(t *testing.T, u *ent.User) *Tokens {
					tok := e.login(t, u.Email, laptop)
					if err := e.c.User.DeleteOneID(u.ID).Exec(sys()); err != nil {
						t.Fatalf("deleting the user: %v", err)
					}
					return tok
				},
				want:    func(err error) bool { return errors.Is(err, ErrSessionRevoked) },
				wantMsg: "ErrSessionRevoked",
				reason:  RevokedUserDeleted,
			},
			{
				name: "organization soft-deleted",
				prepare: func(t *testing.T, u *ent.User) *Tokens {
					o := e.org(t, owner, "end-org")
					e.join(t, o, owner, u)
					tok, err := e.m.Login(context.Background(), LoginInput{Email: u.Email, Password: testPassword, OrganizationID: o.ID, Client: laptop})
					if err != nil {
						t.Fatalf("Login in the organization: %v", err)
					}
					if err := e.c.Organization.DeleteOneID(o.ID).Exec(sys()); err != nil {
						t.Fatalf("deleting the organization: %v", err)
					}
					return tok
				},
				want:    func(err error) bool { return errors.Is(err, ErrSessionRevoked) },
				wantMsg: "ErrSessionRevoked",
				reason:  RevokedMembershipEnded,
			},
			{
				name: "user banned",
				prepare: func(t *testing.T, u *ent.User) *Tokens {
					tok := e.login(t, u.Email, laptop)
					if err := e.c.User.UpdateOneID(u.ID).SetBannedAt(e.clock.Now().Add(-time.Minute)).SetBanReason("review").Exec(sys()); err != nil {
						t.Fatalf("banning the user: %v", err)
					}
					return tok
				},
				// The ban revoked the session at once (the lifecycle hook).
				want:    func(err error) bool { return errors.Is(err, ErrSessionRevoked) },
				wantMsg: "ErrSessionRevoked",
				reason:  "user_banned",
			},
			{
				name: "user suspended",
				prepare: func(t *testing.T, u *ent.User) *Tokens {
					tok := e.login(t, u.Email, laptop)
					if err := e.c.User.UpdateOneID(u.ID).SetStatus(user.StatusSuspended).Exec(sys()); err != nil {
						t.Fatalf("suspending the user: %v", err)
					}
					return tok
				},
				// Leaving active revoked the session at once.
				want:    func(err error) bool { return errors.Is(err, ErrSessionRevoked) },
				wantMsg: "ErrSessionRevoked",
				reason:  "user_suspended",
			},
		}
		for i, tt := range cases {
			t.Run(tt.name, func(t *testing.T) {
				u := e.user(t, fmt.Sprintf("ended-%d@example.com", i), testPassword)
				tok := tt.prepare(t, u)
				_, err := e.m.Refresh(context.Background(), tok.RefreshToken, laptop)
				if !tt.want(err) {
					t.Fatalf("Refresh: %v, want %s", err, tt.wantMsg)
				}
				s := e.sessionRow(t, tok.SessionID)
				if s.RevokedAt == nil || s.RevokedReason != tt.reason {
					t.Errorf("session revoked_at %v reason %q, want revoked for %s", s.RevokedAt, s.RevokedReason, tt.reason)
				}
				if live := e.liveTokens(t, tok.SessionID); len(live) != 0 {
					t.Errorf("%d live refresh tokens of the ended session, want 0", len(live))
				}
				acts := e.activities(t, "session.revoked", tok.SessionID)
				if len(acts) != 1 || acts[0].Data["reason"] != tt.reason {
					t.Errorf("session.revoked activities = %v, want one with reason %s", acts, tt.reason)
				}
				if _, err := e.m.Refresh(context.Background(), tok.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
					t.Errorf("Refresh again: %v, want ErrSessionRevoked", err)
				}
				if _, err := e.m.Authenticate(context.Background(), tok.AccessToken); !errors.Is(err, ErrInvalidAccessToken) {
					t.Errorf("Authenticate of the ended session: %v, want ErrInvalidAccessToken", err)
				}
			})
		}

		t.Run("login into a soft-deleted organization", func(t *testing.T) {
			u := e.user(t, "gone-org-member@example.com", testPassword)
			o := e.org(t, owner, "gone-org")
			e.join(t, o, owner, u)
			if err := e.c.Organization.DeleteOneID(o.ID).Exec(sys()); err != nil {
				t.Fatalf("deleting the organization: %v", err)
			}
			tok, err := e.m.Login(context.Background(), LoginInput{Email: u.Email, Password: testPassword, OrganizationID: o.ID, Client: laptop})
			if tok != nil || !errors.Is(err, ErrNotMember) {
				t.Fatalf("Login into a deleted organization = %v, %v; want ErrNotMember", tok, err)
			}
			if n := len(e.sessionsOf(t, u.ID)); n != 0 {
				t.Errorf("%d sessions opened in a deleted organization", n)
			}
		})
	})
}

// Review 4 (Manager part): a switch of organization never hands out an
// access token that outlives the one presented, and needs a live session.
func TestReviewSwitchOrganization(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		owner := e.user(t, "switch-owner@example.com", testPassword)
		member := e.user(t, "switch-member@example.com", testPassword)
		acme := e.org(t, owner, "acme")
		e.join(t, acme, owner, member)
		now := e.clock.Now()
		full := now.Add(e.m.cfg.AccessTTL)
		cases := []struct {
			name     string
			notAfter time.Time
			wantExp  time.Time // zero: refused with ErrInvalidAccessToken
		}{
			{"no bound", time.Time{}, full},
			{"presented token has 5 minutes left", now.Add(5 * time.Minute), now.Add(5 * time.Minute)},
			{"presented token outlives the lifetime", now.Add(time.Hour), full},
			{"presented token has expired", now.Add(-time.Second), time.Time{}},
			{"presented token expires now", now, time.Time{}},
		}
		for _, tt := range cases {
			t.Run(tt.name, func(t *testing.T) {
				tok := e.login(t, member.Email, laptop)
				sw, err := e.m.SwitchOrganization(e.asToken(t, tok.AccessToken), acme.ID, tt.notAfter)
				if tt.wantExp.IsZero() {
					if sw != nil || !errors.Is(err, ErrInvalidAccessToken) {
						t.Fatalf("SwitchOrganization = %v, %v; want ErrInvalidAccessToken", sw, err)
					}
					if s := e.sessionRow(t, tok.SessionID); s.OrganizationID != nil {
						t.Errorf("a refused switch moved the session to %s", *s.OrganizationID)
					}
					if n := len(e.activities(t, "session.organization_switched", tok.SessionID)); n != 0 {
						t.Errorf("%d session.organization_switched activities for a refused switch", n)
					}
					return
				}
				if err != nil {
					t.Fatalf("SwitchOrganization: %v", err)
				}
				if exp := expiryOf(t, sw.AccessToken); !exp.Equal(tt.wantExp) {
					t.Errorf("switched token expires %v, want %v", exp, tt.wantExp)
				}
				if want := int(tt.wantExp.Sub(now) / time.Second); sw.ExpiresIn != want {
					t.Errorf("ExpiresIn = %d, want %d", sw.ExpiresIn, want)
				}
				if !tt.notAfter.IsZero() && expiryOf(t, sw.AccessToken).After(tt.notAfter) {
					t.Errorf("the switched token outlives the presented one")
				}
			})
		}

		t.Run("revoked session", func(t *testing.T) {
			tok := e.login(t, member.Email, laptop)
			ctx := e.asToken(t, tok.AccessToken) // authenticated before the revocation
			if err := e.m.Logout(context.Background(), tok.RefreshToken); err != nil {
				t.Fatalf("Logout: %v", err)
			}
			sw, err := e.m.SwitchOrganization(ctx, acme.ID, time.Time{})
			if sw != nil || !errors.Is(err, ErrSessionRevoked) {
				t.Fatalf("SwitchOrganization of a revoked session = %v, %v; want ErrSessionRevoked", sw, err)
			}
			if s := e.sessionRow(t, tok.SessionID); s.OrganizationID != nil {
				t.Errorf("the revoked session was moved to %s", *s.OrganizationID)
			}
		})
	})
}

// Review 6 (Manager part): on a locked account ChangePassword answers a
// *LockedError whatever the current password; parallel wrong current
// passwords count exactly up to MaxFailedLogins.
func TestReviewChangePasswordLocked(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		u := e.user(t, "locked-changer@example.com", testPassword)
		tok := e.login(t, u.Email, laptop)
		ctx := e.asToken(t, tok.AccessToken)
		until := e.clock.Now().Add(time.Hour)
		if err := e.c.User.UpdateOneID(u.ID).SetFailedLogins(4).SetLockedUntil(until).Exec(sys()); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct{ name, current string }{
			{"right current password", testPassword},
			{"wrong current password", wrongPassword},
		} {
			t.Run(tt.name, func(t *testing.T) {
				err := e.m.ChangePassword(ctx, e.c, tt.current, newPassword)
				var le *LockedError
				if !errors.As(err, &le) || !le.Until.Equal(until) {
					t.Fatalf("ChangePassword on a locked account: %v, want a *LockedError until %v", err, until)
				}
				got := e.userRow(t, u.ID)
				if !got.PasswordHash.Verify(testPassword) || got.FailedLogins != 4 || !timePtrEq(got.LockedUntil, until) {
					t.Errorf("after a refused change: password unchanged %t, failed_logins %d, locked_until %v",
						got.PasswordHash.Verify(testPassword), got.FailedLogins, got.LockedUntil)
				}
			})
		}
		if n := len(e.activities(t, "user.password_changed", u.ID)); n != 0 {
			t.Errorf("%d user.password_changed while locked", n)
		}
	})
}

func TestReviewConcurrentChangePassword(t *testing.T) {
	const (
		maxFailed = 5
		n         = 20
	)
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db, func(c *Config) { c.MaxFailedLogins = maxFailed })
		u := e.user(t, "guessed@example.com", testPassword)
		tok := e.login(t, u.Email, laptop)
		ctxs := make([]context.Context, n)
		for i := range ctxs {
			ctxs[i] = e.asToken(t, tok.AccessToken)
		}
		errs := race(n, func(i int) error { return e.m.ChangePassword(ctxs[i], e.c, wrongPassword, newPassword) })
		wrong, locked := 0, 0
		for i, err := range errs {
			var le *LockedError
			switch {
			case errors.Is(err, ErrWrongPassword):
				wrong++
			case errors.As(err, &le):
				locked++
			default:
				t.Errorf("attempt %d: %v, want ErrWrongPassword or a *LockedError", i, err)
			}
		}
		if wrong != maxFailed || locked != n-maxFailed {
			t.Errorf("%d ErrWrongPassword and %d *LockedError, want %d and %d", wrong, locked, maxFailed, n-maxFailed)
		}
		got := e.userRow(t, u.ID)
		if got.FailedLogins != maxFailed || got.LockedUntil == nil || !got.PasswordHash.Verify(testPassword) {
			t.Errorf("failed_logins %d locked_until %v password unchanged %t; want %d, a lock, unchanged",
				got.FailedLogins, got.LockedUntil, got.PasswordHash.Verify(testPassword), maxFailed)
		}
		if k := len(e.activities(t, "user.locked", u.ID)); k != 1 {
			t.Errorf("%d user.locked activities, want 1", k)
		}
	})
}

// expiringCtx is a context that is alive until it is armed and the next
// User query of its Manager has run; from then on it has passed its
// deadline. It lets a test expire a sign-in exactly between its user
// lookup and its password hashing, without timing.
type expiringCtx struct {
	context.Context
	armed atomic.Bool
	once  sync.Once
	done  chan struct{}
}

func newExpiringCtx() *expiringCtx {
	return &expiringCtx{Context: context.Background(), done: make(chan struct{})}
}

type expiringKey struct{}

func (c *expiringCtx) Done() <-chan struct{} { return c.done }

func (c *expiringCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func (c *expiringCtx) Value(k any) any {
	if k == (expiringKey{}) {
		return c
	}
	return c.Context.Value(k)
}

func (c *expiringCtx) expire() { c.once.Do(func() { close(c.done) }) }

// Review 7: password checks and hashes wait for one of the
// Config.HashConcurrency slots, up to the caller's deadline: a sign-in
// that cannot get one fails with context.DeadlineExceeded and writes
// nothing (not even a failed login).
func TestReviewHashSlots(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db, func(c *Config) { c.HashConcurrency = 1 })
		u := e.user(t, "slot@example.com", testPassword)
		tok := e.login(t, u.Email, laptop)
		// Expire the armed contexts once a User query ran under them.
		e.c.User.Intercept(ent.InterceptFunc(func(next ent.Querier) ent.Querier {
			return ent.QuerierFunc(func(ctx context.Context, q ent.Query) (ent.Value, error) {
				v, err := next.Query(ctx, q)
				if c, ok := ctx.Value(expiringKey{}).(*expiringCtx); ok && c.armed.Load() {
					c.expire()
				}
				return v, err
			})
		}))
		// The only slot is taken.
		e.m.slots <- struct{}{}
		released := false
		release := func() {
			if !released {
				released = true
				<-e.m.slots
			}
		}
		t.Cleanup(release)
		past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		t.Cleanup(cancel)

		t.Run("hashing", func(t *testing.T) {
			ran := false
			err := e.m.hashing(past, func() { ran = true })
			if !errors.Is(err, context.DeadlineExceeded) || ran {
				t.Errorf("hashing with no slot and a past deadline: %v, ran %t; want DeadlineExceeded without running", err, ran)
			}
		})
		t.Run("hash", func(t *testing.T) {
			h, err := e.m.hash(past, "password", newPassword)
			if !errors.Is(err, context.DeadlineExceeded) || !h.IsZero() {
				t.Errorf("hash with no slot and a past deadline: %v, zero %t; want DeadlineExceeded and no hash", err, h.IsZero())
			}
		})
		for _, tt := range []struct {
			name string
			run  func(ctx context.Context) error
			// session: the context needs the grants of u's session.
			session bool
		}{
			{"Login, right password", func(ctx context.Context) error {
				_, err := e.m.Login(ctx, LoginInput{Email: u.Email, Password: testPassword, Client: laptop})
				return err
			}, false},
			{"Login, wrong password", func(ctx context.Context) error {
				_, err := e.m.Login(ctx, LoginInput{Email: u.Email, Password: wrongPassword, Client: laptop})
				return err
			}, false},
			{"Login, unknown email", func(ctx context.Context) error {
				_, err := e.m.Login(ctx, LoginInput{Email: "nobody@example.com", Password: wrongPassword, Client: laptop})
				return err
			}, false},
			{"ChangePassword, wrong current password", func(ctx context.Context) error {
				return e.m.ChangePassword(ctx, e.c, wrongPassword, newPassword)
			}, true},
			{"ChangePassword, right current password", func(ctx context.Context) error {
				return e.m.ChangePassword(ctx, e.c, testPassword, newPassword)
			}, true},
		} {
			t.Run(tt.name, func(t *testing.T) {
				// grants returns base acting as the session of tok when
				// the case needs it.
				grants := func(t *testing.T, base context.Context) context.Context {
					if !tt.session {
						return base
					}
					a, err := e.m.Authenticate(context.Background(), tok.AccessToken)
					if err != nil {
						t.Fatal(err)
					}
					ctx, err := authz.NewContext(base, e.c, a)
					if err != nil {
						t.Fatal(err)
					}
					return ctx
				}
				for _, deadline := range []struct {
					name string
					ctx  func(t *testing.T) context.Context
					// slot: the error must come from the wait for a slot.
					slot bool
				}{
					{"past deadline", func(t *testing.T) context.Context {
						ctx, cancel := context.WithDeadline(grants(t, context.Background()), time.Now().Add(-time.Second))
						t.Cleanup(cancel)
						return ctx
					}, false},
					{"deadline passes after the user lookup", func(t *testing.T) context.Context {
						ec := newExpiringCtx()
						ctx := grants(t, ec)
						ec.armed.Store(true)
						return ctx
					}, true},
				} {
					t.Run(deadline.name, func(t *testing.T) {
						ctx := deadline.ctx(t)
						before := reviewRowsOf(t, e)
						err := tt.run(ctx)
						if !errors.Is(err, context.DeadlineExceeded) {
							t.Fatalf("%s: %v, want an error wrapping context.DeadlineExceeded", tt.name, err)
						}
						if deadline.slot && !strings.Contains(err.Error(), "waiting to check a password") {
							t.Errorf("%s: %v, want it refused while waiting for a hashing slot", tt.name, err)
						}
						if after := reviewRowsOf(t, e); after != before {
							t.Errorf("%s wrote rows: before %+v, after %+v", tt.name, before, after)
						}
					})
				}
			})
		}
		if len(e.m.slots) != 1 {
			t.Errorf("%d slots taken after the refusals, want 1 (the test's)", len(e.m.slots))
		}
		release()
		e.login(t, u.Email, laptop)
		if len(e.m.slots) != 0 {
			t.Errorf("%d slots taken after a sign-in ended, want 0", len(e.m.slots))
		}
	})
}

// Review 7 (configuration): at least one hashing slot.
func TestReviewHashConcurrencyConfig(t *testing.T) {
	db := testdb.New(t, testdb.Dialects()[0])
	c, _ := testdb.Migrated(t, db)
	for _, n := range []int{0, -1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Argon2 = secret.MinArgon2
			cfg.MasterKey = randomKey(t)
			cfg.HashConcurrency = n
			if _, err := New(context.Background(), c, cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("New with HashConcurrency %d: %v, want ErrConfig", n, err)
			}
		})
	}
}

// Review 8: the access token of a session past its idle expiry is refused
// although the token itself has not expired. (Config keeps the idle
// lifetime at least the access-token lifetime, so the session's
// idle_expires_at is brought forward to 5 minutes from the sign-in, as a
// session that was last used earlier would have it.)
func TestReviewIdleSessionAccessToken(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		u := e.user(t, "idle@example.com", testPassword)
		tok := e.login(t, u.Email, laptop)
		start := e.clock.Now()
		if err := e.c.Session.UpdateOneID(tok.SessionID).SetIdleExpiresAt(start.Add(5 * time.Minute)).Exec(sys()); err != nil {
			t.Fatalf("bringing the idle expiry forward: %v", err)
		}
		for _, tt := range []struct {
			at    time.Duration
			alive bool
		}{
			{0, true},
			{5*time.Minute - time.Second, true},
			{5 * time.Minute, false},
			{10 * time.Minute, false},
		} {
			t.Run(tt.at.String(), func(t *testing.T) {
				e.clock.Advance(start.Add(tt.at).Sub(e.clock.Now()))
				if !expiryOf(t, tok.AccessToken).After(e.clock.Now()) {
					t.Fatalf("the access token itself has expired: the case tests nothing")
				}
				a, err := e.m.Authenticate(context.Background(), tok.AccessToken)
				switch {
				case tt.alive && err != nil:
					t.Errorf("Authenticate within the idle lifetime: %v", err)
				case !tt.alive && (a != nil || !errors.Is(err, ErrInvalidAccessToken)):
					t.Errorf("Authenticate past the idle expiry = %v, %v; want ErrInvalidAccessToken", a, err)
				case !tt.alive && errors.Is(err, accesstoken.ErrInvalidToken):
					t.Errorf("Authenticate: %v; the token is valid, the session check should refuse it", err)
				}
			})
		}
		// Past its idle expiry the session cannot be refreshed either.
		if _, err := e.m.Refresh(context.Background(), tok.RefreshToken, laptop); !errors.Is(err, ErrSessionExpired) {
			t.Errorf("Refresh past the idle expiry: %v, want ErrSessionExpired", err)
		}
	})
}
