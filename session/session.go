// Package session signs people in and keeps them signed in: password
// sign-in with lockout, short-lived access tokens (JWTs signed with keys
// kept in the database), rotating refresh tokens with reuse detection, and
// the administration of sessions.
//
// A session is a row of cf_sessions and the family of its refresh tokens
// (cf_refresh_tokens). Every refresh consumes the presented token and issues
// its successor in one transaction; at any time a session has at most one
// refresh token that is neither used nor revoked. A token presented again
// after it was used revokes the whole session (session.reuse_detected),
// except within Config.Grace of its use when the same client (address and
// user agent) retries: that retry gets a new pair and the pair handed out
// before it stops working.
//
// Nothing here lives only in one process: failed-login counts, locks,
// rotation, revocation and the signing keys are rows, so several servers on
// one database behave as one.
//
// Every step records an activity in the same transaction (session.created,
// user.login_failed, user.locked, session.refreshed, session.reuse_detected,
// session.revoked, ...); no activity, log line or error holds a password or
// a token.
package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"entgo.io/ent/dialect/sql"

	"github.com/cf/identity/accesstoken"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/internal/txn"
	"github.com/cf/identity/password"
	"github.com/cf/identity/secret"
)

// Config configures a Manager. Start from DefaultConfig; zero durations are
// taken literally (Grace 0 switches the grace window off) and New refuses
// values that make no sense.
type Config struct {
	// Issuer and Audience go into the iss and aud claims of access tokens.
	Issuer, Audience string
	// AccessTTL is the lifetime of an access token.
	AccessTTL time.Duration
	// IdleTTL ends a session that is not refreshed for this long;
	// AbsoluteTTL ends it this long after sign-in however often it is
	// refreshed.
	IdleTTL, AbsoluteTTL time.Duration
	// Grace is how long after its use a refresh token may be presented
	// again by the same client without revoking the session; 0 disables.
	Grace time.Duration
	// MaxFailedLogins wrong passwords in a row lock the account for
	// LockBase, doubling with every further wrong password up to LockMax.
	MaxFailedLogins   int
	LockBase, LockMax time.Duration
	// Argon2 are the parameters of new password hashes; a sign-in with a
	// hash of other parameters rehashes the password.
	Argon2 secret.Argon2Params
	// Password are the rules of new passwords.
	Password password.Policy
	// HashConcurrency caps the password checks and hashes that run at
	// once in this process (each holds Argon2.Memory); further sign-ins
	// wait for a slot, up to their request's deadline.
	HashConcurrency int
	// ImpersonationTTL is how long an impersonation lasts when its caller
	// asks for no duration; MaxImpersonationTTL is the longest a caller
	// may ask for. An impersonation ends at its duration however often it
	// is refreshed.
	ImpersonationTTL, MaxImpersonationTTL time.Duration
	// MasterKey seals the private signing keys and the OAuth provider
	// tokens (at least 32 bytes): every new value is sealed with it.
	MasterKey []byte
	// PreviousMasterKeys open values sealed with older master keys (each
	// at least 32 bytes, none repeating another or MasterKey). They let a
	// master key be replaced: Reseal moves every value under MasterKey,
	// after which the previous keys can be dropped.
	PreviousMasterKeys [][]byte
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Defaults of DefaultConfig.
const (
	DefaultIssuer          = "cf-identity"
	DefaultAudience        = "cf-identity"
	DefaultAccessTTL       = 15 * time.Minute
	DefaultIdleTTL         = 7 * 24 * time.Hour
	DefaultAbsoluteTTL     = 30 * 24 * time.Hour
	DefaultGrace           = 10 * time.Second
	DefaultMaxFailedLogins = 10
	DefaultLockBase        = time.Minute
	DefaultLockMax         = time.Hour
	DefaultHashConcurrency = 4

	DefaultImpersonationTTL    = 30 * time.Minute
	DefaultMaxImpersonationTTL = time.Hour
)

// maxImpersonationCap is the longest MaxImpersonationTTL Config accepts.
const maxImpersonationCap = 12 * time.Hour

// maxAccessTTL is the longest access-token lifetime Config accepts.
const maxAccessTTL = 24 * time.Hour

// DefaultConfig returns the documented defaults, without a master key.
func DefaultConfig() Config {
	return Config{
		Issuer:          DefaultIssuer,
		Audience:        DefaultAudience,
		AccessTTL:       DefaultAccessTTL,
		IdleTTL:         DefaultIdleTTL,
		AbsoluteTTL:     DefaultAbsoluteTTL,
		Grace:           DefaultGrace,
		MaxFailedLogins: DefaultMaxFailedLogins,
		LockBase:        DefaultLockBase,
		LockMax:         DefaultLockMax,
		Argon2:          secret.DefaultArgon2,
		Password:        password.Default(),
		HashConcurrency: DefaultHashConcurrency,

		ImpersonationTTL:    DefaultImpersonationTTL,
		MaxImpersonationTTL: DefaultMaxImpersonationTTL,
	}
}

// ErrConfig is matched by the errors of New for an invalid Config.
var ErrConfig = errors.New("session: invalid configuration")

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Issuer == "" || c.Audience == "":
		return bad("issuer and audience must not be empty")
	case c.AccessTTL < 10*time.Second || c.AccessTTL > maxAccessTTL:
		return bad("access token lifetime %s: want between 10s and 24h", c.AccessTTL)
	case c.IdleTTL <= 0 || c.AbsoluteTTL <= 0:
		return bad("idle and absolute session lifetimes must be positive")
	case c.IdleTTL < c.AccessTTL:
		return bad("idle lifetime %s is shorter than the access-token lifetime %s", c.IdleTTL, c.AccessTTL)
	case c.IdleTTL > c.AbsoluteTTL:
		return bad("idle lifetime %s exceeds the absolute lifetime %s", c.IdleTTL, c.AbsoluteTTL)
	case c.Grace < 0 || c.Grace > 5*time.Minute:
		return bad("grace window %s: want between 0 (off) and 5m", c.Grace)
	case c.MaxFailedLogins < 1:
		return bad("max failed logins %d: want at least 1", c.MaxFailedLogins)
	case c.LockBase <= 0 || c.LockMax < c.LockBase:
		return bad("lock times: want 0 < base (%s) <= max (%s)", c.LockBase, c.LockMax)
	case c.HashConcurrency < 1:
		return bad("hash concurrency %d: want at least 1", c.HashConcurrency)
	case c.ImpersonationTTL < time.Minute || c.MaxImpersonationTTL < c.ImpersonationTTL:
		return bad("impersonation durations: want 1m <= default (%s) <= maximum (%s)", c.ImpersonationTTL, c.MaxImpersonationTTL)
	case c.MaxImpersonationTTL > maxImpersonationCap || c.MaxImpersonationTTL > c.AbsoluteTTL:
		return bad("maximum impersonation duration %s: want at most 12h and at most the absolute session lifetime %s", c.MaxImpersonationTTL, c.AbsoluteTTL)
	case len(c.MasterKey) < 32:
		return bad("the master key needs at least 32 bytes (IDENTITY_MASTER_KEY or IDENTITY_MASTER_KEY_FILE)")
	}
	for i, k := range c.PreviousMasterKeys {
		if len(k) < 32 {
			return bad("previous master key %d needs at least 32 bytes", i+1)
		}
	}
	if err := c.Argon2.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := c.Password.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// Manager runs the sign-in flows over one database. It is safe for
// concurrent use; its only in-process state is a cache of the public and
// signing keys, reloaded from the database.
type Manager struct {
	client   *ent.Client
	cfg      Config
	sealer   *secret.Sealer
	keys     *keyring
	verifier *accesstoken.Verifier
	slots    chan struct{} // one per password check or hash running
}

// hashing runs fn, a password check or hash, when one of the
// Config.HashConcurrency slots is free, or fails when ctx ends first.
func (m *Manager) hashing(ctx context.Context, fn func()) error {
	select {
	case m.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("session: waiting to check a password: %w", ctx.Err())
	}
	defer func() { <-m.slots }()
	fn()
	return nil
}

// New returns a Manager over client. It checks cfg, and opens (or, in an
// empty database, creates) the signing key; when neither the master key
// nor a previous master key opens the stored signing key, New fails with
// ErrMasterKey.
func New(ctx context.Context, client *ent.Client, cfg Config) (*Manager, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sealer, err := secret.NewSealer(cfg.MasterKey, cfg.PreviousMasterKeys...)
	if err != nil {
		return nil, fmt.Errorf("%w: master keys: %w", ErrConfig, err)
	}
	m := &Manager{client: client, cfg: cfg, sealer: sealer, slots: make(chan struct{}, cfg.HashConcurrency)}
	m.keys = newKeyring(m)
	m.verifier, err = accesstoken.NewVerifier(accesstoken.VerifierOptions{
		Issuer: cfg.Issuer, Audience: cfg.Audience, Keys: m.keys, Now: cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if _, err := m.keys.signer(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Config returns the configuration of m.
func (m *Manager) Config() Config { return m.cfg }

func (m *Manager) now() time.Time { return m.cfg.Now().UTC() }

// system returns ctx acting as the sign-in flows themselves: the reads and
// writes that happen before, or instead of, a signed-in user.
func system(ctx context.Context) context.Context {
	return actor.NewContext(ctx, actor.System("sign-in"))
}

// asUser returns ctx acting as user id (in tx), with its grants loaded.
func asUser(ctx context.Context, c *ent.Client, a *actor.Actor) (context.Context, error) {
	return authz.NewContext(ctx, c, a)
}

// withTx runs fn in a transaction; see txn.Run.
func withTx[T any](ctx context.Context, client *ent.Client, fn func(*ent.Client) (T, error)) (T, error) {
	return txn.Run(ctx, client, fn)
}

func keep(err error) error { return txn.Keep(err) }

func forUpdate(s *sql.Selector) { txn.ForUpdate(s) }
