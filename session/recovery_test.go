package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/ent/usertoken"
	"github.com/cf/identity/features"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/mail"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/validation"
)

// A second password that passes the rules, distinct from newPassword.
const otherNewPassword = "quartz-meadow-violin-harbor-27"

// weakPassword is refused by the password rules (too short).
const weakPassword = "short1"

// captureMailer is the Mailer of the recovery tests: it keeps every
// message it is given.
type captureMailer struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (m *captureMailer) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

// take returns the messages sent since the last take and forgets them.
func (m *captureMailer) take() []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.msgs
	m.msgs = nil
	return out
}

// recoveryEnv is an env with the mailed-link flows over it.
type recoveryEnv struct {
	*env
	r       *Recovery
	gates   *features.Gates
	mailer  *captureMailer
	courier *mail.Courier
}

// newRecoveryEnv is newEnv with a Recovery whose gates have the
// configuration flows (nil: the defaults of package features), mailing
// through a capturing mailer.
func newRecoveryEnv(t testing.TB, db testdb.Target, flows map[features.Flow]bool, opts ...func(*Config)) *recoveryEnv {
	t.Helper()
	e := newEnv(t, db, opts...)
	m := &captureMailer{}
	outbox := mail.NewOutbox(m, slog.New(slog.DiscardHandler), mail.OutboxOptions{Backoff: time.Millisecond})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := outbox.Close(ctx); err != nil {
			t.Errorf("closing the outbox: %v", err)
		}
	})
	courier, err := mail.NewCourier(outbox, mail.CourierOptions{PublicURL: "https://app.example.com"})
	if err != nil {
		t.Fatalf("mail.NewCourier: %v", err)
	}
	gates := features.New(e.c, flows)
	r, err := NewRecovery(e.m, RecoveryConfig{Mail: courier, Gates: gates})
	if err != nil {
		t.Fatalf("NewRecovery: %v", err)
	}
	return &recoveryEnv{env: e, r: r, gates: gates, mailer: m, courier: courier}
}

// sent flushes the outbox and returns the messages sent since the last
// call.
func (e *recoveryEnv) sent(t testing.TB) []mail.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.courier.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return e.mailer.take()
}

// one returns the token of the single message sent since the last call,
// checking its kind, recipient and link path.
func (e *recoveryEnv) one(t testing.TB, kind, to, path string) string {
	t.Helper()
	_, tok := e.oneMessage(t, kind, to, path)
	return tok
}

// oneMessage is one, returning the message too.
func (e *recoveryEnv) oneMessage(t testing.TB, kind, to, path string) (mail.Message, string) {
	t.Helper()
	msgs := e.sent(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages sent, want 1 (%s to %s): %+v", len(msgs), kind, to, msgs)
	}
	m := msgs[0]
	if m.Kind != kind || m.To != to {
		t.Fatalf("message kind %q to %q, want %q to %q", m.Kind, m.To, kind, to)
	}
	u, err := url.Parse(m.Link)
	if err != nil {
		t.Fatalf("link %q: %v", m.Link, err)
	}
	if u.Scheme != "https" || u.Host != "app.example.com" || u.Path != path {
		t.Errorf("link %s://%s%s, want https://app.example.com%s", u.Scheme, u.Host, u.Path, path)
	}
	tok := u.Query().Get("token")
	if tok == "" {
		t.Fatalf("link %q has no token", m.Link)
	}
	if m.Subject == "" || !strings.Contains(m.Text, m.Link) {
		t.Errorf("message subject %q, text holds the link: %t", m.Subject, strings.Contains(m.Text, m.Link))
	}
	return m, tok
}

// none fails t when a message was sent since the last call.
func (e *recoveryEnv) none(t testing.TB, what string) {
	t.Helper()
	if msgs := e.sent(t); len(msgs) != 0 {
		t.Errorf("%s: %d messages sent, want none: %+v", what, len(msgs), msgs)
	}
}

// resetToken requests a password reset for email and returns the mailed
// token.
func (e *recoveryEnv) resetToken(t testing.TB, email string) string {
	t.Helper()
	if err := e.r.RequestPasswordReset(context.Background(), email); err != nil {
		t.Fatalf("RequestPasswordReset(%s): %v", email, err)
	}
	return e.one(t, "password_reset", email, ResetPath)
}

// tokenRows counts the rows of cf_user_tokens (raw SQL, no policy).
func (e *recoveryEnv) tokenRows(t testing.TB) int {
	t.Helper()
	var n int
	if err := e.sql.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM cf_user_tokens`).Scan(&n); err != nil {
		t.Fatalf("counting cf_user_tokens: %v", err)
	}
	return n
}

// loginWith signs email in with pw.
func (e *recoveryEnv) loginWith(email, pw string) (*Tokens, error) {
	return e.m.Login(context.Background(), LoginInput{Email: email, Password: pw, Client: laptop})
}

func verified(q *ent.UserCreate) {
	q.SetEmailVerified(true).SetEmailVerifiedAt(time.Now().UTC().Truncate(time.Second))
}

func wantValidation(t testing.TB, what string, err error) *validation.Error {
	t.Helper()
	var ve *validation.Error
	if !errors.As(err, &ve) {
		t.Fatalf("%s: error %v, want a *validation.Error", what, err)
	}
	return ve
}

func wantDisabled(t testing.TB, what string, err error, f features.Flow) {
	t.Helper()
	var de *features.DisabledError
	if !errors.As(err, &de) || !errors.Is(err, features.ErrDisabled) || de.Flow != f {
		t.Fatalf("%s: error %v, want a *features.DisabledError for %s", what, err, f)
	}
}

// --- configuration ---------------------------------------------------------

func TestRecoveryConfig(t *testing.T) {
	e := newEnv(t, testdb.New(t, dialect.SQLite))
	outbox := mail.NewOutbox(&captureMailer{}, slog.New(slog.DiscardHandler), mail.OutboxOptions{})
	t.Cleanup(func() { _ = outbox.Close(context.Background()) })
	courier, err := mail.NewCourier(outbox, mail.CourierOptions{PublicURL: "https://app.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cfg  RecoveryConfig
		ok   bool
	}{
		{"defaults", RecoveryConfig{Mail: courier}, true},
		{"no courier", RecoveryConfig{}, false},
		{"reset link of 30s", RecoveryConfig{Mail: courier, ResetTTL: 30 * time.Second}, false},
		{"reset link of 25h", RecoveryConfig{Mail: courier, ResetTTL: 25 * time.Hour}, false},
		{"verification link of 31 days", RecoveryConfig{Mail: courier, VerifyTTL: 31 * 24 * time.Hour}, false},
		{"verification link of 30s", RecoveryConfig{Mail: courier, VerifyTTL: 30 * time.Second}, false},
		{"bounds", RecoveryConfig{Mail: courier, ResetTTL: time.Minute, VerifyTTL: 30 * 24 * time.Hour}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRecovery(e.m, tt.cfg)
			if tt.ok {
				if err != nil || r == nil {
					t.Fatalf("NewRecovery: %v", err)
				}
				if tt.cfg.ResetTTL == 0 && (r.cfg.ResetTTL != DefaultResetTTL || r.cfg.VerifyTTL != DefaultVerifyTTL) {
					t.Errorf("TTLs %s and %s, want the defaults %s and %s", r.cfg.ResetTTL, r.cfg.VerifyTTL, DefaultResetTTL, DefaultVerifyTTL)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("NewRecovery: %v, want ErrConfig", err)
			}
		})
	}
}

// HashPassword applies the password rules, with the user's own words.
func TestRecoveryHashPassword(t *testing.T) {
	e := newEnv(t, testdb.New(t, dialect.SQLite))
	ctx := context.Background()
	h, err := e.m.HashPassword(ctx, "password", newPassword, "ada@example.com", "Ada")
	if err != nil || !h.Verify(newPassword) || h.Verify(testPassword) {
		t.Fatalf("HashPassword(a good password): %v (verifies: %t)", err, err == nil && h.Verify(newPassword))
	}
	for _, tt := range []struct{ name, pw, rule string }{
		{"too short", weakPassword, "too_short"},
		{"the user's name", "Lovelace-2024-password!", "personal"},
		{"common", "password123456", "common"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.m.HashPassword(ctx, "newPassword", tt.pw, "ada.lovelace@example.com", "Ada", "Lovelace")
			ve := wantValidation(t, "HashPassword", err)
			if ve.Field != "newPassword" {
				t.Errorf("field %q, want newPassword", ve.Field)
			}
			if !errors.Is(err, validation.ErrInvalid) {
				t.Errorf("error %v does not match validation.ErrInvalid", err)
			}
		})
	}
}

// --- password reset: request -----------------------------------------------

// A request for the email of a user mails one link and stores its digest;
// any other answer is nil too, and mails and stores nothing; a malformed
// address is a validation error.
func TestRecoveryRequestPasswordReset(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		u := e.user(t, "ada@example.com", testPassword, func(q *ent.UserCreate) { q.SetDisplayName("Ada L.") })

		for _, tt := range []struct {
			name, email string
			want        string // "mail", "nothing", "invalid"
		}{
			{"unknown email", "nobody@example.com", "nothing"},
			{"malformed email", "not-an-email", "invalid"},
			{"empty email", "   ", "invalid"},
			{"existing email, other case and spaces", "  Ada@Example.COM ", "mail"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				before := e.tokenRows(t)
				err := e.r.RequestPasswordReset(context.Background(), tt.email)
				switch tt.want {
				case "nothing":
					if err != nil {
						t.Fatalf("RequestPasswordReset: %v, want nil", err)
					}
					e.none(t, "unknown email")
					if n := e.tokenRows(t); n != before {
						t.Errorf("cf_user_tokens rows %d, want %d", n, before)
					}
				case "invalid":
					ve := wantValidation(t, "RequestPasswordReset", err)
					if ve.Field != "email" {
						t.Errorf("field %q, want email", ve.Field)
					}
					e.none(t, "malformed email")
					if n := e.tokenRows(t); n != before {
						t.Errorf("cf_user_tokens rows %d, want %d", n, before)
					}
				case "mail":
					if err != nil {
						t.Fatalf("RequestPasswordReset: %v", err)
					}
					tok := e.one(t, "password_reset", "ada@example.com", ResetPath)
					if _, err := secret.SplitToken(resetKind, tok); err != nil {
						t.Errorf("token is not a %s_ token: %v", resetKind, err)
					}
					rows := e.c.UserToken.Query().Where(usertoken.UserID(u.ID)).AllX(sys())
					if len(rows) != 1 {
						t.Fatalf("%d tokens of the user, want 1", len(rows))
					}
					row := rows[0]
					if row.Purpose != usertoken.PurposePasswordReset || row.Email != u.Email || row.UsedAt != nil ||
						!row.TokenDigest.Matches(tok) || !row.ExpiresAt.Equal(e.clock.Now().Add(30*time.Minute)) {
						t.Errorf("token row purpose %s email %s used %v expires %v (digest matches: %t); want password_reset, %s, unused, now+30m",
							row.Purpose, row.Email, row.UsedAt, row.ExpiresAt, row.TokenDigest.Matches(tok), u.Email)
					}
					if n := e.tokenRows(t); n != before+1 {
						t.Errorf("cf_user_tokens rows %d, want %d", n, before+1)
					}
					acts := e.activities(t, "user.password_reset_requested", u.ID)
					if len(acts) != 1 || acts[0].ActorType != "system" {
						t.Errorf("user.password_reset_requested = %v, want one by the system", acts)
					}
				}
			})
		}
	})
}

// --- password reset: confirm -----------------------------------------------

// Confirming a reset sets the password, lifts a lock, revokes every
// session, marks the address verified and records user.password_reset;
// the token then is used.
func TestRecoveryConfirmPasswordReset(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil, func(c *Config) { c.MaxFailedLogins = 3 })
		u := e.user(t, "ada@example.com", testPassword)
		if u.EmailVerified {
			t.Fatal("a new user starts verified")
		}
		laptopSession := e.login(t, u.Email, laptop)
		phoneSession := e.login(t, u.Email, phone)
		for range 3 {
			if _, err := e.loginWith(u.Email, wrongPassword); err == nil {
				t.Fatal("Login with a wrong password succeeded")
			}
		}
		if _, err := e.loginWith(u.Email, testPassword); !errors.Is(err, ErrLocked) {
			t.Fatalf("Login after 3 wrong passwords: %v, want the account locked", err)
		}

		tok := e.resetToken(t, u.Email)
		now := e.clock.Now()
		if err := e.r.ConfirmPasswordReset(context.Background(), tok, newPassword); err != nil {
			t.Fatalf("ConfirmPasswordReset: %v", err)
		}

		got := e.userRow(t, u.ID)
		if got.LockedUntil != nil || got.FailedLogins != 0 {
			t.Errorf("after the reset: locked_until %v failed_logins %d, want no lock and 0", got.LockedUntil, got.FailedLogins)
		}
		if !got.EmailVerified || !timePtrEq(got.EmailVerifiedAt, now) {
			t.Errorf("after the reset: email_verified %t at %v, want true at %v", got.EmailVerified, got.EmailVerifiedAt, now)
		}
		if !got.PasswordHash.Verify(newPassword) || got.PasswordHash.Verify(testPassword) {
			t.Errorf("the stored hash does not verify the new password only")
		}
		for name, s := range map[string]*Tokens{"laptop": laptopSession, "phone": phoneSession} {
			if _, err := e.m.Refresh(context.Background(), s.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
				t.Errorf("refreshing the %s session from before the reset: %v, want ErrSessionRevoked", name, err)
			}
			if row := e.sessionRow(t, s.SessionID); row.RevokedAt == nil || row.RevokedReason != "password_reset" {
				t.Errorf("%s session revoked at %v reason %q, want revoked for password_reset", name, row.RevokedAt, row.RevokedReason)
			}
		}
		acts := e.activities(t, "user.password_reset", u.ID)
		if len(acts) != 1 || acts[0].ActorUserID == nil || *acts[0].ActorUserID != u.ID || acts[0].Data["unlocked"] != true {
			t.Errorf("user.password_reset = %+v, want one by the user with unlocked true", acts)
		}

		if _, err := e.loginWith(u.Email, testPassword); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("Login with the old password: %v, want ErrInvalidCredentials", err)
		}
		if _, err := e.loginWith(u.Email, newPassword); err != nil {
			t.Errorf("Login with the new password: %v", err)
		}

		err := e.r.ConfirmPasswordReset(context.Background(), tok, otherNewPassword)
		if !errors.Is(err, ErrTokenUsed) || !errors.Is(err, ErrInvalidToken) {
			t.Errorf("second ConfirmPasswordReset: %v, want ErrTokenUsed (matching ErrInvalidToken)", err)
		}
		if !e.userRow(t, u.ID).PasswordHash.Verify(newPassword) {
			t.Errorf("a used token changed the password")
		}
		if n := len(e.activities(t, "user.password_reset", u.ID)); n != 1 {
			t.Errorf("%d user.password_reset after a refused reuse, want 1", n)
		}
	})
}

// Tokens that are not usable are refused and change nothing; each refusal
// matches ErrInvalidToken.
func TestRecoveryResetTokenRefusals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		u := e.user(t, "ada@example.com", testPassword)
		unknown, _, err := secret.NewToken(resetKind)
		if err != nil {
			t.Fatal(err)
		}
		verifyShaped, _, err := secret.NewToken(verifyKind)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name  string
			token func(t *testing.T) string
			want  error
		}{
			{"empty", func(*testing.T) string { return "" }, ErrInvalidToken},
			{"garbage", func(*testing.T) string { return "not a token" }, ErrInvalidToken},
			{"prefix only", func(*testing.T) string { return resetKind + "_" }, ErrInvalidToken},
			{"unknown", func(*testing.T) string { return unknown }, ErrInvalidToken},
			{"a verification-shaped token", func(*testing.T) string { return verifyShaped }, ErrInvalidToken},
			{"a mailed token one character off", func(t *testing.T) string {
				tok := e.resetToken(t, u.Email)
				last := tok[len(tok)-1]
				repl := byte('A')
				if last == 'A' {
					repl = 'B'
				}
				return tok[:len(tok)-1] + string(repl)
			}, ErrInvalidToken},
			{"a verification token", func(t *testing.T) string {
				if err := e.r.RequestEmailVerification(e.as(t, actor.User(u.ID, actor.PlatformNone))); err != nil {
					t.Fatal(err)
				}
				return e.one(t, "email_verification", u.Email, VerifyPath)
			}, ErrInvalidToken},
			{"expired after 30 minutes", func(t *testing.T) string {
				tok := e.resetToken(t, u.Email)
				e.clock.Advance(30 * time.Minute)
				return tok
			}, ErrTokenExpired},
		} {
			t.Run(tt.name, func(t *testing.T) {
				tok := tt.token(t)
				err := e.r.ConfirmPasswordReset(context.Background(), tok, newPassword)
				if !errors.Is(err, tt.want) || !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("ConfirmPasswordReset: %v, want %v (matching ErrInvalidToken)", err, tt.want)
				}
				if tt.want == ErrInvalidToken && (errors.Is(err, ErrTokenUsed) || errors.Is(err, ErrTokenExpired)) { //nolint:errorlint // which sentinel the case names (the plain one), not a returned error
					t.Errorf("ConfirmPasswordReset: %v, want plain ErrInvalidToken", err)
				}
				if got := e.userRow(t, u.ID); !got.PasswordHash.Verify(testPassword) {
					t.Errorf("a refused token changed the password")
				}
			})
		}
		if n := len(e.activities(t, "user.password_reset", u.ID)); n != 0 {
			t.Errorf("%d user.password_reset for refused tokens, want 0", n)
		}
	})
}

// A link works until just before its 30 minutes are up.
func TestRecoveryResetTokenJustBeforeExpiry(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		u := e.user(t, "ada@example.com", testPassword)
		tok := e.resetToken(t, u.Email)
		e.clock.Advance(30*time.Minute - time.Second)
		if err := e.r.ConfirmPasswordReset(context.Background(), tok, newPassword); err != nil {
			t.Fatalf("ConfirmPasswordReset at 29m59s: %v", err)
		}
	})
}

// A new password the rules refuse is a validation error, and the token
// stays usable; an empty one too.
func TestRecoveryResetWeakPassword(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		u := e.user(t, "ada.lovelace@example.com", testPassword)
		tok := e.resetToken(t, u.Email)
		for _, pw := range []string{"", weakPassword, "ada.lovelace-2024", "password123456"} {
			err := e.r.ConfirmPasswordReset(context.Background(), tok, pw)
			if ve := wantValidation(t, "ConfirmPasswordReset("+pw+")", err); ve.Field != "newPassword" {
				t.Errorf("field %q, want newPassword", ve.Field)
			}
		}
		if got := e.userRow(t, u.ID); !got.PasswordHash.Verify(testPassword) {
			t.Fatalf("a refused password was stored")
		}
		if err := e.r.ConfirmPasswordReset(context.Background(), tok, newPassword); err != nil {
			t.Fatalf("ConfirmPasswordReset after refused passwords: %v", err)
		}
	})
}

// Of two outstanding reset links, using either one ends the other.
func TestRecoveryTwoResetTokens(t *testing.T) {
	for _, use := range []int{0, 1} {
		t.Run([]string{"first", "second"}[use], func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, db testdb.Target) {
				e := newRecoveryEnv(t, db, nil)
				u := e.user(t, "ada@example.com", testPassword)
				toks := []string{e.resetToken(t, u.Email), e.resetToken(t, u.Email)}
				if toks[0] == toks[1] {
					t.Fatal("two requests mailed the same token")
				}
				if err := e.r.ConfirmPasswordReset(context.Background(), toks[use], newPassword); err != nil {
					t.Fatalf("ConfirmPasswordReset: %v", err)
				}
				if err := e.r.ConfirmPasswordReset(context.Background(), toks[1-use], otherNewPassword); !errors.Is(err, ErrTokenUsed) {
					t.Fatalf("ConfirmPasswordReset with the other token: %v, want ErrTokenUsed", err)
				}
				if !e.userRow(t, u.ID).PasswordHash.Verify(newPassword) {
					t.Errorf("the other token changed the password")
				}
			})
		})
	}
}

// A switched-off password reset refuses request and confirmation alike.
func TestRecoveryResetDisabled(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		on := newRecoveryEnv(t, db, nil)
		u := on.user(t, "ada@example.com", testPassword)
		tok := on.resetToken(t, u.Email)

		off, err := NewRecovery(on.m, RecoveryConfig{Mail: on.courier, Gates: features.New(on.c, map[features.Flow]bool{features.PasswordReset: false})})
		if err != nil {
			t.Fatal(err)
		}
		rows := on.tokenRows(t)
		wantDisabled(t, "RequestPasswordReset", off.RequestPasswordReset(context.Background(), u.Email), features.PasswordReset)
		wantDisabled(t, "RequestPasswordReset (unknown email)", off.RequestPasswordReset(context.Background(), "nobody@example.com"), features.PasswordReset)
		wantDisabled(t, "ConfirmPasswordReset", off.ConfirmPasswordReset(context.Background(), tok, newPassword), features.PasswordReset)
		on.none(t, "a switched-off reset")
		if n := on.tokenRows(t); n != rows {
			t.Errorf("cf_user_tokens rows %d, want %d", n, rows)
		}
		if !on.userRow(t, u.ID).PasswordHash.Verify(testPassword) {
			t.Fatal("a switched-off reset changed the password")
		}

		// Switched off at run time by a platform admin, for the Recovery
		// that is on by configuration.
		admin := on.user(t, "root@example.com", testPassword, func(q *ent.UserCreate) { q.SetPlatformRole(user.PlatformRoleAdmin) })
		no := false
		if _, err := on.gates.Set(on.as(t, actor.User(admin.ID, actor.PlatformAdmin)), on.c, features.PasswordReset, &no); err != nil {
			t.Fatalf("Set(password_reset, off): %v", err)
		}
		wantDisabled(t, "ConfirmPasswordReset (switched off at run time)", on.r.ConfirmPasswordReset(context.Background(), tok, newPassword), features.PasswordReset)
		if _, err := on.gates.Set(on.as(t, actor.User(admin.ID, actor.PlatformAdmin)), on.c, features.PasswordReset, nil); err != nil {
			t.Fatalf("Set(password_reset, nil): %v", err)
		}
		if err := on.r.ConfirmPasswordReset(context.Background(), tok, newPassword); err != nil {
			t.Fatalf("ConfirmPasswordReset once back on: %v", err)
		}
	})
}

// 50 confirmations of one reset link at once: exactly one sets the
// password, the others are told the link was used.
func TestRecoveryConcurrentResetConfirm(t *testing.T) {
	e := newRecoveryEnv(t, postgres(t), nil, func(c *Config) { c.HashConcurrency = 8 })
	u := e.user(t, "ada@example.com", testPassword)
	old := e.login(t, u.Email, laptop)
	tok := e.resetToken(t, u.Email)
	pws := []string{newPassword, otherNewPassword}
	errs := race(parallel, func(i int) error {
		return e.r.ConfirmPasswordReset(context.Background(), tok, pws[i%2])
	})
	ok, winner := 0, -1
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
			winner = i
		case errors.Is(err, ErrTokenUsed):
		default:
			t.Errorf("confirmation %d: %v, want nil or ErrTokenUsed", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d confirmations succeeded, want exactly 1", ok)
	}
	if got := e.userRow(t, u.ID); !got.PasswordHash.Verify(pws[winner%2]) {
		t.Errorf("the stored password is not the winner's")
	}
	if n := len(e.activities(t, "user.password_reset", u.ID)); n != 1 {
		t.Errorf("%d user.password_reset, want 1", n)
	}
	if _, err := e.m.Refresh(context.Background(), old.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
		t.Errorf("refresh of the session from before: %v, want ErrSessionRevoked", err)
	}
}

// postgres returns a fresh PostgreSQL database, or skips t without one.
func postgres(t *testing.T) testdb.Target {
	t.Helper()
	for _, d := range testdb.Dialects() {
		if d == dialect.Postgres {
			return testdb.New(t, d)
		}
	}
	t.Skipf("no PostgreSQL (%s not set): races need a database with concurrent writers", testdb.EnvPostgres)
	return testdb.Target{}
}

// --- email verification ----------------------------------------------------

// The signed-in user asks for a link to the current address; following it
// verifies the address, once.
func TestRecoveryEmailVerification(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		u := e.user(t, "ada@example.com", testPassword, func(q *ent.UserCreate) { q.SetFirstName("Ada").SetLastName("Lovelace") })
		s := e.login(t, u.Email, laptop)
		ctx := e.asToken(t, s.AccessToken)
		if a := actor.FromContext(ctx); a.SessionID() != s.SessionID {
			t.Fatalf("actor session %q, want %q", a.SessionID(), s.SessionID)
		}
		if err := e.r.RequestEmailVerification(ctx); err != nil {
			t.Fatalf("RequestEmailVerification: %v", err)
		}
		msg, tok := e.oneMessage(t, "email_verification", u.Email, VerifyPath)
		if !strings.Contains(msg.Text, "Ada Lovelace") {
			t.Errorf("message text %q does not name Ada Lovelace", msg.Text)
		}
		if _, err := secret.SplitToken(verifyKind, tok); err != nil {
			t.Errorf("token is not a %s_ token: %v", verifyKind, err)
		}
		if acts := e.activities(t, "user.email_verification_requested", u.ID); len(acts) != 1 || acts[0].ActorUserID == nil || *acts[0].ActorUserID != u.ID {
			t.Errorf("user.email_verification_requested = %+v, want one by the user", acts)
		}
		if got := e.userRow(t, u.ID); got.EmailVerified {
			t.Fatal("the request alone verified the address")
		}

		e.clock.Advance(time.Hour)
		now := e.clock.Now()
		got, err := e.r.VerifyEmail(context.Background(), tok)
		if err != nil {
			t.Fatalf("VerifyEmail: %v", err)
		}
		if !got.EmailVerified || !timePtrEq(got.EmailVerifiedAt, now) || got.Email != u.Email {
			t.Errorf("VerifyEmail returned email %s verified %t at %v, want %s verified at %v", got.Email, got.EmailVerified, got.EmailVerifiedAt, u.Email, now)
		}
		if row := e.userRow(t, u.ID); !row.EmailVerified || !timePtrEq(row.EmailVerifiedAt, now) {
			t.Errorf("stored email_verified %t at %v, want true at %v", row.EmailVerified, row.EmailVerifiedAt, now)
		}
		if acts := e.activities(t, "user.email_verified", u.ID); len(acts) != 1 || acts[0].ActorUserID == nil || *acts[0].ActorUserID != u.ID {
			t.Errorf("user.email_verified = %+v, want one by the user", acts)
		}
		if _, err := e.r.VerifyEmail(context.Background(), tok); !errors.Is(err, ErrTokenUsed) || !errors.Is(err, ErrInvalidToken) {
			t.Errorf("VerifyEmail again: %v, want ErrTokenUsed", err)
		}
		if n := len(e.activities(t, "user.email_verified", u.ID)); n != 1 {
			t.Errorf("%d user.email_verified after a reuse, want 1", n)
		}

		// Verified already: nothing to mail.
		rows := e.tokenRows(t)
		if err := e.r.RequestEmailVerification(ctx); err != nil {
			t.Fatalf("RequestEmailVerification when verified: %v", err)
		}
		e.none(t, "a verified address")
		if n := e.tokenRows(t); n != rows {
			t.Errorf("cf_user_tokens rows %d, want %d", n, rows)
		}
	})
}

// Verification tokens refused: malformed, unknown, a reset token, expired
// after 24 hours, and the older of two links once the newer was used.
func TestRecoveryVerifyEmailRefusals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		u := e.user(t, "ada@example.com", testPassword)
		ctx := e.as(t, actor.User(u.ID, actor.PlatformNone))
		request := func(t *testing.T) string {
			t.Helper()
			if err := e.r.RequestEmailVerification(ctx); err != nil {
				t.Fatal(err)
			}
			return e.one(t, "email_verification", u.Email, VerifyPath)
		}
		unknown, _, _ := secret.NewToken(verifyKind)
		for _, tt := range []struct {
			name  string
			token func(t *testing.T) string
			want  error
		}{
			{"garbage", func(*testing.T) string { return "cfvrf_%%%" }, ErrInvalidToken},
			{"unknown", func(*testing.T) string { return unknown }, ErrInvalidToken},
			{"a reset token", func(t *testing.T) string { return e.resetToken(t, u.Email) }, ErrInvalidToken},
			{"expired after 24 hours", func(t *testing.T) string {
				tok := request(t)
				e.clock.Advance(24 * time.Hour)
				return tok
			}, ErrTokenExpired},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := e.r.VerifyEmail(context.Background(), tt.token(t))
				if !errors.Is(err, tt.want) || !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("VerifyEmail: %v, want %v", err, tt.want)
				}
				if e.userRow(t, u.ID).EmailVerified {
					t.Fatal("a refused token verified the address")
				}
			})
		}
		older, newer := request(t), request(t)
		if _, err := e.r.VerifyEmail(context.Background(), newer); err != nil {
			t.Fatalf("VerifyEmail(newer): %v", err)
		}
		if _, err := e.r.VerifyEmail(context.Background(), older); !errors.Is(err, ErrTokenUsed) {
			t.Errorf("VerifyEmail(older) after the newer: %v, want ErrTokenUsed", err)
		}
	})
}

// Only the signed-in user asks for a link to their address: not an API
// key, an impersonation, the system, or nobody.
func TestRecoveryVerifyAndEmailChangeActors(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		u := e.user(t, "ada@example.com", testPassword)
		admin := e.user(t, "root@example.com", testPassword, func(q *ent.UserCreate) { q.SetPlatformRole(user.PlatformRoleSuperadmin) })
		s := e.login(t, u.Email, laptop)
		for _, tt := range []struct {
			name string
			ctx  context.Context
			want error
		}{
			{"a personal API key with every scope", e.as(t, actor.APIKey(pulid.New("key"), u.ID, actor.PlatformNone, "", []string{actor.ScopeAll})), authz.ErrNotLoaded},
			{"an impersonation", e.as(t, actor.UserSession(u.ID, actor.PlatformNone, s.SessionID).ImpersonatedBy(admin.ID)), authz.ErrImpersonated},
			{"the system", sys(), authz.ErrNotLoaded},
			{"nobody", context.Background(), authz.ErrNotLoaded},
		} {
			t.Run(tt.name, func(t *testing.T) {
				rows := e.tokenRows(t)
				if err := e.r.RequestEmailVerification(tt.ctx); !errors.Is(err, tt.want) {
					t.Errorf("RequestEmailVerification: %v, want %v", err, tt.want)
				}
				if err := e.r.RequestEmailChange(tt.ctx, "ada.new@example.com", testPassword); !errors.Is(err, tt.want) {
					t.Errorf("RequestEmailChange: %v, want %v", err, tt.want)
				}
				e.none(t, tt.name)
				if n := e.tokenRows(t); n != rows {
					t.Errorf("cf_user_tokens rows %d, want %d", n, rows)
				}
			})
		}
	})
}

// 50 uses of one verification link at once: exactly one verifies.
func TestRecoveryConcurrentVerifyEmail(t *testing.T) {
	e := newRecoveryEnv(t, postgres(t), nil)
	u := e.user(t, "ada@example.com", testPassword)
	if err := e.r.RequestEmailChange(e.as(t, actor.User(u.ID, actor.PlatformNone)), "ada.new@example.com", testPassword); err != nil {
		t.Fatal(err)
	}
	tok := e.one(t, "email_change", "ada.new@example.com", VerifyPath)
	errs := race(parallel, func(int) error {
		_, err := e.r.VerifyEmail(context.Background(), tok)
		return err
	})
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrTokenUsed):
		default:
			t.Errorf("verification %d: %v, want nil or ErrTokenUsed", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d verifications succeeded, want exactly 1", ok)
	}
	if n := len(e.activities(t, "user.email_changed", u.ID)); n != 1 {
		t.Errorf("%d user.email_changed, want 1", n)
	}
}

// --- email change ----------------------------------------------------------

// A change mails the new address; the current one stays until the link is
// followed; then the new one is the verified address, the old one signs in
// no more, and reset links sent to the old one are refused.
func TestRecoveryEmailChange(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		u := e.user(t, "ada@example.com", testPassword, verified)
		ctx := e.as(t, actor.User(u.ID, actor.PlatformNone))
		if err := e.r.RequestEmailChange(ctx, "  Ada.New@Example.COM ", testPassword); err != nil {
			t.Fatalf("RequestEmailChange: %v", err)
		}
		tok := e.one(t, "email_change", "ada.new@example.com", VerifyPath)
		if got := e.userRow(t, u.ID); got.Email != "ada@example.com" || !got.EmailVerified {
			t.Errorf("before the link: email %s verified %t, want ada@example.com still verified", got.Email, got.EmailVerified)
		}
		if acts := e.activities(t, "user.email_change_requested", u.ID); len(acts) != 1 || acts[0].Data["to"] != "ada.new@example.com" {
			t.Errorf("user.email_change_requested = %+v, want one with to", acts)
		}
		// A reset link to the current address, outstanding at the change.
		oldReset := e.resetToken(t, "ada@example.com")

		e.clock.Advance(time.Minute)
		now := e.clock.Now()
		got, err := e.r.VerifyEmail(context.Background(), tok)
		if err != nil {
			t.Fatalf("VerifyEmail: %v", err)
		}
		if got.Email != "ada.new@example.com" || !got.EmailVerified || !timePtrEq(got.EmailVerifiedAt, now) {
			t.Errorf("after the link: email %s verified %t at %v, want ada.new@example.com verified at %v", got.Email, got.EmailVerified, got.EmailVerifiedAt, now)
		}
		if row := e.userRow(t, u.ID); row.Email != "ada.new@example.com" || !row.EmailVerified {
			t.Errorf("stored email %s verified %t", row.Email, row.EmailVerified)
		}
		acts := e.activities(t, "user.email_changed", u.ID)
		if len(acts) != 1 || acts[0].Data["from"] != "ada@example.com" || acts[0].Data["to"] != "ada.new@example.com" ||
			acts[0].ActorUserID == nil || *acts[0].ActorUserID != u.ID {
			t.Errorf("user.email_changed = %+v, want one by the user from ada@ to ada.new@", acts)
		}
		if n := len(e.activities(t, "user.email_verified", u.ID)); n != 0 {
			t.Errorf("%d user.email_verified for a change, want 0 (it is user.email_changed)", n)
		}

		if err := e.r.ConfirmPasswordReset(context.Background(), oldReset, newPassword); !errors.Is(err, ErrTokenUsed) {
			t.Errorf("ConfirmPasswordReset with a link sent to the old address: %v, want ErrTokenUsed", err)
		}
		if !e.userRow(t, u.ID).PasswordHash.Verify(testPassword) {
			t.Errorf("a reset link of the old address changed the password")
		}
		if _, err := e.loginWith("ada@example.com", testPassword); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("Login with the old address: %v, want ErrInvalidCredentials", err)
		}
		e.login(t, "ada.new@example.com", laptop)
		// The old address may be requested again: nothing is mailed.
		if err := e.r.RequestPasswordReset(context.Background(), "ada@example.com"); err != nil {
			t.Fatal(err)
		}
		e.none(t, "a reset of the old address")
		if _, err := e.r.VerifyEmail(context.Background(), tok); !errors.Is(err, ErrTokenUsed) {
			t.Errorf("VerifyEmail again: %v, want ErrTokenUsed", err)
		}
	})
}

// Refused changes: an address of another user (at the request, and at the
// link when taken in between), the current address, a malformed one.
func TestRecoveryEmailChangeRefusals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		u := e.user(t, "ada@example.com", testPassword, verified)
		e.user(t, "bob@example.com", testPassword)
		ctx := e.as(t, actor.User(u.ID, actor.PlatformNone))
		for _, tt := range []struct {
			name, email string
			check       func(t *testing.T, err error)
		}{
			// The same answer as for a free address, and no link.
			{"taken by another user", "bob@example.com", func(t *testing.T, err error) { wantIs(t, "RequestEmailChange", err, nil) }},
			{"taken, other case", " BOB@example.com", func(t *testing.T, err error) { wantIs(t, "RequestEmailChange", err, nil) }},
			{"the current address", "ada@example.com", func(t *testing.T, err error) {
				if ve := wantValidation(t, "RequestEmailChange", err); ve.Field != "email" || !errors.Is(err, ErrEmailUnchanged) {
					t.Errorf("error %v, want field email and ErrEmailUnchanged", err)
				}
			}},
			{"the current address, other case", " ADA@Example.com ", func(t *testing.T, err error) { _ = wantValidation(t, "RequestEmailChange", err) }},
			{"malformed", "ada@", func(t *testing.T, err error) { _ = wantValidation(t, "RequestEmailChange", err) }},
			{"empty", "", func(t *testing.T, err error) { _ = wantValidation(t, "RequestEmailChange", err) }},
		} {
			t.Run(tt.name, func(t *testing.T) {
				rows := e.tokenRows(t)
				tt.check(t, e.r.RequestEmailChange(ctx, tt.email, testPassword))
				e.none(t, tt.name)
				if n := e.tokenRows(t); n != rows {
					t.Errorf("cf_user_tokens rows %d, want %d", n, rows)
				}
			})
		}

		t.Run("taken between the request and the link", func(t *testing.T) {
			if err := e.r.RequestEmailChange(ctx, "carol@example.com", testPassword); err != nil {
				t.Fatal(err)
			}
			tok := e.one(t, "email_change", "carol@example.com", VerifyPath)
			e.user(t, "carol@example.com", testPassword)
			for range 2 {
				if _, err := e.r.VerifyEmail(context.Background(), tok); !errors.Is(err, ErrEmailTaken) {
					t.Fatalf("VerifyEmail: %v, want ErrEmailTaken", err)
				}
			}
			if got := e.userRow(t, u.ID); got.Email != "ada@example.com" || !got.EmailVerified {
				t.Errorf("after a refused change: email %s verified %t", got.Email, got.EmailVerified)
			}
			if n := len(e.activities(t, "user.email_changed", u.ID)); n != 0 {
				t.Errorf("%d user.email_changed, want 0", n)
			}
		})
	})
}

// Users racing for one new address: exactly one gets it, the others are
// told it is taken (not a database error).
func TestRecoveryConcurrentEmailChange(t *testing.T) {
	e := newRecoveryEnv(t, postgres(t), nil)
	toks := make([]string, parallel)
	for i := range parallel {
		u := e.user(t, "user"+string(rune('a'+i%26))+string(rune('a'+i/26))+"@example.com", testPassword)
		if err := e.r.RequestEmailChange(e.as(t, actor.User(u.ID, actor.PlatformNone)), "wanted@example.com", testPassword); err != nil {
			t.Fatalf("RequestEmailChange %d: %v", i, err)
		}
	}
	msgs := e.sent(t)
	if len(msgs) != parallel {
		t.Fatalf("%d messages, want %d", len(msgs), parallel)
	}
	for i, m := range msgs {
		u, _ := url.Parse(m.Link)
		toks[i] = u.Query().Get("token")
	}
	errs := race(parallel, func(i int) error {
		_, err := e.r.VerifyEmail(context.Background(), toks[i])
		return err
	})
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrEmailTaken):
		default:
			t.Errorf("verification %d: %v, want nil or ErrEmailTaken", i, err)
		}
	}
	if ok != 1 {
		t.Errorf("%d changes succeeded, want exactly 1", ok)
	}
	if n := e.c.User.Query().Where(user.Email("wanted@example.com")).CountX(sys()); n != 1 {
		t.Errorf("%d users with the address, want 1", n)
	}
}

// An admin's change of the address through the ent client unverifies it;
// writing the same address (in any case) or another field does not. A
// reset link sent to the address before the change is refused after it.
func TestRecoveryAdminEmailChangeUnverifies(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		admin := e.user(t, "root@example.com", testPassword, func(q *ent.UserCreate) { q.SetPlatformRole(user.PlatformRoleAdmin) })
		actx := e.as(t, actor.User(admin.ID, actor.PlatformAdmin))
		for i, tt := range []struct {
			name       string
			update     func(q *ent.UserUpdateOne, email string)
			unverified bool
		}{
			{"a new address", func(q *ent.UserUpdateOne, email string) { q.SetEmail("changed." + email) }, true},
			{"the same address", func(q *ent.UserUpdateOne, email string) { q.SetEmail(email) }, false},
			{"the same address in capitals, with spaces", func(q *ent.UserUpdateOne, email string) { q.SetEmail(" " + strings.ToUpper(email) + " ") }, false},
			{"another field", func(q *ent.UserUpdateOne, _ string) { q.SetFirstName("Ada") }, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				email := "user" + string(rune('a'+i)) + "@example.com"
				u := e.user(t, email, testPassword, verified)
				reset := e.resetToken(t, email)
				q := e.c.User.UpdateOneID(u.ID)
				tt.update(q, email)
				got, err := q.Save(actx)
				if err != nil {
					t.Fatalf("update by a platform admin: %v", err)
				}
				if got.EmailVerified == tt.unverified || (got.EmailVerifiedAt == nil) != tt.unverified {
					t.Errorf("returned email %s verified %t at %v; want unverified %t", got.Email, got.EmailVerified, got.EmailVerifiedAt, tt.unverified)
				}
				row := e.userRow(t, u.ID)
				if row.EmailVerified == tt.unverified || (row.EmailVerifiedAt == nil) != tt.unverified {
					t.Errorf("stored email %s verified %t at %v; want unverified %t", row.Email, row.EmailVerified, row.EmailVerifiedAt, tt.unverified)
				}
				err = e.r.ConfirmPasswordReset(context.Background(), reset, newPassword)
				if tt.unverified {
					if !errors.Is(err, ErrTokenUsed) {
						t.Errorf("reset link of the old address after the change: %v, want ErrTokenUsed", err)
					}
				} else if err != nil {
					t.Errorf("reset link of the unchanged address: %v", err)
				}
			})
		}
	})
}

// A verification link mailed before an administrator changed the address
// does not change it back.
func TestRecoveryOldVerificationLinkAfterAdminChange(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		admin := e.user(t, "root@example.com", testPassword, func(q *ent.UserCreate) { q.SetPlatformRole(user.PlatformRoleAdmin) })
		u := e.user(t, "old@example.com", testPassword)
		s := e.login(t, u.Email, laptop)
		if err := e.r.RequestEmailVerification(e.asToken(t, s.AccessToken)); err != nil {
			t.Fatalf("RequestEmailVerification: %v", err)
		}
		tok := e.one(t, "email_verification", u.Email, VerifyPath)
		actx := e.as(t, actor.User(admin.ID, actor.PlatformAdmin))
		if err := e.c.User.UpdateOneID(u.ID).SetEmail("new@example.com").Exec(actx); err != nil {
			t.Fatalf("admin changes the email: %v", err)
		}
		if _, err := e.r.VerifyEmail(context.Background(), tok); !errors.Is(err, ErrTokenUsed) {
			t.Errorf("VerifyEmail with the link of the old address: %v, want ErrTokenUsed", err)
		}
		if got := e.userRow(t, u.ID); got.Email != "new@example.com" || got.EmailVerified {
			t.Errorf("user after the old link: %s verified %t, want new@example.com unverified", got.Email, got.EmailVerified)
		}
		if acts := e.activities(t, "user.email_changed", u.ID); len(acts) != 0 {
			t.Errorf("user.email_changed recorded %d times by an old link", len(acts))
		}
	})
}

// A change of address needs the current password, and a password reset
// voids a change link mailed before it (a stolen access token cannot move
// the account to another mailbox).
func TestRecoveryEmailChangeNeedsPassword(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		u := e.user(t, "ada@example.com", testPassword, verified)
		ctx := e.as(t, actor.User(u.ID, actor.PlatformNone))
		err := e.r.RequestEmailChange(ctx, "evil@example.com", "not the password at all")
		var ve *validation.Error
		if !errors.As(err, &ve) || ve.Field != "currentPassword" || !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("wrong current password: %v, want ErrWrongPassword on currentPassword", err)
		}
		if got := e.userRow(t, u.ID); got.FailedLogins != 1 {
			t.Errorf("failed logins %d after a wrong current password, want 1", got.FailedLogins)
		}
		e.none(t, "wrong current password")
		if err := e.r.RequestEmailChange(ctx, "evil@example.com", testPassword); err != nil {
			t.Fatalf("RequestEmailChange: %v", err)
		}
		change := e.one(t, "email_change", "evil@example.com", VerifyPath)
		reset := e.resetToken(t, u.Email)
		if err := e.r.ConfirmPasswordReset(context.Background(), reset, newPassword); err != nil {
			t.Fatalf("ConfirmPasswordReset: %v", err)
		}
		if _, err := e.r.VerifyEmail(context.Background(), change); !errors.Is(err, ErrTokenUsed) {
			t.Errorf("change link after a reset: %v, want ErrTokenUsed", err)
		}
		if got := e.userRow(t, u.ID); got.Email != "ada@example.com" {
			t.Errorf("email %s after the voided change, want ada@example.com", got.Email)
		}
	})
}

// --- signup ----------------------------------------------------------------

// Signup is off unless switched on.
func TestRecoverySignupDisabled(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		noGates, err := NewRecovery(e.m, RecoveryConfig{Mail: e.courier})
		if err != nil {
			t.Fatal(err)
		}
		in := SignupInput{Email: "new@example.com", Password: newPassword}
		wantDisabled(t, "Signup (default gates)", e.r.Signup(context.Background(), in), features.Signup)
		wantDisabled(t, "Signup (no gates)", noGates.Signup(context.Background(), in), features.Signup)
		if n := e.c.User.Query().CountX(sys()); n != 0 {
			t.Errorf("%d users after a refused signup, want 0", n)
		}
		e.none(t, "a refused signup")
		if n := e.tokenRows(t); n != 0 {
			t.Errorf("%d cf_user_tokens rows, want 0", n)
		}
	})
}

// Signup creates an active, unverified user and mails a verification
// link; for a known address it does nothing and answers the same.
func TestRecoverySignup(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, map[features.Flow]bool{features.Signup: true})
		if err := e.r.Signup(context.Background(), SignupInput{Email: " New@Example.com ", Password: newPassword, Name: "  Nia New "}); err != nil {
			t.Fatalf("Signup: %v", err)
		}
		u, err := e.c.User.Query().Where(user.Email("new@example.com")).Only(sys())
		if err != nil {
			t.Fatalf("the signed-up user: %v", err)
		}
		if u.Status != user.StatusActive || u.EmailVerified || u.EmailVerifiedAt != nil || u.DisplayName != "Nia New" ||
			!u.PasswordHash.Verify(newPassword) || u.PlatformRole != user.PlatformRoleNone {
			t.Errorf("user status %s verified %t display %q platform %s (password verifies: %t); want active, unverified, Nia New, none",
				u.Status, u.EmailVerified, u.DisplayName, u.PlatformRole, u.PasswordHash.Verify(newPassword))
		}
		if acts := e.activities(t, "user.signed_up", u.ID); len(acts) != 1 || acts[0].ActorUserID == nil || *acts[0].ActorUserID != u.ID {
			t.Errorf("user.signed_up = %+v, want one by the new user", acts)
		}
		tok := e.one(t, "email_verification", "new@example.com", VerifyPath)
		if _, err := e.loginWith("new@example.com", newPassword); err != nil {
			t.Errorf("Login after signup: %v", err)
		}
		if got, err := e.r.VerifyEmail(context.Background(), tok); err != nil || !got.EmailVerified {
			t.Fatalf("VerifyEmail of the signup link: %v", err)
		}

		users := e.c.User.Query().CountX(sys())
		rows := e.tokenRows(t)
		for _, tt := range []struct {
			name string
			in   SignupInput
			want string // "same", "invalid"
		}{
			{"a known address", SignupInput{Email: "new@example.com", Password: otherNewPassword}, "same"},
			{"a known address, other case", SignupInput{Email: "NEW@example.com", Password: otherNewPassword, Name: "Mallory"}, "same"},
			{"a weak password", SignupInput{Email: "weak@example.com", Password: weakPassword}, "invalid"},
			{"a password of the address", SignupInput{Email: "someone.special@example.com", Password: "someone.special-2024"}, "invalid"},
			{"no password", SignupInput{Email: "nopw@example.com"}, "invalid"},
			{"a malformed address", SignupInput{Email: "new-at-example.com", Password: newPassword}, "invalid"},
			{"a long name", SignupInput{Email: "long@example.com", Password: newPassword, Name: strings.Repeat("n", 201)}, "invalid"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				err := e.r.Signup(context.Background(), tt.in)
				if tt.want == "same" {
					if err != nil {
						t.Fatalf("Signup: %v, want nil", err)
					}
				} else {
					_ = wantValidation(t, "Signup", err)
				}
				e.none(t, tt.name)
				if n := e.c.User.Query().CountX(sys()); n != users {
					t.Errorf("%d users, want %d", n, users)
				}
				if n := e.tokenRows(t); n != rows {
					t.Errorf("cf_user_tokens rows %d, want %d", n, rows)
				}
				if got := e.userRow(t, u.ID); !got.PasswordHash.Verify(newPassword) || got.DisplayName != "Nia New" {
					t.Errorf("a repeated signup changed the existing user")
				}
			})
		}
	})
}

// 50 signups of one address at once: one user, one mail, every answer nil.
func TestRecoveryConcurrentSignup(t *testing.T) {
	e := newRecoveryEnv(t, postgres(t), map[features.Flow]bool{features.Signup: true}, func(c *Config) { c.HashConcurrency = 8 })
	errs := race(parallel, func(int) error {
		return e.r.Signup(context.Background(), SignupInput{Email: "new@example.com", Password: newPassword})
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("signup %d: %v, want nil", i, err)
		}
	}
	if n := e.c.User.Query().Where(user.Email("new@example.com")).CountX(sys()); n != 1 {
		t.Errorf("%d users, want 1", n)
	}
	e.one(t, "email_verification", "new@example.com", VerifyPath)
	if n := len(e.activities(t, "user.signed_up", "")); n != 1 {
		t.Errorf("%d user.signed_up, want 1", n)
	}
}

// Called in a transaction of the caller (the request transaction of the
// GraphQL server, ent.OpenTx), the signed-in flows write in it: their mail
// goes at its commit, and a rollback leaves no token, activity or mail.
func TestRecoveryJoinsRequestTransaction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newRecoveryEnv(t, db, nil)
		for i, tt := range []struct {
			name, kind, verb string
			run              func(ctx context.Context) error
		}{
			{"verification", "email_verification", "user.email_verification_requested", func(ctx context.Context) error { return e.r.RequestEmailVerification(ctx) }},
			{"change", "email_change", "user.email_change_requested", func(ctx context.Context) error {
				return e.r.RequestEmailChange(ctx, "changed@example.com", testPassword)
			}},
		} {
			for _, commit := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s, commit %t", tt.name, commit), func(t *testing.T) {
					u := e.user(t, fmt.Sprintf("u%d%t@example.com", i, commit), testPassword)
					txCtx, tx, err := e.c.OpenTx(e.as(t, actor.User(u.ID, actor.PlatformNone)))
					if err != nil {
						t.Fatal(err)
					}
					rows := e.tokenRows(t)
					err = tt.run(txCtx)
					if err != nil {
						_ = tx.Rollback()
						t.Fatalf("in a transaction: %v", err)
					}
					e.none(t, "before the commit")
					if commit {
						if err := tx.Commit(); err != nil {
							t.Fatal(err)
						}
						to := u.Email
						if tt.kind == "email_change" {
							to = "changed@example.com"
						}
						e.one(t, tt.kind, to, VerifyPath)
						if n := e.tokenRows(t); n != rows+1 {
							t.Errorf("cf_user_tokens rows %d, want %d", n, rows+1)
						}
						return
					}
					if err := tx.Rollback(); err != nil {
						t.Fatal(err)
					}
					e.none(t, "after a rollback")
					if n := e.tokenRows(t); n != rows {
						t.Errorf("cf_user_tokens rows %d after a rollback, want %d", n, rows)
					}
					if n := len(e.activities(t, tt.verb, u.ID)); n != 0 {
						t.Errorf("%d %s after a rollback, want 0", n, tt.verb)
					}
				})
			}
		}
	})
}
