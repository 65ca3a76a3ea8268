package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cf/identity/accesstoken"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/organization"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/validation"
)

// Client describes where a request comes from; it is stored with the
// session (device data) and its activities.
type Client struct {
	IP        string
	UserAgent string
}

// LoginInput is a password sign-in.
type LoginInput struct {
	Email    string
	Password string
	// OrganizationID makes the session active in one organization of the
	// user; empty means no active organization.
	OrganizationID pulid.ID
	Client         Client
}

// Tokens is what a sign-in or a refresh hands out. The refresh token is
// shown once: only its digest is stored.
type Tokens struct {
	AccessToken  string
	TokenType    string // "Bearer"
	ExpiresIn    int    // seconds until the access token expires
	RefreshToken string
	SessionID    pulid.ID
	Organization pulid.ID
	// RefreshExpiresAt is when the session ends unless refreshed before
	// (the idle lifetime, bounded by the absolute one).
	RefreshExpiresAt time.Time
}

// RefreshKind is the token kind prefix of refresh tokens ("cfr_...").
const RefreshKind = "cfr"

// Login signs a user in with email and password and opens a session.
//
// An unknown email and a wrong password both return ErrInvalidCredentials,
// after the same password-hashing work. A locked account returns a
// *LockedError without the password being checked. Only when the password
// is right does Login tell why an account may not sign in (*StateError:
// banned, suspended, ...), or that in.OrganizationID is not one of the
// user's (ErrNotMember).
//
// Wrong passwords are counted on the user's row, under a row lock: after
// Config.MaxFailedLogins of them in a row the account locks for LockBase,
// doubling with each further one up to LockMax; parallel guesses cannot
// pass the count. A success resets it. The hash is upgraded to
// Config.Argon2 when it was made with other parameters.
func (m *Manager) Login(ctx context.Context, in LoginInput) (*Tokens, error) {
	email := strings.ToLower(strings.TrimSpace(in.Email))
	switch {
	case email == "":
		return nil, validation.Errorf("email", "required")
	case in.Password == "":
		return nil, validation.Errorf("password", "required")
	case len(email) > 254 || len(in.Password) > 4096:
		return nil, ErrInvalidCredentials
	}
	if in.OrganizationID != "" && in.OrganizationID.Prefix() != "org" {
		return nil, validation.Errorf("organizationID", "want an organization ID (org_...)")
	}
	sys := trail.Domain(system(ctx))
	now := m.now()
	u, err := m.client.User.Query().Where(user.Email(email)).
		Select(user.FieldPasswordHash, user.FieldLockedUntil, user.FieldFailedLogins).
		Only(sys)
	switch {
	case ent.IsNotFound(err):
		if err := m.hashing(ctx, func() { secret.VerifyDummy(in.Password, m.cfg.Argon2) }); err != nil {
			return nil, err
		}
		return nil, m.recordFailure(ctx, "", "unknown_email", email)
	case err != nil:
		return nil, fmt.Errorf("session: looking up the user: %w", err)
	}
	if u.LockedUntil != nil && now.Before(*u.LockedUntil) {
		return nil, m.refuseLocked(ctx, u.ID, *u.LockedUntil)
	}
	// The hash work runs outside any transaction; its outcome is applied
	// below under the row lock, where the count decides.
	var right bool
	var rehash *secret.PasswordHash
	err = m.hashing(ctx, func() {
		if u.PasswordHash.IsZero() {
			secret.VerifyDummy(in.Password, m.cfg.Argon2)
			return
		}
		right = u.PasswordHash.Verify(in.Password)
		if right && u.PasswordHash.NeedsRehash(m.cfg.Argon2) {
			if h, err := secret.HashPasswordWith(in.Password, m.cfg.Argon2); err == nil {
				rehash = &h
			}
		}
	})
	if err != nil {
		return nil, err
	}
	// The signing key is read before the transaction: a reload of the
	// cached key needs a connection of its own.
	key, err := m.keys.signer(ctx)
	if err != nil {
		return nil, err
	}
	type result struct {
		tokens *Tokens
		uid    pulid.ID
	}
	r, err := withTx(ctx, m.client, func(c *ent.Client) (result, error) {
		cur, err := c.User.Query().Where(user.ID(u.ID), forUpdate).Only(sys)
		if err != nil {
			return result{}, err
		}
		now := m.now()
		if cur.LockedUntil != nil && now.Before(*cur.LockedUntil) {
			// Locked while this attempt hashed: its outcome is not told.
			return result{}, keep(m.lockedActivity(sys, c, cur.ID, *cur.LockedUntil))
		}
		if !right || !samePassword(cur.PasswordHash, u.PasswordHash) {
			return result{}, keep(m.countFailure(sys, c, cur, now))
		}
		if err := stateError(cur, now); err != nil {
			var se *StateError
			errors.As(err, &se) // stateError returns only *StateError
			if rerr := trail.Record(sys, c, trail.Event{Verb: "user.login_refused", ObjectType: "User", ObjectID: cur.ID,
				Data: map[string]any{"reason": se.Reason}}); rerr != nil {
				return result{}, rerr
			}
			return result{}, keep(err)
		}
		upd := c.User.UpdateOneID(cur.ID).SetFailedLogins(0).ClearLockedUntil().SetLastLoginAt(now)
		if rehash != nil {
			upd.SetPasswordHash(*rehash)
		}
		if err := upd.Exec(sys); err != nil {
			return result{}, err
		}
		if in.OrganizationID != "" {
			if err := activeMember(sys, c, cur.ID, in.OrganizationID); err != nil {
				return result{}, err
			}
		}
		t, err := m.open(ctx, c, key, cur, in.OrganizationID, in.Client, rehash != nil)
		return result{tokens: t, uid: cur.ID}, err
	})
	if err != nil {
		return nil, err
	}
	return r.tokens, nil
}

func samePassword(a, b secret.PasswordHash) bool {
	av, _ := a.Value()
	bv, _ := b.Value()
	return av == bv
}

// stateError returns why u may not sign in now, or nil.
func stateError(u *ent.User, now time.Time) error {
	if u.BannedAt != nil && (u.BanExpiresAt == nil || now.Before(*u.BanExpiresAt)) {
		e := &StateError{Reason: ReasonBanned}
		if u.BanExpiresAt != nil {
			e.Until = *u.BanExpiresAt
		}
		return e
	}
	switch u.Status {
	case user.StatusActive:
		return nil
	case user.StatusSuspended:
		return &StateError{Reason: ReasonSuspended}
	case user.StatusDisabled:
		return &StateError{Reason: ReasonDisabled}
	case user.StatusArchived:
		return &StateError{Reason: ReasonArchived}
	}
	return &StateError{Reason: ReasonPending}
}

// activeMember checks that user is an active member of an active org.
func activeMember(ctx context.Context, c *ent.Client, uid, org pulid.ID) error {
	ok, err := c.Membership.Query().Where(
		membership.UserID(uid), membership.OrganizationID(org), membership.StatusEQ(membership.StatusActive),
		membership.HasOrganizationWith(organization.DeletedAtIsNil(), organization.StatusEQ(organization.StatusActive)),
	).Exist(ctx)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("%w %s", ErrNotMember, org)
	}
	return nil
}

// countFailure counts a wrong password on u (locked by the caller) and
// locks the account when the count reaches the limit.
func (m *Manager) countFailure(ctx context.Context, c *ent.Client, u *ent.User, now time.Time) error {
	n := u.FailedLogins + 1
	upd := c.User.UpdateOneID(u.ID).AddFailedLogins(1)
	var until time.Time
	if n >= m.cfg.MaxFailedLogins {
		until = now.Add(m.lockFor(n))
		upd.SetLockedUntil(until)
	}
	if err := upd.Exec(ctx); err != nil {
		return err
	}
	if err := trail.Record(ctx, c, trail.Event{Verb: "user.login_failed", ObjectType: "User", ObjectID: u.ID,
		Data: map[string]any{"reason": "wrong_password", "failed_logins": n}}); err != nil {
		return err
	}
	if !until.IsZero() {
		if err := trail.Record(ctx, c, trail.Event{Verb: "user.locked", ObjectType: "User", ObjectID: u.ID,
			Data: map[string]any{"until": until.Format(time.RFC3339), "failed_logins": n}}); err != nil {
			return err
		}
	}
	return ErrInvalidCredentials
}

// lockFor is the lock time after the n-th wrong password in a row.
func (m *Manager) lockFor(n int) time.Duration {
	d := m.cfg.LockBase
	for i := m.cfg.MaxFailedLogins; i < n && d < m.cfg.LockMax; i++ {
		d *= 2
	}
	return min(d, m.cfg.LockMax)
}

func (m *Manager) lockedActivity(ctx context.Context, c *ent.Client, uid pulid.ID, until time.Time) error {
	if err := trail.Record(ctx, c, trail.Event{Verb: "user.login_failed", ObjectType: "User", ObjectID: uid,
		Data: map[string]any{"reason": "locked"}}); err != nil {
		return err
	}
	return &LockedError{Until: until}
}

func (m *Manager) refuseLocked(ctx context.Context, uid pulid.ID, until time.Time) error {
	err := m.lockedActivity(trail.Domain(system(ctx)), m.client, uid, until)
	var l *LockedError
	if errors.As(err, &l) {
		return l
	}
	return fmt.Errorf("session: recording a refused sign-in: %w", err)
}

// recordFailure records a failed sign-in without a user row and returns
// ErrInvalidCredentials.
func (m *Manager) recordFailure(ctx context.Context, uid pulid.ID, reason, email string) error {
	data := map[string]any{"reason": reason}
	if uid == "" {
		// Kept for the trail only when it looks like an address: a
		// password typed into the email field is not recorded.
		if validation.Email(email) == nil {
			data["email"] = email
		} else {
			data["email"] = "(not an email address)"
		}
	}
	if err := trail.Record(trail.Domain(system(ctx)), m.client, trail.Event{Verb: "user.login_failed", ObjectType: "User", ObjectID: uid, Data: data}); err != nil {
		return fmt.Errorf("session: recording a failed sign-in: %w", err)
	}
	return ErrInvalidCredentials
}

// open creates a session for u in c (a transaction) and hands out its
// first tokens.
func (m *Manager) open(ctx context.Context, c *ent.Client, key accesstoken.SigningKey, u *ent.User, org pulid.ID, cl Client, rehashed bool) (*Tokens, error) {
	uctx, err := asUser(trail.Domain(ctx), c, actor.User(u.ID, actor.PlatformRole(u.PlatformRole)))
	if err != nil {
		return nil, err
	}
	now := m.now()
	sc := c.Session.Create().
		SetUserID(u.ID).
		SetIP(truncate(cl.IP, 45)).SetUserAgent(truncate(cl.UserAgent, 512)).SetLastIP(truncate(cl.IP, 45)).
		SetLastUsedAt(now).
		SetIdleExpiresAt(now.Add(m.cfg.IdleTTL)).
		SetExpiresAt(now.Add(m.cfg.AbsoluteTTL))
	if org != "" {
		sc.SetOrganizationID(org)
	}
	s, err := sc.Save(uctx)
	if err != nil {
		return nil, err
	}
	refresh, err := m.issueRefresh(uctx, c, s, "", cl)
	if err != nil {
		return nil, err
	}
	data := map[string]any{"method": "password"}
	if rehashed {
		data["password_rehashed"] = true
	}
	if err := trail.Record(uctx, c, trail.Event{Verb: "session.created", ObjectType: "Session", ObjectID: s.ID, Organization: org, Data: data}); err != nil {
		return nil, err
	}
	return m.tokens(key, s, refresh)
}

// issueRefresh stores a new refresh token of s (continuing parent when set).
func (m *Manager) issueRefresh(ctx context.Context, c *ent.Client, s *ent.Session, parent pulid.ID, cl Client) (string, error) {
	token, _, err := secret.NewToken(RefreshKind)
	if err != nil {
		return "", err
	}
	q := c.RefreshToken.Create().
		SetUserID(s.UserID).
		SetFamilyID(s.ID).
		SetTokenHash(secret.DigestOf(token)).
		SetExpiresAt(minTime(m.now().Add(m.cfg.IdleTTL), s.ExpiresAt)).
		SetIP(truncate(cl.IP, 45)).SetUserAgent(truncate(cl.UserAgent, 512)).
		SetNillableOrganizationID(s.OrganizationID).
		SetNillableImpersonatorID(s.ImpersonatorID)
	if parent != "" {
		q.SetParentID(parent)
	}
	if err := q.Exec(ctx); err != nil {
		return "", err
	}
	return token, nil
}

// tokens signs an access token for session s and returns the pair.
func (m *Manager) tokens(key accesstoken.SigningKey, s *ent.Session, refresh string) (*Tokens, error) {
	return m.tokensUntil(key, s, refresh, time.Time{})
}

// tokensUntil is tokens with the access token expiring no later than
// notAfter (when not zero). An access token never outlives its session
// (an impersonation's end, in particular).
func (m *Manager) tokensUntil(key accesstoken.SigningKey, s *ent.Session, refresh string, notAfter time.Time) (*Tokens, error) {
	now := m.now()
	exp := minTime(now.Add(m.cfg.AccessTTL), s.ExpiresAt)
	if !notAfter.IsZero() && notAfter.Before(exp) {
		exp = notAfter
	}
	if !exp.After(now) {
		return nil, fmt.Errorf("%w: the access token has expired", ErrInvalidAccessToken)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return nil, fmt.Errorf("session: reading randomness: %w", err)
	}
	claims := accesstoken.Claims{
		Issuer:    m.cfg.Issuer,
		Audience:  []string{m.cfg.Audience},
		Subject:   s.UserID,
		SessionID: s.ID,
		IssuedAt:  now,
		Expiry:    exp,
		ID:        hex.EncodeToString(jti[:]),
	}
	if s.OrganizationID != nil {
		claims.Organization = *s.OrganizationID
	}
	if s.ImpersonatorID != nil {
		claims.Actor = &accesstoken.Actor{Subject: *s.ImpersonatorID}
	}
	at, err := accesstoken.Sign(key, claims)
	if err != nil {
		return nil, fmt.Errorf("session: signing the access token: %w", err)
	}
	t := &Tokens{
		AccessToken:      at,
		TokenType:        "Bearer",
		ExpiresIn:        int(exp.Sub(now) / time.Second),
		RefreshToken:     refresh,
		SessionID:        s.ID,
		RefreshExpiresAt: minTime(s.IdleExpiresAt, s.ExpiresAt),
	}
	if s.OrganizationID != nil {
		t.Organization = *s.OrganizationID
	}
	return t, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
