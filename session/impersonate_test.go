package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/apikey"
	"github.com/cf/identity/ent/refreshtoken"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/validation"
)

// impersonationWorld is a superadmin (signed in), a second superadmin (the
// platform keeps one when the first is demoted), and a target user who owns
// an organization and has a session of their own.
type impersonationWorld struct {
	*env
	super, super2, target, other *ent.User
	org                          *ent.Organization
	superCtx                     context.Context
	targetTokens                 *Tokens
}

func newImpersonationWorld(t *testing.T, db testdb.Target) *impersonationWorld {
	t.Helper()
	e := newEnv(t, db)
	w := &impersonationWorld{env: e}
	superadmin := func(q *ent.UserCreate) { q.SetPlatformRole(user.PlatformRoleSuperadmin) }
	w.super = e.user(t, "super@example.com", testPassword, superadmin)
	w.super2 = e.user(t, "super2@example.com", testPassword, superadmin)
	w.target = e.user(t, "target@example.com", testPassword)
	w.other = e.user(t, "other@example.com", testPassword)
	w.org = e.org(t, w.target, "target-org")
	w.superCtx = e.asToken(t, e.login(t, w.super.Email, laptop).AccessToken)
	w.targetTokens = e.login(t, w.target.Email, phone)
	return w
}

// impersonations returns the impersonation sessions of uid.
func (w *impersonationWorld) impersonations(t *testing.T, uid pulid.ID) []*ent.Session {
	t.Helper()
	return w.c.Session.Query().Where(entsession.UserID(uid), entsession.ImpersonatorIDNotNil()).AllX(sys())
}

func TestImpersonate(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newImpersonationWorld(t, db)
		tok, err := w.m.Impersonate(w.superCtx, w.c, ImpersonateInput{UserID: w.target.ID, Reason: "  ticket 4711  ", Client: laptop})
		if err != nil {
			t.Fatalf("Impersonate: %v", err)
		}
		// The session: the target's, named impersonated, ending at the
		// default duration, with no active organization.
		s := w.sessionRow(t, tok.SessionID)
		if s.UserID != w.target.ID || s.ImpersonatorID == nil || *s.ImpersonatorID != w.super.ID || s.OrganizationID != nil {
			t.Fatalf("session %+v: want the target's, impersonated by %s, no organization", s, w.super.ID)
		}
		if want := w.clock.Now().UTC().Add(DefaultImpersonationTTL); !s.ExpiresAt.Equal(want) || !s.IdleExpiresAt.Equal(want) {
			t.Errorf("session ends %s (idle %s), want %s", s.ExpiresAt, s.IdleExpiresAt, want)
		}
		// The access token: subject the target, act the impersonator.
		claims, err := w.m.verifier.Verify(context.Background(), tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if claims.Subject != w.target.ID || claims.Actor == nil || claims.Actor.Subject != w.super.ID {
			t.Fatalf("claims sub %s act %+v, want sub %s act %s", claims.Subject, claims.Actor, w.target.ID, w.super.ID)
		}
		started := w.activities(t, "user.impersonation_started", w.target.ID)
		if len(started) != 1 || *started[0].ActorUserID != w.super.ID || started[0].Data["reason"] != "ticket 4711" || started[0].Data["session_id"] != string(s.ID) {
			t.Fatalf("user.impersonation_started: %+v", started)
		}

		// Requests with the token act as the target, under the target's
		// permissions (not the superadmin's), and record the impersonator.
		ictx := w.asToken(t, tok.AccessToken)
		a := actor.FromContext(ictx)
		if a.UserID() != w.target.ID || a.Impersonator() != w.super.ID || a.SessionID() != s.ID {
			t.Fatalf("actor %s (impersonator %q, session %s)", a, a.Impersonator(), a.SessionID())
		}
		if _, err := w.c.User.Get(ictx, w.other.ID); !ent.IsNotFound(err) {
			t.Errorf("reading a user outside the target's organizations: %v, want not found (the target's permissions)", err)
		}
		if _, err := w.c.User.UpdateOneID(w.target.ID).SetDisplayName("Set while impersonated").Save(ictx); err != nil {
			t.Fatalf("updating the target's profile: %v", err)
		}
		upd, err := w.c.Activity.Query().Where(activity.Verb("user.updated"), activity.ObjectID(string(w.target.ID))).Only(sys())
		if err != nil {
			t.Fatalf("user.updated: %v", err)
		}
		if upd.ActorUserID == nil || *upd.ActorUserID != w.target.ID || upd.ImpersonatorID == nil || *upd.ImpersonatorID != w.super.ID {
			t.Errorf("user.updated actor %v impersonator %v, want %s impersonated by %s", upd.ActorUserID, upd.ImpersonatorID, w.target.ID, w.super.ID)
		}

		// A refresh keeps the impersonation, and its record names the
		// impersonator too.
		next := w.refresh(t, tok.RefreshToken, laptop)
		if c2, err := w.m.verifier.Verify(context.Background(), next.AccessToken); err != nil || c2.Actor == nil || c2.Actor.Subject != w.super.ID {
			t.Fatalf("refreshed token: %+v, %v; want the act claim kept", c2, err)
		}
		refreshed := w.activities(t, "session.refreshed", s.ID)
		if len(refreshed) != 1 || refreshed[0].ImpersonatorID == nil || *refreshed[0].ImpersonatorID != w.super.ID {
			t.Errorf("session.refreshed: %+v", refreshed)
		}

		// Stopping ends it at once.
		stopped, err := w.m.StopImpersonation(ictx, w.c, "")
		if err != nil {
			t.Fatalf("StopImpersonation: %v", err)
		}
		if stopped.RevokedAt == nil || stopped.RevokedReason != RevokedImpersonationStopped {
			t.Errorf("stopped session: revoked %v (%q)", stopped.RevokedAt, stopped.RevokedReason)
		}
		if _, err := w.m.Authenticate(context.Background(), next.AccessToken); !errors.Is(err, ErrInvalidAccessToken) {
			t.Errorf("Authenticate after stop: %v, want ErrInvalidAccessToken", err)
		}
		if _, err := w.m.Refresh(context.Background(), next.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
			t.Errorf("Refresh after stop: %v, want ErrSessionRevoked", err)
		}
		st := w.activities(t, "user.impersonation_stopped", w.target.ID)
		if len(st) != 1 || *st[0].ActorUserID != w.target.ID || st[0].ImpersonatorID == nil || *st[0].ImpersonatorID != w.super.ID {
			t.Errorf("user.impersonation_stopped: %+v", st)
		}
		// The target's own session was never touched.
		if own := w.sessionRow(t, w.targetTokens.SessionID); own.RevokedAt != nil {
			t.Errorf("the target's own session was revoked (%s)", own.RevokedReason)
		}
		// Nobody revives it through the ent client: not the impersonation,
		// not the target (an organization switch writes nothing else).
		for name, ctx := range map[string]context.Context{
			"the impersonation": w.as(t, actor.UserSession(w.target.ID, actor.PlatformNone, s.ID).ImpersonatedBy(w.super.ID)),
			"the target":        w.asToken(t, w.targetTokens.AccessToken),
		} {
			err := w.c.Session.UpdateOneID(s.ID).ClearOrganizationID().ClearRevokedAt().SetRevokedReason("").Exec(ctx)
			if !isPrivacyDeny(err) {
				t.Errorf("reviving the stopped impersonation as %s: %v, want a privacy denial", name, err)
			}
		}
		if s := w.sessionRow(t, s.ID); s.RevokedAt == nil {
			t.Fatalf("the stopped impersonation was revived")
		}
	})
}

// An impersonated session cannot take the account over.
func TestImpersonatedRestrictions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newImpersonationWorld(t, db)
		tok, err := w.m.Impersonate(w.superCtx, w.c, ImpersonateInput{UserID: w.target.ID, Reason: "support", Client: laptop})
		if err != nil {
			t.Fatal(err)
		}
		ictx := w.asToken(t, tok.AccessToken)
		before := w.userRow(t, w.target.ID)
		tests := []struct {
			name string
			do   func() error
		}{
			{"change the password", func() error { return w.m.ChangePassword(ictx, w.c, testPassword, "a-new-long-passphrase-42") }},
			{"set a password", func() error { return w.m.SetPassword(ictx, w.c, w.target.ID, "a-new-long-passphrase-42") }},
			{"change the email", func() error {
				return w.c.User.UpdateOneID(w.target.ID).SetEmail("taken-over@example.com").Exec(ictx)
			}},
			{"create a personal API key", func() error {
				return w.c.APIKey.Create().SetName("k").SetUserID(w.target.ID).SetPrefix("abcdefgh").
					SetSecretHash(secret.DigestOf("x")).SetScopes([]string{"*"}).Exec(ictx)
			}},
			{"link an OAuth account", func() error {
				return w.c.OAuthAccount.Create().SetUserID(w.target.ID).SetProvider("github").SetProviderUserID("1").Exec(ictx)
			}},
			{"revoke the target's own session", func() error {
				_, err := w.m.RevokeSession(ictx, w.c, w.targetTokens.SessionID)
				return err
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.do()
				if tt.name == "revoke the target's own session" {
					if !isPrivacyDeny(err) {
						t.Fatalf("%s: %v, want a privacy denial", tt.name, err)
					}
				} else if !errors.Is(err, authz.ErrImpersonated) {
					t.Fatalf("%s: %v, want authz.ErrImpersonated", tt.name, err)
				}
			})
		}
		// Another impersonation, of anybody.
		_, err = w.m.Impersonate(ictx, w.c, ImpersonateInput{UserID: w.other.ID, Reason: "chain"})
		var ie *ImpersonationError
		if !errors.As(err, &ie) || ie.Reason != ImpersonationNested {
			t.Errorf("nested Impersonate: %v, want an ImpersonationError %q", err, ImpersonationNested)
		}
		// Nor the refresh tokens of the target's own session.
		n, err := w.c.RefreshToken.Update().Where(refreshtoken.FamilyID(w.targetTokens.SessionID)).SetRevokedAt(w.clock.Now()).Save(ictx)
		if err != nil || n != 0 {
			t.Errorf("revoking the refresh tokens of the target's own session: %d, %v; want 0 rows", n, err)
		}
		w.refresh(t, w.targetTokens.RefreshToken, phone)
		after := w.userRow(t, w.target.ID)
		if after.Email != before.Email || !samePassword(after.PasswordHash, before.PasswordHash) {
			t.Errorf("the target's email or password changed")
		}
		if n := w.c.APIKey.Query().Where(apikey.UserID(w.target.ID)).CountX(sys()); n != 0 {
			t.Errorf("%d API keys of the target, want 0", n)
		}
		if own := w.sessionRow(t, w.targetTokens.SessionID); own.RevokedAt != nil {
			t.Errorf("the target's own session was revoked")
		}
		if n := len(w.impersonations(t, w.other.ID)); n != 0 {
			t.Errorf("%d impersonations of other, want 0", n)
		}
	})
}

func TestImpersonateRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newImpersonationWorld(t, db)
		admin := w.user(t, "admin@example.com", testPassword, func(q *ent.UserCreate) { q.SetPlatformRole(user.PlatformRoleAdmin) })
		suspended := w.user(t, "suspended@example.com", testPassword, func(q *ent.UserCreate) { q.SetStatus(user.StatusSuspended) })
		banned := w.user(t, "banned@example.com", testPassword)
		w.c.User.UpdateOne(banned).SetBannedAt(w.clock.Now()).SetBanReason("spam").ExecX(sys())
		adminCtx := w.asToken(t, w.login(t, admin.Email, laptop).AccessToken)
		orgCtx := w.as(t, actor.User(w.super.ID, actor.PlatformSuperadmin).WithOrganization(w.org.ID))
		keyCtx := w.as(t, actor.APIKey(pulid.New("key"), w.super.ID, actor.PlatformSuperadmin, "", []string{"*"}))
		unknown := pulid.New("usr")
		tests := []struct {
			name   string
			ctx    context.Context
			in     ImpersonateInput
			reason string // ImpersonationError reason
			field  string // validation field
			check  func(error) bool
		}{
			{name: "no reason", in: ImpersonateInput{UserID: w.target.ID, Reason: "  "}, field: "reason"},
			{name: "duration above the cap", in: ImpersonateInput{UserID: w.target.ID, Reason: "r", Duration: 61 * time.Minute}, field: "duration"},
			{name: "duration below a minute", in: ImpersonateInput{UserID: w.target.ID, Reason: "r", Duration: 30 * time.Second}, field: "duration"},
			{name: "oneself", in: ImpersonateInput{UserID: w.super.ID, Reason: "r"}, field: "userID", check: func(err error) bool { return errors.Is(err, ErrImpersonateSelf) }},
			{name: "not a user ID", in: ImpersonateInput{UserID: w.org.ID, Reason: "r"}, field: "userID"},
			{name: "an equal platform role", in: ImpersonateInput{UserID: w.super2.ID, Reason: "r"}, reason: ImpersonationRank},
			{name: "a suspended user", in: ImpersonateInput{UserID: suspended.ID, Reason: "r"}, reason: ImpersonationInactive},
			{name: "a banned user", in: ImpersonateInput{UserID: banned.ID, Reason: "r"}, reason: ImpersonationInactive},
			{name: "without platform:impersonate", ctx: adminCtx, in: ImpersonateInput{UserID: w.target.ID, Reason: "r"}, reason: ImpersonationNotHolder},
			{name: "acting in one organization", ctx: orgCtx, in: ImpersonateInput{UserID: w.target.ID, Reason: "r"}, reason: ImpersonationNotHolder},
			{name: "with an API key", ctx: keyCtx, in: ImpersonateInput{UserID: w.target.ID, Reason: "r"}, reason: ImpersonationCredential},
			{name: "an unknown user", in: ImpersonateInput{UserID: unknown, Reason: "r"}, check: ent.IsNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := tt.ctx
				if ctx == nil {
					ctx = w.superCtx
				}
				_, err := w.m.Impersonate(ctx, w.c, tt.in)
				if err == nil {
					t.Fatal("Impersonate succeeded")
				}
				if tt.reason != "" {
					var ie *ImpersonationError
					if !errors.As(err, &ie) || ie.Reason != tt.reason || !errors.Is(err, ErrImpersonation) {
						t.Fatalf("%v, want an ImpersonationError %q", err, tt.reason)
					}
				}
				if tt.field != "" {
					var ve *validation.Error
					if !errors.As(err, &ve) || ve.Field != tt.field {
						t.Fatalf("%v, want a validation error on %s", err, tt.field)
					}
				}
				if tt.check != nil && !tt.check(err) {
					t.Fatalf("unexpected error %v", err)
				}
				if strings.Contains(err.Error(), "SELECT") {
					t.Errorf("error leaks SQL: %v", err)
				}
			})
		}
		if n := w.c.Session.Query().Where(entsession.ImpersonatorIDNotNil()).CountX(sys()); n != 0 {
			t.Errorf("%d impersonation sessions after refusals, want 0", n)
		}
		if n := len(w.activities(t, "user.impersonation_started", "")); n != 0 {
			t.Errorf("%d user.impersonation_started after refusals, want 0", n)
		}
	})
}

// The ent client cannot open an impersonation around the rules.
func TestImpersonationSessionPolicy(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newImpersonationWorld(t, db)
		now := w.clock.Now()
		open := func(ctx context.Context, target, impersonator pulid.ID) error {
			return w.c.Session.Create().SetUserID(target).SetImpersonatorID(impersonator).
				SetLastUsedAt(now).SetIdleExpiresAt(now.Add(time.Hour)).SetExpiresAt(now.Add(time.Hour)).Exec(ctx)
		}
		targetCtx := w.asToken(t, w.targetTokens.AccessToken)
		tests := []struct {
			name                 string
			ctx                  context.Context
			target, impersonator pulid.ID
		}{
			{"naming another impersonator", w.superCtx, w.target.ID, w.super2.ID},
			{"an equal platform role", w.superCtx, w.super2.ID, w.super.ID},
			{"oneself", w.superCtx, w.super.ID, w.super.ID},
			{"without the permission", targetCtx, w.other.ID, w.target.ID},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := open(tt.ctx, tt.target, tt.impersonator); !isPrivacyDeny(err) {
					t.Fatalf("creating the session: %v, want a privacy denial", err)
				}
			})
		}
		// A forged act claim on a session nobody impersonates, signed
		// with the real key, authenticates nobody.
		key, err := w.m.keys.signer(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s := w.sessionRow(t, w.targetTokens.SessionID)
		s.ImpersonatorID = &w.super.ID
		forged, err := w.m.tokens(key, s, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.m.Authenticate(context.Background(), forged.AccessToken); !errors.Is(err, ErrInvalidAccessToken) {
			t.Errorf("a token whose act claim is not the session's: %v, want ErrInvalidAccessToken", err)
		}
	})
}

// An impersonation ends at its duration however often it is refreshed,
// and when its impersonator may no longer impersonate.
func TestImpersonationEnds(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		t.Run("at its cap", func(t *testing.T) {
			w := newImpersonationWorld(t, testdb.New(t, db.Dialect))
			tok, err := w.m.Impersonate(w.superCtx, w.c, ImpersonateInput{UserID: w.target.ID, Reason: "r", Duration: 10 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if tok.ExpiresIn > 600 {
				t.Errorf("access token lives %ds, beyond the impersonation's 600s", tok.ExpiresIn)
			}
			w.clock.Advance(9 * time.Minute)
			next := w.refresh(t, tok.RefreshToken, laptop)
			if next.ExpiresIn > 60 {
				t.Errorf("refreshed access token lives %ds, beyond the impersonation's end in 60s", next.ExpiresIn)
			}
			w.clock.Advance(61 * time.Second)
			if _, err := w.m.Authenticate(context.Background(), next.AccessToken); !errors.Is(err, ErrInvalidAccessToken) {
				t.Errorf("Authenticate after the cap: %v", err)
			}
			if _, err := w.m.Refresh(context.Background(), next.RefreshToken, laptop); !errors.Is(err, ErrSessionExpired) {
				t.Errorf("Refresh after the cap: %v, want ErrSessionExpired", err)
			}
		})
		changes := []struct {
			name, reason string
			change       func(w *impersonationWorld) error
		}{
			{"the impersonator is demoted", "impersonator_role_changed", func(w *impersonationWorld) error {
				return w.c.User.UpdateOneID(w.super.ID).SetPlatformRole(user.PlatformRoleAdmin).Exec(sys())
			}},
			{"the impersonator is suspended", "impersonator_suspended", func(w *impersonationWorld) error {
				return w.c.User.UpdateOneID(w.super.ID).SetStatus(user.StatusSuspended).Exec(sys())
			}},
			{"the impersonator is banned", "impersonator_banned", func(w *impersonationWorld) error {
				return w.c.User.UpdateOneID(w.super.ID).SetBannedAt(time.Now()).SetBanReason("r").Exec(sys())
			}},
			{"the impersonator is deleted", "impersonator_deleted", func(w *impersonationWorld) error {
				return w.c.User.DeleteOneID(w.super.ID).Exec(sys())
			}},
			{"the target is promoted to the impersonator's rank", "impersonator_role_changed", func(w *impersonationWorld) error {
				return w.c.User.UpdateOneID(w.target.ID).SetPlatformRole(user.PlatformRoleSuperadmin).Exec(sys())
			}},
		}
		for _, tt := range changes {
			t.Run(tt.name, func(t *testing.T) {
				w := newImpersonationWorld(t, testdb.New(t, db.Dialect))
				tok, err := w.m.Impersonate(w.superCtx, w.c, ImpersonateInput{UserID: w.target.ID, Reason: "r"})
				if err != nil {
					t.Fatal(err)
				}
				if err := tt.change(w); err != nil {
					t.Fatal(err)
				}
				s := w.sessionRow(t, tok.SessionID)
				if s.RevokedAt == nil || s.RevokedReason != tt.reason {
					t.Fatalf("impersonation revoked %v (%q), want revoked (%q)", s.RevokedAt, s.RevokedReason, tt.reason)
				}
				if _, err := w.m.Authenticate(context.Background(), tok.AccessToken); !errors.Is(err, ErrInvalidAccessToken) {
					t.Errorf("Authenticate: %v, want ErrInvalidAccessToken", err)
				}
				if _, err := w.m.Refresh(context.Background(), tok.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
					t.Errorf("Refresh: %v, want ErrSessionRevoked", err)
				}
			})
		}
	})
}

func TestStopImpersonation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newImpersonationWorld(t, db)
		tok, err := w.m.Impersonate(w.superCtx, w.c, ImpersonateInput{UserID: w.target.ID, Reason: "r"})
		if err != nil {
			t.Fatal(err)
		}
		otherCtx := w.asToken(t, w.login(t, w.other.Email, laptop).AccessToken)
		targetCtx := w.asToken(t, w.targetTokens.AccessToken)
		tests := []struct {
			name  string
			ctx   context.Context
			id    pulid.ID
			check func(error) bool
		}{
			{"another user", otherCtx, tok.SessionID, ent.IsNotFound},
			{"no session and not impersonated", w.superCtx, "", func(err error) bool { var v *validation.Error; return errors.As(err, &v) }},
			{"a session that is no impersonation", targetCtx, w.targetTokens.SessionID, func(err error) bool { var v *validation.Error; return errors.As(err, &v) }},
			{"not a session ID", w.superCtx, w.target.ID, func(err error) bool { var v *validation.Error; return errors.As(err, &v) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := w.m.StopImpersonation(tt.ctx, w.c, tt.id); !tt.check(err) {
					t.Fatalf("StopImpersonation: unexpected %v", err)
				}
				if s := w.sessionRow(t, tok.SessionID); s.RevokedAt != nil {
					t.Fatalf("the impersonation was stopped")
				}
			})
		}
		// Its impersonator stops it by ID; stopping again changes nothing.
		s, err := w.m.StopImpersonation(w.superCtx, w.c, tok.SessionID)
		if err != nil || s.RevokedReason != RevokedImpersonationStopped {
			t.Fatalf("StopImpersonation by the impersonator: %+v, %v", s, err)
		}
		if _, err := w.m.StopImpersonation(w.superCtx, w.c, tok.SessionID); err != nil {
			t.Fatalf("stopping again: %v", err)
		}
		if n := len(w.activities(t, "user.impersonation_stopped", w.target.ID)); n != 1 {
			t.Errorf("%d user.impersonation_stopped, want 1", n)
		}
	})
}
