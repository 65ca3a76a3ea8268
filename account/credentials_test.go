package account_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cf/identity/account"
	"github.com/cf/identity/actor"
	apikeypkg "github.com/cf/identity/apikey"
	"github.com/cf/identity/credential"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/refreshtoken"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/session"
	"github.com/cf/identity/tenancy"
	"github.com/cf/identity/validation"
)

// creds are the credentials of one user: two sessions, a personal key
// and a key of an organization the user owns.
type creds struct {
	u                *ent.User
	laptop, phone    *session.Tokens
	personal, orgKey string
	personalID       pulid.ID
	orgKeyID         pulid.ID
}

func (e *env) credentials(t *testing.T, u *ent.User) *creds {
	t.Helper()
	c := &creds{u: u, laptop: e.login(t, u)}
	var err error
	if c.phone, err = e.m.Login(context.Background(), session.LoginInput{Email: u.Email, Password: testPassword,
		Client: session.Client{IP: "198.51.100.23", UserAgent: "account-test/1.0 (phone)"}}); err != nil {
		t.Fatalf("second login: %v", err)
	}
	ctx := e.as(t, u)
	key, k, err := credential.CreateAPIKey(ctx, e.c, apikeypkg.Params{Name: "personal", Scopes: []string{actor.ScopeAll}})
	if err != nil {
		t.Fatalf("CreateAPIKey personal: %v", err)
	}
	c.personal, c.personalID = key, k.ID
	org, err := tenancy.CreateOrganization(ctx, e.c, ent.CreateOrganizationInput{Name: "Org of " + u.Email, Slug: fmt.Sprintf("org-%d", e.n)})
	if err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	key, k, err = credential.CreateAPIKey(e.as(t, u), e.c, apikeypkg.Params{Name: "org", OrganizationID: org.ID, Scopes: []string{permission.MemberRead}})
	if err != nil {
		t.Fatalf("CreateAPIKey org: %v", err)
	}
	c.orgKey, c.orgKeyID = key, k.ID
	return c
}

// check is what the credentials of a user do now.
type check struct {
	LaptopAccess, PhoneAccess error
	PersonalKey, OrgKey       error
	PersonalRevoked, OrgRevok bool
	LiveSessions, LiveTokens  int
}

func (e *env) check(t *testing.T, c *creds) check {
	t.Helper()
	ctx := context.Background()
	var k check
	_, k.LaptopAccess = e.m.Authenticate(ctx, c.laptop.AccessToken)
	_, k.PhoneAccess = e.m.Authenticate(ctx, c.phone.AccessToken)
	_, k.PersonalKey = credential.Authenticate(ctx, e.c, e.m, c.personal, time.Now())
	_, k.OrgKey = credential.Authenticate(ctx, e.c, e.m, c.orgKey, time.Now())
	k.PersonalRevoked = e.c.APIKey.GetX(sys(), c.personalID).RevokedAt != nil
	k.OrgRevok = e.c.APIKey.GetX(sys(), c.orgKeyID).RevokedAt != nil
	k.LiveSessions = e.c.Session.Query().Where(entsession.UserID(c.u.ID), entsession.RevokedAtIsNil()).CountX(sys())
	k.LiveTokens = e.c.RefreshToken.Query().Where(refreshtoken.UserID(c.u.ID), refreshtoken.RevokedAtIsNil(), refreshtoken.UsedAtIsNil()).CountX(sys())
	return k
}

// wantAlive fails t unless every credential of c works.
func (e *env) wantAlive(t *testing.T, c *creds) {
	t.Helper()
	k := e.check(t, c)
	if k.LaptopAccess != nil || k.PhoneAccess != nil || k.PersonalKey != nil || k.OrgKey != nil || k.PersonalRevoked || k.OrgRevok || k.LiveSessions != 2 || k.LiveTokens != 2 {
		t.Errorf("credentials of %s should all work: %+v", c.u.Email, k)
	}
}

// wantRevoked fails t unless the sessions (access and refresh tokens) and
// the personal key of c are revoked, with reason for the sessions; the
// organization key is not revoked, and authenticates iff orgKeyWorks.
func (e *env) wantRevoked(t *testing.T, c *creds, reason string, orgKeyWorks bool) {
	t.Helper()
	k := e.check(t, c)
	for name, err := range map[string]error{"laptop access token": k.LaptopAccess, "phone access token": k.PhoneAccess} {
		if !errors.Is(err, session.ErrInvalidAccessToken) {
			t.Errorf("%s: Authenticate = %v, want ErrInvalidAccessToken", name, err)
		}
	}
	if !errors.Is(k.PersonalKey, apikeypkg.ErrRevoked) || !k.PersonalRevoked {
		t.Errorf("personal key: Authenticate = %v, revoked_at set %v; want apikey.ErrRevoked and set", k.PersonalKey, k.PersonalRevoked)
	}
	if k.OrgRevok {
		t.Errorf("organization key: revoked_at set; want it kept (it belongs to the organization)")
	}
	switch {
	case orgKeyWorks && k.OrgKey != nil:
		t.Errorf("organization key: Authenticate = %v, want it to work again", k.OrgKey)
	case !orgKeyWorks && !errors.Is(k.OrgKey, apikeypkg.ErrOwner):
		t.Errorf("organization key: Authenticate = %v, want apikey.ErrOwner while the owner may not sign in", k.OrgKey)
	}
	if k.LiveSessions != 0 || k.LiveTokens != 0 {
		t.Errorf("live sessions %d, live refresh tokens %d; want 0", k.LiveSessions, k.LiveTokens)
	}
	if reason != "" {
		for _, s := range e.c.Session.Query().Where(entsession.UserID(c.u.ID)).AllX(sys()) {
			if s.RevokedReason != reason {
				t.Errorf("session %s revoked_reason = %q, want %q", s.ID, s.RevokedReason, reason)
			}
		}
	}
	for name, tok := range map[string]string{"laptop": c.laptop.RefreshToken, "phone": c.phone.RefreshToken} {
		if _, err := e.m.Refresh(context.Background(), tok, laptop); !errors.Is(err, session.ErrInvalidRefreshToken) {
			t.Errorf("%s refresh: %v, want ErrInvalidRefreshToken", name, err)
		}
	}
}

// TestLeavingActiveRevokesCredentials: suspending, disabling or archiving
// an active user revokes its sessions, refresh tokens and personal keys in
// the same write; coming back revives none of them, a new login works.
// The organization key is left alone and authenticates nobody meanwhile.
func TestLeavingActiveRevokesCredentials(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ctx := e.as(t, e.super)
		for _, to := range []account.Status{account.Suspended, account.Disabled, account.Archived} {
			t.Run(string(to), func(t *testing.T) {
				c := e.credentials(t, e.user(t, user.PlatformRoleNone, account.Active))
				bystander := e.credentials(t, e.user(t, user.PlatformRoleNone, account.Active))
				e.wantAlive(t, c)
				if _, err := account.TransitionUser(ctx, e.c, c.u.ID, to, "leaving"); err != nil {
					t.Fatalf("TransitionUser -> %s: %v", to, err)
				}
				e.wantRevoked(t, c, "user_"+string(to), false)
				e.wantAlive(t, bystander)
				var serr *session.StateError
				if _, err := e.m.Login(context.Background(), session.LoginInput{Email: c.u.Email, Password: testPassword}); !errors.As(err, &serr) || serr.Reason != string(to) {
					t.Errorf("Login while %s = %v, want *StateError{%s}", to, err, to)
				}

				if _, err := account.TransitionUser(ctx, e.c, c.u.ID, account.Active, "back"); err != nil {
					t.Fatalf("TransitionUser -> active: %v", err)
				}
				e.wantRevoked(t, c, "user_"+string(to), true)
				fresh := e.login(t, c.u)
				if _, err := e.m.Authenticate(context.Background(), fresh.AccessToken); err != nil {
					t.Errorf("a fresh login's access token: %v", err)
				}
				if _, err := e.m.Refresh(context.Background(), fresh.RefreshToken, laptop); err != nil {
					t.Errorf("a fresh login's refresh: %v", err)
				}
			})
		}
		t.Run("moves between inactive statuses and from pending revoke nothing new", func(t *testing.T) {
			p := e.user(t, user.PlatformRoleNone, account.Pending)
			if _, err := account.TransitionUser(ctx, e.c, p.ID, account.Active, "welcome"); err != nil {
				t.Fatal(err)
			}
			c := e.credentials(t, p)
			e.wantAlive(t, c)
			if _, err := account.TransitionUser(ctx, e.c, p.ID, account.Suspended, "a"); err != nil {
				t.Fatal(err)
			}
			if _, err := account.TransitionUser(ctx, e.c, p.ID, account.Disabled, "b"); err != nil {
				t.Fatal(err)
			}
			// The sessions keep the reason of leaving active.
			e.wantRevoked(t, c, "user_suspended", false)
		})
	})
}

// TestBans: BanUser revokes at once, refuses sign-in until the end, lifts
// itself at the end; UnbanUser lifts it; the refusals write nothing.
func TestBans(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ctx := e.as(t, e.super)
		tomorrow := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)

		t.Run("ban until tomorrow", func(t *testing.T) {
			c := e.credentials(t, e.user(t, user.PlatformRoleNone, account.Active))
			start := time.Now()
			got, err := account.BanUser(ctx, e.c, c.u.ID, "  spam  ", &tomorrow)
			if err != nil {
				t.Fatalf("BanUser: %v", err)
			}
			row := e.c.User.GetX(sys(), c.u.ID)
			for _, r := range []*ent.User{got, row} {
				if r.BannedAt == nil || r.BannedAt.Before(start.Add(-time.Second)) || r.BanReason != "spam" || r.BanExpiresAt == nil || !r.BanExpiresAt.Equal(tomorrow) {
					t.Errorf("after BanUser: banned_at %v, ban_reason %q, ban_expires_at %v; want now, spam, %v", r.BannedAt, r.BanReason, r.BanExpiresAt, tomorrow)
				}
				if r.Status != user.StatusActive {
					t.Errorf("a ban changed the status to %s", r.Status)
				}
			}
			e.wantRevoked(t, c, "user_banned", false)
			_, err = e.m.Login(context.Background(), session.LoginInput{Email: c.u.Email, Password: testPassword})
			var serr *session.StateError
			if !errors.As(err, &serr) || serr.Reason != session.ReasonBanned || !serr.Until.Equal(tomorrow) {
				t.Errorf("Login of a banned user = %v, want *StateError{banned, until %v}", err, tomorrow)
			}
			acts := e.activities(t, c.u.ID)
			var banned []*ent.Activity
			for _, a := range acts {
				if a.Verb == "user.banned" {
					banned = append(banned, a)
				}
			}
			if len(banned) != 1 || fmt.Sprint(banned[0].Data) != fmt.Sprint(map[string]any{"reason": "spam", "until": tomorrow.Format(time.RFC3339)}) {
				t.Errorf("user.banned activities = %v", banned)
			}

			// The ban lifts itself at its end.
			if err := e.c.User.UpdateOneID(c.u.ID).SetBanExpiresAt(time.Now().Add(-time.Minute)).Exec(sys()); err != nil {
				t.Fatal(err)
			}
			fresh := e.login(t, c.u)
			if _, err := e.m.Authenticate(context.Background(), fresh.AccessToken); err != nil {
				t.Errorf("access token after the ban ended: %v", err)
			}
			if _, err := credential.Authenticate(context.Background(), e.c, e.m, c.orgKey, time.Now()); err != nil {
				t.Errorf("organization key after the ban ended: %v", err)
			}
			if _, err := credential.Authenticate(context.Background(), e.c, e.m, c.personal, time.Now()); !errors.Is(err, apikeypkg.ErrRevoked) {
				t.Errorf("personal key after the ban ended: %v, want still revoked", err)
			}

			// Banned again after the first ban ended: the sessions opened
			// meanwhile end at once, like the first time.
			if _, err := account.BanUser(ctx, e.c, c.u.ID, "again", &tomorrow); err != nil {
				t.Fatalf("BanUser again: %v", err)
			}
			if _, err := e.m.Authenticate(context.Background(), fresh.AccessToken); !errors.Is(err, session.ErrInvalidAccessToken) {
				t.Errorf("re-ban after an ended ban: the access token of a session opened after the first ban ended still authenticates (err %v); want ErrInvalidAccessToken", err)
			}
			if n := e.c.Session.Query().Where(entsession.UserID(c.u.ID), entsession.RevokedAtIsNil()).CountX(sys()); n != 0 {
				t.Errorf("re-ban after an ended ban: %d live sessions, want 0", n)
			}
		})

		t.Run("permanent ban", func(t *testing.T) {
			c := e.credentials(t, e.user(t, user.PlatformRoleNone, account.Active))
			got, err := account.BanUser(ctx, e.c, c.u.ID, "fraud", nil)
			if err != nil || got.BannedAt == nil || got.BanExpiresAt != nil {
				t.Fatalf("BanUser permanent: %v, %+v", err, got)
			}
			e.wantRevoked(t, c, "user_banned", false)
			_, err = e.m.Login(context.Background(), session.LoginInput{Email: c.u.Email, Password: testPassword})
			var serr *session.StateError
			if !errors.As(err, &serr) || serr.Reason != session.ReasonBanned || !serr.Until.IsZero() {
				t.Errorf("Login = %v, want *StateError{banned, no end}", err)
			}
			// Banning a banned user replaces the reason and the end, and
			// keeps banned_at.
			again, err := account.BanUser(ctx, e.c, c.u.ID, "fraud, for a week", &tomorrow)
			if err != nil || again.BanReason != "fraud, for a week" || again.BanExpiresAt == nil || !again.BannedAt.Equal(*got.BannedAt) {
				t.Errorf("BanUser of a banned user: %v, %+v", err, again)
			}
		})

		t.Run("refusals write nothing", func(t *testing.T) {
			target := e.user(t, user.PlatformRoleNone, account.Active)
			e.login(t, target)
			past := time.Now().Add(-time.Hour)
			now := time.Now()
			cases := []struct {
				name string
				ctx  context.Context
				id   pulid.ID
				exp  *time.Time
				want func(error) bool
			}{
				{"past expiry", ctx, target.ID, &past, func(err error) bool {
					var verr *validation.Error
					return errors.Is(err, account.ErrPastExpiry) && errors.As(err, &verr) && verr.Field == "expiresAt"
				}},
				{"expiry now", ctx, target.ID, &now, func(err error) bool { return errors.Is(err, account.ErrPastExpiry) }},
				{"banning oneself", ctx, e.super.ID, nil, func(err error) bool { return errors.Is(err, privacy.Deny) }},
				{"unknown user", ctx, pulid.New("usr"), nil, ent.IsNotFound},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					if c.name == "unknown user" {
						if _, err := account.BanUser(c.ctx, e.c, c.id, "refused", c.exp); !c.want(err) {
							t.Errorf("BanUser: unexpected error %v", err)
						}
						return
					}
					before := e.state(t, c.id)
					_, err := account.BanUser(c.ctx, e.c, c.id, "refused", c.exp)
					if !c.want(err) {
						t.Errorf("BanUser: unexpected error %v", err)
					}
					if after := e.state(t, c.id); after != before {
						t.Errorf("a refused BanUser wrote: before %+v, after %+v", before, after)
					}
				})
			}
			// The superadmin still acts: banning oneself changed nothing.
			if _, err := e.m.Authenticate(context.Background(), e.login(t, e.super).AccessToken); err != nil {
				t.Errorf("the superadmin after refusing to ban itself: %v", err)
			}
		})

		t.Run("unban", func(t *testing.T) {
			c := e.credentials(t, e.user(t, user.PlatformRoleNone, account.Active))
			if _, err := account.BanUser(ctx, e.c, c.u.ID, "spam", &tomorrow); err != nil {
				t.Fatal(err)
			}
			got, err := account.UnbanUser(ctx, e.c, c.u.ID, "  appeal granted ")
			if err != nil {
				t.Fatalf("UnbanUser: %v", err)
			}
			if got.BannedAt != nil || got.BanExpiresAt != nil || got.BanReason != "" {
				t.Errorf("after UnbanUser: banned_at %v, ban_expires_at %v, ban_reason %q", got.BannedAt, got.BanExpiresAt, got.BanReason)
			}
			acts := e.activities(t, c.u.ID)
			last := acts[len(acts)-1]
			if last.Verb != "user.unbanned" || fmt.Sprint(last.Data) != fmt.Sprint(map[string]any{"reason": "appeal granted"}) || last.ActorUserID == nil || *last.ActorUserID != e.super.ID {
				t.Errorf("last activity = %s %v by %v, want user.unbanned {reason: appeal granted} by the superadmin", last.Verb, last.Data, last.ActorUserID)
			}
			e.wantRevoked(t, c, "user_banned", true)
			fresh := e.login(t, c.u)
			if _, err := e.m.Authenticate(context.Background(), fresh.AccessToken); err != nil {
				t.Errorf("access token after unban: %v", err)
			}

			// Unban of a user who is not banned.
			before := e.state(t, c.u.ID)
			_, err = account.UnbanUser(ctx, e.c, c.u.ID, "again")
			var verr *validation.Error
			if !errors.Is(err, account.ErrNotBanned) || !errors.As(err, &verr) || verr.Field != "id" {
				t.Errorf("UnbanUser of a user not banned = %v, want ErrNotBanned for id", err)
			}
			if after := e.state(t, c.u.ID); after != before {
				t.Errorf("a refused UnbanUser wrote: before %+v, after %+v", before, after)
			}
		})

		t.Run("unban after the ban ended", func(t *testing.T) {
			u := e.user(t, user.PlatformRoleNone, account.Active)
			if _, err := account.BanUser(ctx, e.c, u.ID, "spam", &tomorrow); err != nil {
				t.Fatal(err)
			}
			if err := e.c.User.UpdateOneID(u.ID).SetBanExpiresAt(time.Now().Add(-time.Minute)).Exec(sys()); err != nil {
				t.Fatal(err)
			}
			// ErrNotBanned: "for a user who is not banned (or whose ban
			// has ended)".
			if _, err := account.UnbanUser(ctx, e.c, u.ID, "late"); !errors.Is(err, account.ErrNotBanned) {
				t.Errorf("UnbanUser of a user whose ban ended = %v, want ErrNotBanned as documented", err)
			}
		})

		t.Run("rank rule of unban", func(t *testing.T) {
			admin := e.user(t, user.PlatformRoleAdmin, account.Active)
			support := e.user(t, user.PlatformRoleSupport, account.Active)
			for _, c := range []struct {
				name    string
				actor   *ent.User
				target  user.PlatformRole
				allowed bool
			}{
				{"admin on a superadmin", admin, user.PlatformRoleSuperadmin, false},
				{"admin on an admin", admin, user.PlatformRoleAdmin, false},
				{"admin on none", admin, user.PlatformRoleNone, true},
				{"support on none", support, user.PlatformRoleNone, false},
			} {
				t.Run(c.name, func(t *testing.T) {
					target := e.user(t, c.target, account.Active)
					if _, err := account.BanUser(ctx, e.c, target.ID, "to unban", nil); err != nil {
						t.Fatal(err)
					}
					before := e.state(t, target.ID)
					_, err := account.UnbanUser(e.as(t, c.actor), e.c, target.ID, "rank")
					if c.allowed {
						if err != nil {
							t.Errorf("UnbanUser: %v", err)
						}
						return
					}
					if !errors.Is(err, privacy.Deny) {
						t.Errorf("UnbanUser = %v, want a privacy deny", err)
					}
					if after := e.state(t, target.ID); after != before {
						t.Errorf("a refused UnbanUser wrote: before %+v, after %+v", before, after)
					}
				})
			}
		})
	})
}
