package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/ent/usertoken"
	"github.com/cf/identity/features"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/internal/txn"
	"github.com/cf/identity/mail"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/validation"
)

// Kinds of the mailed tokens (secret.NewToken).
const (
	resetKind  = "cfrst"
	verifyKind = "cfvrf"
)

// Defaults of RecoveryConfig.
const (
	DefaultResetTTL  = 30 * time.Minute
	DefaultVerifyTTL = 24 * time.Hour
)

// Paths of the links mailed by Recovery, below the public URL; the page
// there posts the token to /auth/password-reset/confirm or
// /auth/verify-email.
const (
	ResetPath  = "/password-reset"
	VerifyPath = "/verify-email"
)

// ErrInvalidToken is returned for a mailed token (a password reset or an
// email verification) that is malformed or unknown. ErrTokenUsed and
// ErrTokenExpired match it too.
var ErrInvalidToken = errors.New("session: unknown or malformed token")

// Refusals of a mailed token that was issued. Each matches ErrInvalidToken.
var (
	// ErrTokenUsed: the token was used before (tokens are single-use), or
	// a newer token or a change of the address replaced it.
	ErrTokenUsed error = mailedTokenError("this link was used already; ask for a new one")
	// ErrTokenExpired: the token passed its expiry.
	ErrTokenExpired error = mailedTokenError("this link expired; ask for a new one")
)

type mailedTokenError string

func (e mailedTokenError) Error() string        { return "session: " + string(e) }
func (e mailedTokenError) Is(target error) bool { return target == ErrInvalidToken }

// ErrEmailTaken is returned by RequestEmailChange and VerifyEmail when
// another user has the address. GraphQL answers CONFLICT.
var ErrEmailTaken = errors.New("session: another account uses this email address")

// ErrEmailUnchanged is returned by RequestEmailChange for the current
// address.
var ErrEmailUnchanged = errors.New("session: this is your current email address")

// RecoveryConfig configures a Recovery.
type RecoveryConfig struct {
	// Mail sends the links; required.
	Mail *mail.Courier
	// Gates switch signup and password reset on and off; nil has the
	// defaults of package features (signup off).
	Gates *features.Gates
	// ResetTTL is how long a password-reset link works; VerifyTTL how
	// long a verification link does.
	ResetTTL, VerifyTTL time.Duration
}

// Recovery runs the flows that mail a single-use link: password reset,
// verification of a user's email address and change of it, and
// self-signup. Each link carries a token of 256 random bits, stored as a
// SHA-256 digest only (cf_user_tokens), usable once. The mail goes after
// the flow's transaction commits (package mail's outbox); a failed send
// never undoes the flow.
type Recovery struct {
	m     *Manager
	mail  *mail.Courier
	gates *features.Gates
	cfg   RecoveryConfig
}

// NewRecovery returns the mailed-link flows of m.
func NewRecovery(m *Manager, cfg RecoveryConfig) (*Recovery, error) {
	if cfg.Mail == nil {
		return nil, fmt.Errorf("%w: recovery needs a mail courier", ErrConfig)
	}
	if cfg.ResetTTL == 0 {
		cfg.ResetTTL = DefaultResetTTL
	}
	if cfg.VerifyTTL == 0 {
		cfg.VerifyTTL = DefaultVerifyTTL
	}
	if cfg.ResetTTL < time.Minute || cfg.ResetTTL > 24*time.Hour {
		return nil, fmt.Errorf("%w: password-reset link lifetime %s: want between 1m and 24h", ErrConfig, cfg.ResetTTL)
	}
	if cfg.VerifyTTL < time.Minute || cfg.VerifyTTL > 30*24*time.Hour {
		return nil, fmt.Errorf("%w: verification link lifetime %s: want between 1m and 30 days", ErrConfig, cfg.VerifyTTL)
	}
	return &Recovery{m: m, mail: cfg.Mail, gates: cfg.Gates, cfg: cfg}, nil
}

// Gates returns the flow switches of r.
func (r *Recovery) Gates() *features.Gates { return r.gates }

// HashPassword checks pw against the password rules of the Manager (with
// the user's own words: email, names) and returns its argon2id hash. A
// refusal is a *password.RuleError, also a *validation.Error for field.
func (m *Manager) HashPassword(ctx context.Context, field, pw string, personal ...string) (secret.PasswordHash, error) {
	return m.hash(ctx, field, pw, personal...)
}

// issue stores a new token of purpose for user u (in c) and returns it.
func (r *Recovery) issue(ctx context.Context, c *ent.Client, u *ent.User, purpose usertoken.Purpose, email string, ttl time.Duration) (string, time.Time, error) {
	kind := resetKind
	if purpose == usertoken.PurposeEmailVerification {
		kind = verifyKind
	}
	tok, _, err := secret.NewToken(kind)
	if err != nil {
		return "", time.Time{}, err
	}
	exp := r.m.now().Add(ttl)
	err = c.UserToken.Create().SetUserID(u.ID).SetPurpose(purpose).SetEmail(email).
		SetTokenDigest(secret.DigestOf(tok)).SetExpiresAt(exp).Exec(trail.Domain(system(ctx)))
	return tok, exp, err
}

// RequestPasswordReset mails a password-reset link to email when it is the
// address of a user, and does nothing otherwise: the answer (nil) is the
// same, so that it tells a stranger nothing. A malformed email is a
// *validation.Error; a switched-off flow a *features.DisabledError.
func (r *Recovery) RequestPasswordReset(ctx context.Context, email string) error {
	if err := r.gates.Check(ctx, features.PasswordReset); err != nil {
		return err
	}
	e, err := validation.NormalEmail(email)
	if err != nil {
		return err
	}
	sys := system(ctx)
	u, err := r.m.client.User.Query().Where(user.Email(e)).Only(sys)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.tooMany(ctx, u.ID, usertoken.PurposePasswordReset) {
		return nil
	}
	var tok string
	var exp time.Time
	_, err = withTx(ctx, r.m.client, func(c *ent.Client) (struct{}, error) {
		var err error
		if tok, exp, err = r.issue(ctx, c, u, usertoken.PurposePasswordReset, e, r.cfg.ResetTTL); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, trail.Record(sys, c, trail.Event{Verb: "user.password_reset_requested", ObjectType: "User", ObjectID: u.ID,
			Actor: actor.System("password reset")})
	})
	if err != nil {
		return err
	}
	txn.AfterCommit(ctx, func() {
		r.mail.Send(ctx, "password_reset", mail.Data{To: e, Name: nameOf(u), Link: r.mail.Link(ResetPath, tok), ExpiresAt: exp})
	})
	return nil
}

func nameOf(u *ent.User) string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return strings.TrimSpace(u.FirstName + " " + u.LastName)
}

// token finds the unused token of purpose with the digest of raw, locked
// for update in a transaction; it checks the shape, the use and the
// expiry.
func (r *Recovery) token(ctx context.Context, c *ent.Client, raw string, purpose usertoken.Purpose) (*ent.UserToken, error) {
	kind := resetKind
	if purpose == usertoken.PurposeEmailVerification {
		kind = verifyKind
	}
	if _, err := secret.SplitToken(kind, strings.TrimSpace(raw)); err != nil {
		return nil, ErrInvalidToken
	}
	t, err := c.UserToken.Query().
		Where(usertoken.TokenDigest(secret.DigestOf(strings.TrimSpace(raw))), usertoken.PurposeEQ(purpose), forUpdate).
		Only(system(ctx))
	switch {
	case ent.IsNotFound(err):
		return nil, ErrInvalidToken
	case err != nil:
		return nil, err
	case t.UsedAt != nil:
		return nil, ErrTokenUsed
	case !r.m.now().Before(t.ExpiresAt):
		return nil, ErrTokenExpired
	}
	return t, nil
}

// ConfirmPasswordReset consumes a password-reset token and sets the
// user's password to newPassword (under the password rules). It clears a
// sign-in lock, marks the address verified (the link proved it), revokes
// every session of the user and every other reset link, and records
// user.password_reset. A token used, expired, unknown or malformed is
// refused (ErrInvalidToken and its kin) and changes nothing.
func (r *Recovery) ConfirmPasswordReset(ctx context.Context, token, newPassword string) error {
	if err := r.gates.Check(ctx, features.PasswordReset); err != nil {
		return err
	}
	if newPassword == "" {
		return validation.Errorf("newPassword", "required")
	}
	// Check the token before spending a password hash on it.
	pre, err := r.token(ctx, r.m.client, token, usertoken.PurposePasswordReset)
	if err != nil {
		return err
	}
	u, err := r.m.client.User.Get(system(ctx), pre.UserID)
	if err != nil {
		if ent.IsNotFound(err) {
			return ErrInvalidToken
		}
		return err
	}
	h, err := r.m.hash(ctx, "newPassword", newPassword, u.Email, u.FirstName, u.LastName, u.DisplayName)
	if err != nil {
		return err
	}
	_, err = withTx(ctx, r.m.client, func(c *ent.Client) (struct{}, error) {
		t, err := r.token(ctx, c, token, usertoken.PurposePasswordReset)
		if err != nil {
			return struct{}{}, err
		}
		sys := trail.Domain(system(ctx))
		cur, err := c.User.Query().Where(user.ID(t.UserID), forUpdate).Only(sys)
		if err != nil {
			if ent.IsNotFound(err) {
				return struct{}{}, ErrInvalidToken
			}
			return struct{}{}, err
		}
		if cur.Email != t.Email {
			// The address changed since the link was sent.
			return struct{}{}, ErrTokenUsed
		}
		now := r.m.now()
		upd := c.User.UpdateOne(cur).SetPasswordHash(h).SetFailedLogins(0).ClearLockedUntil()
		if !cur.EmailVerified {
			upd.SetEmailVerified(true).SetEmailVerifiedAt(now)
		}
		if err := upd.Exec(sys); err != nil {
			return struct{}{}, err
		}
		// Every link mailed before (another reset, a pending change of
		// address) stops working: whoever requested them may have been
		// the reason for the reset.
		if err := c.UserToken.Update().
			Where(usertoken.UserID(cur.ID), usertoken.UsedAtIsNil()).
			SetUsedAt(now).Exec(sys); err != nil {
			return struct{}{}, err
		}
		who := actor.User(cur.ID, actor.PlatformNone)
		wctx := actor.NewContext(ctx, who)
		if err := r.m.revokeAllOf(wctx, c, cur.ID, "", "password_reset"); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, trail.Record(wctx, c, trail.Event{Verb: "user.password_reset", ObjectType: "User", ObjectID: cur.ID,
			Data: map[string]any{"unlocked": cur.LockedUntil != nil && now.Before(*cur.LockedUntil)}})
	})
	return err
}

// signedIn returns the user signed in on ctx (an access token, not an API
// key nor an impersonation), for the flows that act on one's own address.
func signedIn(ctx context.Context, doing string) (pulid.ID, error) {
	a := actor.FromContext(ctx)
	if a == nil || a.Kind() != actor.KindUser {
		return "", fmt.Errorf("%w: %s needs a signed-in user (an access token), not an API key", authz.ErrNotLoaded, doing)
	}
	if err := authz.Impersonated(ctx, doing); err != nil {
		return "", err
	}
	return a.UserID(), nil
}

// RequestEmailVerification mails the signed-in user of ctx a link that
// verifies their current address. It does nothing for an address verified
// already.
func (r *Recovery) RequestEmailVerification(ctx context.Context) error {
	uid, err := signedIn(ctx, "verifying the email address")
	if err != nil {
		return err
	}
	u, err := r.clientOf(ctx).User.Get(system(ctx), uid)
	if err != nil {
		return err
	}
	if u.EmailVerified || r.tooMany(ctx, u.ID, usertoken.PurposeEmailVerification) {
		return nil
	}
	return r.sendVerification(ctx, u, u.Email, "email_verification", "user.email_verification_requested")
}

// RequestEmailChange mails newEmail a link that, once followed, makes it
// the signed-in user's address (verified), after checking the user's
// current password (a wrong one counts as a failed sign-in and is
// ErrWrongPassword). Until then the current address stays. The answer is
// the same whether or not another account has newEmail: no link is sent
// then. At most MaxMailsPerHour links of a kind go to one user an hour.
func (r *Recovery) RequestEmailChange(ctx context.Context, newEmail, currentPassword string) error {
	uid, err := signedIn(ctx, "changing the email address")
	if err != nil {
		return err
	}
	if currentPassword == "" {
		return validation.Errorf("currentPassword", "required")
	}
	e, err := validation.NormalEmail(newEmail)
	if err != nil {
		return err
	}
	sys := system(ctx)
	u, err := r.clientOf(ctx).User.Get(sys, uid)
	if err != nil {
		return err
	}
	if e == u.Email {
		return validation.Wrap("email", ErrEmailUnchanged)
	}
	// A stolen access token alone must not move the account to another
	// mailbox: the current password is asked for, as for a new password.
	if err := r.m.checkCurrent(ctx, r.clientOf(ctx), u, currentPassword); err != nil {
		return err
	}
	if r.tooMany(ctx, u.ID, usertoken.PurposeEmailVerification) {
		return nil
	}
	// The answer does not tell whether another account has the address:
	// no link is sent then, and VerifyEmail refuses it anyway.
	taken, err := r.clientOf(ctx).User.Query().Where(user.Email(e)).Exist(sys)
	if err != nil || taken {
		return err
	}
	return r.sendVerification(ctx, u, e, "email_change", "user.email_change_requested")
}

// clientOf returns the client of ctx (ent.NewContext: the request
// transaction of the GraphQL server, which the signed-in flows join), or
// the Manager's.
func (r *Recovery) clientOf(ctx context.Context) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return r.m.client
}

func (r *Recovery) sendVerification(ctx context.Context, u *ent.User, to, kind, verb string) error {
	var tok string
	var exp time.Time
	_, err := withTx(ctx, r.clientOf(ctx), func(c *ent.Client) (struct{}, error) {
		var err error
		if tok, exp, err = r.issue(ctx, c, u, usertoken.PurposeEmailVerification, to, r.cfg.VerifyTTL); err != nil {
			return struct{}{}, err
		}
		data := map[string]any{}
		if to != u.Email {
			data["to"] = to
		}
		return struct{}{}, trail.Record(ctx, c, trail.Event{Verb: verb, ObjectType: "User", ObjectID: u.ID, Data: data})
	})
	if err != nil {
		return err
	}
	txn.AfterCommit(ctx, func() {
		r.mail.Send(ctx, kind, mail.Data{To: to, Name: nameOf(u), Link: r.mail.Link(VerifyPath, tok), ExpiresAt: exp})
	})
	return nil
}

// VerifyEmail consumes a verification token: the address it was sent to
// becomes the user's verified address (replacing the current one for a
// change of address). Other verification links of the user stop working,
// and after a change so do the password-reset links sent to the old
// address. Recorded as user.email_verified or user.email_changed.
func (r *Recovery) VerifyEmail(ctx context.Context, token string) (*ent.User, error) {
	return withTx(ctx, r.m.client, func(c *ent.Client) (*ent.User, error) {
		t, err := r.token(ctx, c, token, usertoken.PurposeEmailVerification)
		if err != nil {
			return nil, err
		}
		sys := trail.Domain(system(ctx))
		u, err := c.User.Query().Where(user.ID(t.UserID), forUpdate).Only(sys)
		if err != nil {
			if ent.IsNotFound(err) {
				return nil, ErrInvalidToken
			}
			return nil, err
		}
		now := r.m.now()
		wctx := actor.NewContext(ctx, actor.User(u.ID, actor.PlatformNone))
		upd := c.User.UpdateOne(u).SetEmailVerified(true).SetEmailVerifiedAt(now)
		ev := trail.Event{Verb: "user.email_verified", ObjectType: "User", ObjectID: u.ID}
		if t.Email != u.Email {
			taken, err := c.User.Query().Where(user.Email(t.Email), user.IDNEQ(u.ID)).Exist(sys)
			if err != nil {
				return nil, err
			}
			if taken {
				return nil, ErrEmailTaken
			}
			upd.SetEmail(t.Email)
			ev = trail.Event{Verb: "user.email_changed", ObjectType: "User", ObjectID: u.ID, Data: map[string]any{"from": u.Email, "to": t.Email}}
			if err := c.UserToken.Update().
				Where(usertoken.UserID(u.ID), usertoken.PurposeEQ(usertoken.PurposePasswordReset), usertoken.UsedAtIsNil()).
				SetUsedAt(now).Exec(sys); err != nil {
				return nil, err
			}
		}
		if err := upd.Exec(sys); err != nil {
			if t.Email != u.Email && ent.IsConstraintError(err) {
				// Another user took the address since the check above.
				return nil, ErrEmailTaken
			}
			return nil, err
		}
		if err := c.UserToken.Update().
			Where(usertoken.UserID(u.ID), usertoken.PurposeEQ(usertoken.PurposeEmailVerification), usertoken.UsedAtIsNil()).
			SetUsedAt(now).Exec(sys); err != nil {
			return nil, err
		}
		if err := trail.Record(wctx, c, ev); err != nil {
			return nil, err
		}
		return c.User.Get(sys, u.ID)
	})
}

// SignupInput is a self-signup.
type SignupInput struct {
	Email, Password string
	// Name is the display name; optional.
	Name string
}

// Signup creates an active user with an unverified address and mails it a
// verification link, when the signup flow is on (features.Signup, off by
// default). For an address that has an account it does nothing: the
// answer is the same (nil), so that it tells a stranger nothing. A
// malformed email or a password the rules refuse is a *validation.Error.
func (r *Recovery) Signup(ctx context.Context, in SignupInput) error {
	if err := r.gates.Check(ctx, features.Signup); err != nil {
		return err
	}
	e, err := validation.NormalEmail(in.Email)
	if err != nil {
		return err
	}
	name, err := CheckName(in.Name)
	if err != nil {
		return err
	}
	if in.Password == "" {
		return validation.Errorf("password", "required")
	}
	h, err := r.m.hash(ctx, "password", in.Password, e, name)
	if err != nil {
		return err
	}
	sys := system(ctx)
	var (
		u   *ent.User
		tok string
		exp time.Time
	)
	_, err = withTx(ctx, r.m.client, func(c *ent.Client) (struct{}, error) {
		exists, err := c.User.Query().Where(user.Email(e)).Exist(sys)
		if err != nil || exists {
			return struct{}{}, err
		}
		u, err = c.User.Create().SetEmail(e).SetDisplayName(name).SetPasswordHash(h).
			SetStatus(user.StatusActive).Save(trail.Domain(sys))
		if err != nil {
			return struct{}{}, err
		}
		wctx := actor.NewContext(ctx, actor.User(u.ID, actor.PlatformNone))
		if err := trail.Record(wctx, c, trail.Event{Verb: "user.signed_up", ObjectType: "User", ObjectID: u.ID}); err != nil {
			return struct{}{}, err
		}
		tok, exp, err = r.issue(ctx, c, u, usertoken.PurposeEmailVerification, e, r.cfg.VerifyTTL)
		return struct{}{}, err
	})
	if ent.IsConstraintError(err) {
		// Another signup of the address won the race: same answer.
		return nil
	}
	if err != nil || u == nil {
		return err
	}
	txn.AfterCommit(ctx, func() {
		r.mail.Send(ctx, "email_verification", mail.Data{To: e, Name: name, Link: r.mail.Link(VerifyPath, tok), ExpiresAt: exp})
	})
	return nil
}

// MaxMailsPerHour caps the links of one kind (password reset,
// verification) mailed to one user in an hour, whoever asks: further
// requests answer as usual and send nothing.
const MaxMailsPerHour = 5

// tooMany reports whether user uid got MaxMailsPerHour links of purpose in
// the last hour.
func (r *Recovery) tooMany(ctx context.Context, uid pulid.ID, purpose usertoken.Purpose) bool {
	n, err := r.clientOf(ctx).UserToken.Query().
		Where(usertoken.UserID(uid), usertoken.PurposeEQ(purpose), usertoken.CreatedAtGT(r.m.now().Add(-time.Hour))).
		Count(system(ctx))
	return err == nil && n >= MaxMailsPerHour
}

// checkCurrent checks the current password of u for a flow that needs it
// (a signed-in user asking to change its address). A wrong one counts as a
// failed sign-in (and may lock the account) and is ErrWrongPassword for
// field currentPassword; a locked account is a *LockedError.
func (m *Manager) checkCurrent(ctx context.Context, client *ent.Client, u *ent.User, current string) error {
	if u.LockedUntil != nil && m.now().Before(*u.LockedUntil) {
		return m.refuseLocked(ctx, u.ID, *u.LockedUntil)
	}
	var right bool
	if err := m.hashing(ctx, func() {
		if u.PasswordHash.IsZero() {
			secret.VerifyDummy(current, m.cfg.Argon2)
			return
		}
		right = u.PasswordHash.Verify(current)
	}); err != nil {
		return err
	}
	if right {
		return nil
	}
	sys := trail.Domain(system(ctx))
	_, err := withTx(ctx, client, func(c *ent.Client) (struct{}, error) {
		cur, err := c.User.Query().Where(user.ID(u.ID), forUpdate).Only(sys)
		if err != nil {
			return struct{}{}, err
		}
		if cur.LockedUntil != nil && m.now().Before(*cur.LockedUntil) {
			return struct{}{}, keep(m.lockedActivity(sys, c, cur.ID, *cur.LockedUntil))
		}
		if err := m.countFailure(sys, c, cur, m.now()); !errors.Is(err, ErrInvalidCredentials) {
			return struct{}{}, err
		}
		return struct{}{}, keep(validation.Wrap("currentPassword", ErrWrongPassword))
	})
	return err
}

// CheckName returns a display name given by a person (signup, an accepted
// invitation) trimmed, or a *validation.Error for field name: at most 200
// characters of valid UTF-8 without control characters.
func CheckName(s string) (string, error) {
	name := strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(name):
		return "", validation.Errorf("name", "not valid UTF-8")
	case utf8.RuneCountInString(name) > 200:
		return "", validation.Errorf("name", "at most 200 characters")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "", validation.Errorf("name", "no control characters")
	}
	return name, nil
}
