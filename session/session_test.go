package session

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cf/identity/accesstoken"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/refreshtoken"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/password"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/tenancy"
	"github.com/cf/identity/validation"
)

// Passwords of the tests. Sign-in never checks the rules (only new
// passwords are), so these only need to differ.
const (
	testPassword  = "correct-horse-battery-staple"
	wrongPassword = "incorrect-horse-battery-staple"
)

// Clients the tests sign in from.
var (
	laptop = Client{IP: "203.0.113.7", UserAgent: "session-test/1.0 (laptop)"}
	phone  = Client{IP: "198.51.100.23", UserAgent: "session-test/1.0 (phone)"}
)

func sys() context.Context { return actor.NewContext(context.Background(), actor.System("test")) }

// fakeClock is the Config.Now of the tests: it moves only when told to, in
// whole seconds, so that stored times compare exactly on both dialects.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Now().UTC().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a migrated database with a Manager over it.
type env struct {
	db    testdb.Target
	c     *ent.Client
	sql   *sql.DB
	m     *Manager
	clock *fakeClock
}

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// newEnv migrates db and opens a Manager with the defaults except
// secret.MinArgon2, a random master key and a fake clock; opts change the
// config further. After the test it asserts the refresh token invariant.
func newEnv(t testing.TB, db testdb.Target, opts ...func(*Config)) *env {
	t.Helper()
	c, sqlDB := testdb.Migrated(t, db)
	clock := newClock()
	cfg := DefaultConfig()
	cfg.Argon2 = secret.MinArgon2
	cfg.MasterKey = randomKey(t)
	cfg.Now = clock.Now
	for _, o := range opts {
		o(&cfg)
	}
	m, err := New(context.Background(), c, cfg)
	if err != nil {
		t.Fatalf("session.New: %v", err)
	}
	e := &env{db: db, c: c, sql: sqlDB, m: m, clock: clock}
	t.Cleanup(func() { assertTokenInvariant(t, sqlDB) })
	return e
}

// assertTokenInvariant fails t when a session has more than one refresh
// token that is neither used nor revoked, or a revoked session has one.
func assertTokenInvariant(t testing.TB, db *sql.DB) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `SELECT family_id, COUNT(*) FROM cf_refresh_tokens
		WHERE used_at IS NULL AND revoked_at IS NULL GROUP BY family_id HAVING COUNT(*) > 1`)
	if err != nil {
		t.Errorf("invariant query: %v", err)
		return
	}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Errorf("invariant scan: %v", err)
		}
		t.Errorf("invariant: session %s has %d live refresh tokens, want at most 1", id, n)
	}
	if err := rows.Err(); err != nil {
		t.Errorf("invariant rows: %v", err)
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT s.id, s.revoked_reason, t.id FROM cf_sessions s JOIN cf_refresh_tokens t ON t.family_id = s.id
		WHERE s.revoked_at IS NOT NULL AND t.used_at IS NULL AND t.revoked_at IS NULL`)
	if err != nil {
		t.Errorf("invariant query: %v", err)
		return
	}
	for rows.Next() {
		var sid, reason, tid string
		if err := rows.Scan(&sid, &reason, &tid); err != nil {
			t.Errorf("invariant scan: %v", err)
		}
		t.Errorf("invariant: session %s is revoked (%s) but its refresh token %s is live", sid, reason, tid)
	}
	if err := rows.Err(); err != nil {
		t.Errorf("invariant rows: %v", err)
	}
	rows.Close()
}

// liveTokens returns the refresh tokens of session sid that are neither
// used nor revoked.
func (e *env) liveTokens(t testing.TB, sid pulid.ID) []*ent.RefreshToken {
	t.Helper()
	return e.c.RefreshToken.Query().Where(refreshtoken.FamilyID(sid), refreshtoken.UsedAtIsNil(), refreshtoken.RevokedAtIsNil()).AllX(sys())
}

// user creates an active user with password pw ("" for none), hashed with
// the Manager's parameters.
func (e *env) user(t testing.TB, email, pw string, opts ...func(*ent.UserCreate)) *ent.User {
	t.Helper()
	q := e.c.User.Create().SetEmail(email).SetStatus(user.StatusActive)
	if pw != "" {
		h, err := secret.HashPasswordWith(pw, e.m.cfg.Argon2)
		if err != nil {
			t.Fatal(err)
		}
		q.SetPasswordHash(h)
	}
	for _, o := range opts {
		o(q)
	}
	// A user starts pending or active (the lifecycle graph); other
	// statuses are reached from active, as an admin would.
	status, _ := q.Mutation().Status()
	if status != user.StatusPending && status != user.StatusActive {
		q.SetStatus(user.StatusActive)
	}
	u, err := q.Save(sys())
	if err != nil {
		t.Fatalf("creating user %s: %v", email, err)
	}
	if status != user.StatusPending && status != user.StatusActive && status != "" {
		if u, err = e.c.User.UpdateOne(u).SetStatus(status).Save(sys()); err != nil {
			t.Fatalf("moving user %s to %s: %v", email, status, err)
		}
	}
	return u
}

func (e *env) userRow(t testing.TB, id pulid.ID) *ent.User {
	t.Helper()
	return e.c.User.GetX(sys(), id)
}

func (e *env) sessionRow(t testing.TB, id pulid.ID) *ent.Session {
	t.Helper()
	return e.c.Session.GetX(sys(), id)
}

// tokenRow returns the stored row of a refresh token.
func (e *env) tokenRow(t testing.TB, token string) *ent.RefreshToken {
	t.Helper()
	r, err := e.c.RefreshToken.Query().Where(refreshtoken.TokenHash(secret.DigestOf(token))).Only(sys())
	if err != nil {
		t.Fatalf("refresh token row: %v", err)
	}
	return r
}

func (e *env) sessionsOf(t testing.TB, uid pulid.ID) []*ent.Session {
	t.Helper()
	return e.c.Session.Query().Where(entsession.UserID(uid)).AllX(sys())
}

// activities returns the activities with verb about object (any object
// when empty), oldest first.
func (e *env) activities(t testing.TB, verb string, object pulid.ID) []*ent.Activity {
	t.Helper()
	q := e.c.Activity.Query().Where(activity.Verb(verb))
	if object != "" {
		q.Where(activity.ObjectID(string(object)))
	}
	return q.Order(ent.Asc(activity.FieldCreatedAt), ent.Asc(activity.FieldID)).AllX(sys())
}

// login signs email in with testPassword from cl and fails t otherwise.
func (e *env) login(t testing.TB, email string, cl Client) *Tokens {
	t.Helper()
	tok, err := e.m.Login(context.Background(), LoginInput{Email: email, Password: testPassword, Client: cl})
	if err != nil {
		t.Fatalf("Login(%s): %v", email, err)
	}
	return tok
}

// refresh refreshes token from cl and fails t otherwise.
func (e *env) refresh(t testing.TB, token string, cl Client) *Tokens {
	t.Helper()
	tok, err := e.m.Refresh(context.Background(), token, cl)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return tok
}

// as returns a context acting as a, with its grants loaded.
func (e *env) as(t testing.TB, a *actor.Actor) context.Context {
	t.Helper()
	ctx, err := authz.NewContext(context.Background(), e.c, a)
	if err != nil {
		t.Fatalf("authz.NewContext(%s): %v", a, err)
	}
	return ctx
}

// asToken returns a context acting as the session of an access token, as
// the GraphQL handler builds it.
func (e *env) asToken(t testing.TB, accessToken string) context.Context {
	t.Helper()
	a, err := e.m.Authenticate(context.Background(), accessToken)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	return e.as(t, a)
}

// org creates an organization owned by owner.
func (e *env) org(t testing.TB, owner *ent.User, slug string) *ent.Organization {
	t.Helper()
	o, err := tenancy.CreateOrganization(e.as(t, actor.User(owner.ID, actor.PlatformNone)), e.c, ent.CreateOrganizationInput{Name: slug, Slug: slug})
	if err != nil {
		t.Fatalf("CreateOrganization(%s): %v", slug, err)
	}
	return o
}

// join adds u to o with roles (the member role when none). The system
// adds the member: adding a user directly is a platform act, an owner
// invites; the owner argument only names who runs the organization.
func (e *env) join(t testing.TB, o *ent.Organization, _, u *ent.User, roles ...pulid.ID) {
	t.Helper()
	if _, err := tenancy.AddMember(sys(), e.c, tenancy.AddMemberInput{OrganizationID: o.ID, UserID: u.ID, RoleIDs: roles}); err != nil {
		t.Fatalf("AddMember(%s, %s): %v", o.Slug, u.Email, err)
	}
}

func wantIs(t testing.TB, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want one matching %q", what, err, target)
	}
}

func sameTime(a, b time.Time) bool { return a.Equal(b) }

func isPrivacyDeny(err error) bool { return errors.Is(err, privacy.Deny) }

var b64url = base64.RawURLEncoding

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newEd25519(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// flipBit returns the base64url segment seg with one bit of its decoded
// bytes flipped, re-encoded canonically.
func flipBit(t testing.TB, seg string) string {
	t.Helper()
	b, err := b64url.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	return b64url.EncodeToString(b)
}

// hs256 returns payload under an HS256 header keyed with the public key of
// k: the algorithm-confusion forgery.
func hs256(t testing.TB, k accesstoken.SigningKey, payload string) string {
	t.Helper()
	head := b64url.EncodeToString([]byte(`{"alg":"HS256","kid":"` + k.ID + `","typ":"at+jwt"}`))
	mac := hmac.New(sha256.New, k.Private.Public().(ed25519.PublicKey))
	mac.Write([]byte(head + "." + payload))
	return head + "." + payload + "." + b64url.EncodeToString(mac.Sum(nil))
}

// encodings returns b as the texts a dump might show it in: raw, hex
// (lower and upper case) and base64 (standard and URL, padded and not).
func encodings(b []byte) []string {
	return []string{
		string(b),
		hex.EncodeToString(b),
		strings.ToUpper(hex.EncodeToString(b)),
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
	}
}

func timePtrEq(p *time.Time, want time.Time) bool { return p != nil && p.Equal(want) }

// --- 1. Login ------------------------------------------------------------

// A sign-in hands out a Bearer access token of AccessTTL and a refresh
// token, writes the session with the client's address and user agent, its
// first refresh token (digest only), sets last_login_at, resets the failed
// logins and lock, and records session.created.
func TestLogin(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		now := e.clock.Now()
		u := e.user(t, "alice@example.com", testPassword, func(q *ent.UserCreate) {
			q.SetFailedLogins(3).SetLockedUntil(now.Add(-time.Minute))
		})
		tok, err := e.m.Login(context.Background(), LoginInput{Email: "  Alice@Example.COM ", Password: testPassword, Client: laptop})
		if err != nil {
			t.Fatalf("Login: %v", err)
		}
		cfg := e.m.Config()
		if tok.TokenType != "Bearer" || tok.ExpiresIn != int(cfg.AccessTTL/time.Second) || tok.Organization != "" {
			t.Errorf("tokens = type %q, expires in %d, organization %q; want Bearer, %d, none", tok.TokenType, tok.ExpiresIn, tok.Organization, int(cfg.AccessTTL/time.Second))
		}
		if _, err := secret.SplitToken(RefreshKind, tok.RefreshToken); err != nil {
			t.Errorf("refresh token is not a %s_ token: %v", RefreshKind, err)
		}
		if !accesstoken.LooksLikeJWT(tok.AccessToken) {
			t.Errorf("access token does not look like a JWT")
		}
		if tok.SessionID.Prefix() != "ses" {
			t.Errorf("session ID %q, want ses_...", tok.SessionID)
		}
		if !sameTime(tok.RefreshExpiresAt, now.Add(cfg.IdleTTL)) {
			t.Errorf("RefreshExpiresAt = %v, want now + IdleTTL = %v", tok.RefreshExpiresAt, now.Add(cfg.IdleTTL))
		}

		s := e.sessionRow(t, tok.SessionID)
		switch {
		case s.UserID != u.ID:
			t.Errorf("session user %s, want %s", s.UserID, u.ID)
		case s.IP != laptop.IP || s.LastIP != laptop.IP || s.UserAgent != laptop.UserAgent:
			t.Errorf("session ip %q last_ip %q user agent %q, want %q and %q", s.IP, s.LastIP, s.UserAgent, laptop.IP, laptop.UserAgent)
		case s.RevokedAt != nil || s.OrganizationID != nil || s.ImpersonatorID != nil:
			t.Errorf("session revoked_at %v organization %v impersonator %v, want none", s.RevokedAt, s.OrganizationID, s.ImpersonatorID)
		case !sameTime(s.LastUsedAt, now) || !sameTime(s.IdleExpiresAt, now.Add(cfg.IdleTTL)) || !sameTime(s.ExpiresAt, now.Add(cfg.AbsoluteTTL)):
			t.Errorf("session last used %v idle expiry %v expiry %v; want %v, +IdleTTL, +AbsoluteTTL", s.LastUsedAt, s.IdleExpiresAt, s.ExpiresAt, now)
		}
		rts := e.c.RefreshToken.Query().Where(refreshtoken.FamilyID(s.ID)).AllX(sys())
		if len(rts) != 1 {
			t.Fatalf("session has %d refresh tokens, want 1", len(rts))
		}
		rt := rts[0]
		if !rt.TokenHash.Matches(tok.RefreshToken) || rt.ParentID != nil || rt.UsedAt != nil || rt.RevokedAt != nil || rt.UserID != u.ID ||
			rt.IP != laptop.IP || rt.UserAgent != laptop.UserAgent || !sameTime(rt.ExpiresAt, now.Add(cfg.IdleTTL)) {
			t.Errorf("refresh token row = %+v", rt)
		}

		got := e.userRow(t, u.ID)
		if !timePtrEq(got.LastLoginAt, now) || got.FailedLogins != 0 || got.LockedUntil != nil {
			t.Errorf("user last_login_at %v failed_logins %d locked_until %v; want %v, 0, none", got.LastLoginAt, got.FailedLogins, got.LockedUntil, now)
		}

		acts := e.activities(t, "session.created", s.ID)
		if len(acts) != 1 {
			t.Fatalf("%d session.created activities, want 1", len(acts))
		}
		if a := acts[0]; a.ActorUserID == nil || *a.ActorUserID != u.ID || a.Data["method"] != "password" || a.Data["password_rehashed"] != nil {
			t.Errorf("session.created = actor %v data %v; want the user, method password, no rehash", a.ActorUserID, a.Data)
		}

		a, err := e.m.Authenticate(context.Background(), tok.AccessToken)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if a.UserID() != u.ID || a.SessionID() != s.ID || a.ActiveOrganization() != "" {
			t.Errorf("actor = %s (session %s, organization %q)", a, a.SessionID(), a.ActiveOrganization())
		}
	})
}

// An unknown email and a wrong password get the same error, and each
// records user.login_failed with its reason; no session is written.
func TestLoginInvalidCredentials(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		u := e.user(t, "bob@example.com", testPassword)
		tests := []struct {
			name, email, password, reason string
			object                        pulid.ID
		}{
			{"unknown email", "nobody@example.com", testPassword, "unknown_email", ""},
			{"wrong password", "bob@example.com", wrongPassword, "wrong_password", u.ID},
		}
		var messages []string
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := len(e.activities(t, "user.login_failed", ""))
				_, err := e.m.Login(context.Background(), LoginInput{Email: tt.email, Password: tt.password, Client: laptop})
				if !errors.Is(err, ErrInvalidCredentials) {
					t.Fatalf("Login: %v, want ErrInvalidCredentials itself", err)
				}
				messages = append(messages, err.Error())
				acts := e.activities(t, "user.login_failed", "")
				if len(acts) != before+1 {
					t.Fatalf("%d user.login_failed activities, want %d", len(acts), before+1)
				}
				a := acts[len(acts)-1]
				if a.Data["reason"] != tt.reason || a.ObjectID != string(tt.object) || a.ActorType != activity.ActorTypeSystem {
					t.Errorf("user.login_failed = object %q actor %s data %v; want object %q, system actor, reason %s", a.ObjectID, a.ActorType, a.Data, tt.object, tt.reason)
				}
			})
		}
		if len(messages) == 2 && messages[0] != messages[1] {
			t.Errorf("an unknown email says %q and a wrong password %q; want the same", messages[0], messages[1])
		}
		if n := e.c.Session.Query().CountX(sys()); n != 0 {
			t.Errorf("%d sessions written, want none", n)
		}
		if got := e.userRow(t, u.ID); got.FailedLogins != 1 || got.LastLoginAt != nil {
			t.Errorf("user failed_logins %d last_login_at %v; want 1 and none", got.FailedLogins, got.LastLoginAt)
		}
	})
}

// Every state in which an account may not sign in is told only after the
// password proved right (a wrong one is ErrInvalidCredentials), except a
// lock, which is told whatever the password and says nothing about it.
func TestLoginRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		now := e.clock.Now()
		ban := func(from time.Time, until *time.Time) func(*ent.UserCreate) {
			return func(q *ent.UserCreate) { q.SetBannedAt(from).SetNillableBanExpiresAt(until).SetBanReason("spam") }
		}
		status := func(s user.Status) func(*ent.UserCreate) { return func(q *ent.UserCreate) { q.SetStatus(s) } }
		lock := func(until time.Time) func(*ent.UserCreate) {
			return func(q *ent.UserCreate) { q.SetFailedLogins(10).SetLockedUntil(until) }
		}
		tomorrow, yesterday := now.Add(24*time.Hour), now.Add(-24*time.Hour)
		tests := []struct {
			name        string
			set         func(*ent.UserCreate)
			noPassword  bool
			try         string
			want        string // "ok", "invalid", "locked", or a StateError reason
			until       time.Time
			countsAFail bool
		}{
			{name: "banned until tomorrow", set: ban(now.Add(-time.Hour), &tomorrow), try: testPassword, want: ReasonBanned, until: tomorrow},
			{name: "banned, wrong password", set: ban(now.Add(-time.Hour), &tomorrow), try: wrongPassword, want: "invalid", countsAFail: true},
			{name: "banned for good", set: ban(now.Add(-time.Hour), nil), try: testPassword, want: ReasonBanned},
			{name: "ban expired", set: ban(now.Add(-48*time.Hour), &yesterday), try: testPassword, want: "ok"},
			{name: "suspended", set: status(user.StatusSuspended), try: testPassword, want: ReasonSuspended},
			{name: "disabled", set: status(user.StatusDisabled), try: testPassword, want: ReasonDisabled},
			{name: "archived", set: status(user.StatusArchived), try: testPassword, want: ReasonArchived},
			{name: "archived, wrong password", set: status(user.StatusArchived), try: wrongPassword, want: "invalid", countsAFail: true},
			{name: "pending with password", set: status(user.StatusPending), try: testPassword, want: ReasonPending},
			{name: "pending, wrong password", set: status(user.StatusPending), try: wrongPassword, want: "invalid", countsAFail: true},
			{name: "pending without password", set: status(user.StatusPending), noPassword: true, try: testPassword, want: "invalid", countsAFail: true},
			{name: "active without password", noPassword: true, try: testPassword, want: "invalid", countsAFail: true},
			{name: "locked, right password", set: lock(now.Add(10 * time.Minute)), try: testPassword, want: "locked", until: now.Add(10 * time.Minute)},
			{name: "locked, wrong password", set: lock(now.Add(10 * time.Minute)), try: wrongPassword, want: "locked", until: now.Add(10 * time.Minute)},
			{name: "lock expired", set: lock(now.Add(-time.Second)), try: testPassword, want: "ok"},
		}
		lockedMessages := map[string]bool{}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				pw := testPassword
				if tt.noPassword {
					pw = ""
				}
				var opts []func(*ent.UserCreate)
				if tt.set != nil {
					opts = append(opts, tt.set)
				}
				u := e.user(t, fmt.Sprintf("refused%02d@example.com", i), pw, opts...)
				_, err := e.m.Login(context.Background(), LoginInput{Email: u.Email, Password: tt.try, Client: laptop})
				after := e.userRow(t, u.ID)
				wantFails := u.FailedLogins
				if tt.countsAFail {
					wantFails++
				}
				sessions := len(e.sessionsOf(t, u.ID))
				switch tt.want {
				case "ok":
					if err != nil {
						t.Fatalf("Login: %v, want a session", err)
					}
					if sessions != 1 || after.FailedLogins != 0 || after.LockedUntil != nil {
						t.Errorf("%d sessions, failed_logins %d, locked_until %v; want 1, 0, none", sessions, after.FailedLogins, after.LockedUntil)
					}
					return
				case "invalid":
					if !errors.Is(err, ErrInvalidCredentials) {
						t.Fatalf("Login: %v, want ErrInvalidCredentials", err)
					}
				case "locked":
					var le *LockedError
					if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || errors.Is(err, ErrInvalidCredentials) {
						t.Fatalf("Login: %v, want a *LockedError only", err)
					}
					if !le.Until.Equal(tt.until) {
						t.Errorf("locked until %v, want %v", le.Until, tt.until)
					}
					if strings.Contains(strings.ToLower(err.Error()), "password") {
						t.Errorf("the lock error %q mentions the password", err)
					}
					lockedMessages[err.Error()] = true
					if n := len(e.activities(t, "user.login_failed", u.ID)); n != 1 {
						t.Errorf("%d user.login_failed activities, want 1 (reason locked)", n)
					}
				default:
					var se *StateError
					if !errors.As(err, &se) || !errors.Is(err, ErrCannotSignIn) {
						t.Fatalf("Login: %v, want a *StateError", err)
					}
					if se.Reason != tt.want || !se.Until.Equal(tt.until) {
						t.Errorf("StateError reason %q until %v, want %q until %v", se.Reason, se.Until, tt.want, tt.until)
					}
					acts := e.activities(t, "user.login_refused", u.ID)
					if len(acts) != 1 || acts[0].Data["reason"] != tt.want {
						t.Errorf("user.login_refused activities = %d (%v), want 1 with reason %s", len(acts), acts, tt.want)
					}
				}
				if sessions != 0 {
					t.Errorf("%d sessions written for a refused sign-in", sessions)
				}
				if after.FailedLogins != wantFails || after.LastLoginAt != nil {
					t.Errorf("failed_logins %d last_login_at %v, want %d and none", after.FailedLogins, after.LastLoginAt, wantFails)
				}
			})
		}
		if len(lockedMessages) != 1 {
			t.Errorf("a locked account answers %d different messages for a right and a wrong password, want 1: %v", len(lockedMessages), lockedMessages)
		}
	})
}

// Login with an organization makes the session active in it, for a
// member; a foreign or unknown organization is ErrNotMember and writes
// nothing.
func TestLoginOrganization(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		owner := e.user(t, "owner@example.com", testPassword)
		member := e.user(t, "member@example.com", testPassword)
		stranger := e.user(t, "stranger@example.com", testPassword)
		acme := e.org(t, owner, "acme")
		e.join(t, acme, owner, member)
		other := e.org(t, stranger, "other")

		tok, err := e.m.Login(context.Background(), LoginInput{Email: member.Email, Password: testPassword, OrganizationID: acme.ID, Client: laptop})
		if err != nil {
			t.Fatalf("Login into acme: %v", err)
		}
		if s := e.sessionRow(t, tok.SessionID); tok.Organization != acme.ID || s.OrganizationID == nil || *s.OrganizationID != acme.ID {
			t.Errorf("tokens organization %q, session organization %v; want %s", tok.Organization, s.OrganizationID, acme.ID)
		}
		a, err := e.m.Authenticate(context.Background(), tok.AccessToken)
		if err != nil || a.ActiveOrganization() != acme.ID {
			t.Fatalf("Authenticate = %v, %v; want the member active in acme", a, err)
		}

		for _, tt := range []struct {
			name string
			org  pulid.ID
		}{
			{"another user's organization", other.ID},
			{"an organization that does not exist", pulid.New("org")},
		} {
			t.Run(tt.name, func(t *testing.T) {
				before := len(e.sessionsOf(t, member.ID))
				lastLogin := e.userRow(t, member.ID).LastLoginAt
				e.clock.Advance(time.Second)
				_, err := e.m.Login(context.Background(), LoginInput{Email: member.Email, Password: testPassword, OrganizationID: tt.org, Client: laptop})
				wantIs(t, "Login", err, ErrNotMember)
				if n := len(e.sessionsOf(t, member.ID)); n != before {
					t.Errorf("%d sessions after a refused sign-in, want %d", n, before)
				}
				if got := e.userRow(t, member.ID).LastLoginAt; !timePtrEq(got, *lastLogin) {
					t.Errorf("last_login_at moved to %v on a refused sign-in", got)
				}
			})
		}
	})
}

// Malformed input is a *validation.Error naming the field.
func TestLoginMalformed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		e.user(t, "carol@example.com", testPassword)
		tests := []struct {
			name  string
			in    LoginInput
			field string
		}{
			{"empty email", LoginInput{Password: testPassword}, "email"},
			{"blank email", LoginInput{Email: " \t ", Password: testPassword}, "email"},
			{"empty password", LoginInput{Email: "carol@example.com"}, "password"},
			{"both empty", LoginInput{}, "email"},
			{"user ID for an organization", LoginInput{Email: "carol@example.com", Password: testPassword, OrganizationID: pulid.New("usr")}, "organizationID"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := e.m.Login(context.Background(), tt.in)
				var ve *validation.Error
				if !errors.As(err, &ve) || ve.Field != tt.field {
					t.Fatalf("Login: %v, want a *validation.Error for %s", err, tt.field)
				}
			})
		}
		// Oversized input is refused like a wrong password, unhashed.
		_, err := e.m.Login(context.Background(), LoginInput{Email: "carol@example.com", Password: strings.Repeat("x", 4097)})
		if !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("Login with a 4097-byte password: %v, want ErrInvalidCredentials", err)
		}
		if n := e.c.Session.Query().CountX(sys()); n != 0 {
			t.Errorf("%d sessions, want none", n)
		}
	})
}

// --- 2. Rehash -----------------------------------------------------------

// A sign-in with a hash of other parameters stores a hash of
// Config.Argon2, which still verifies, and records password_rehashed.
func TestLoginRehashes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		old := secret.Argon2Params{Memory: 19456, Time: 3, Threads: 1}
		h, err := secret.HashPasswordWith(testPassword, old)
		if err != nil {
			t.Fatal(err)
		}
		if !h.NeedsRehash(secret.MinArgon2) {
			t.Fatalf("a hash of %v does not need a rehash to %v; the test proves nothing", old, secret.MinArgon2)
		}
		u := e.user(t, "dave@example.com", "", func(q *ent.UserCreate) { q.SetPasswordHash(h) })
		tok := e.login(t, u.Email, laptop)
		got := e.userRow(t, u.ID).PasswordHash
		if got.NeedsRehash(secret.MinArgon2) {
			t.Errorf("after sign-in the hash still needs a rehash to %v", secret.MinArgon2)
		}
		if !got.Verify(testPassword) || got.Verify(wrongPassword) {
			t.Errorf("the new hash does not verify the password (or verifies a wrong one)")
		}
		acts := e.activities(t, "session.created", tok.SessionID)
		if len(acts) != 1 || acts[0].Data["password_rehashed"] != true {
			t.Errorf("session.created = %v, want data password_rehashed true", acts)
		}
		// The next sign-in has nothing to rehash.
		tok = e.login(t, u.Email, laptop)
		acts = e.activities(t, "session.created", tok.SessionID)
		if len(acts) != 1 || acts[0].Data["password_rehashed"] != nil {
			t.Errorf("second session.created = %v, want no password_rehashed", acts)
		}
	})
}

// --- 4. Rotation and expiry ----------------------------------------------

// A refresh consumes the token and issues a child of it with a new access
// token; the session's last use, address and idle expiry move.
func TestRefreshRotates(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		u := e.user(t, "erin@example.com", testPassword)
		first := e.login(t, u.Email, laptop)
		e.clock.Advance(time.Hour)
		now := e.clock.Now()
		moved := Client{IP: "192.0.2.99", UserAgent: laptop.UserAgent}
		next := e.refresh(t, first.RefreshToken, moved)
		if next.RefreshToken == first.RefreshToken || next.AccessToken == first.AccessToken || next.SessionID != first.SessionID {
			t.Fatalf("refresh returned the same tokens or another session")
		}
		if _, err := secret.SplitToken(RefreshKind, next.RefreshToken); err != nil || next.TokenType != "Bearer" {
			t.Errorf("new pair malformed: %v, type %q", err, next.TokenType)
		}
		old, cur := e.tokenRow(t, first.RefreshToken), e.tokenRow(t, next.RefreshToken)
		if !timePtrEq(old.UsedAt, now) || old.RevokedAt != nil {
			t.Errorf("old token used_at %v revoked_at %v, want %v and none", old.UsedAt, old.RevokedAt, now)
		}
		if cur.ParentID == nil || *cur.ParentID != old.ID || cur.FamilyID != first.SessionID || cur.UsedAt != nil || cur.RevokedAt != nil || cur.IP != moved.IP {
			t.Errorf("new token parent %v family %s used %v revoked %v ip %q; want parent %s, the session, live, %s", cur.ParentID, cur.FamilyID, cur.UsedAt, cur.RevokedAt, cur.IP, old.ID, moved.IP)
		}
		cfg := e.m.Config()
		s := e.sessionRow(t, first.SessionID)
		if !sameTime(s.LastUsedAt, now) || !sameTime(s.IdleExpiresAt, now.Add(cfg.IdleTTL)) || s.LastIP != moved.IP || s.IP != laptop.IP {
			t.Errorf("session last used %v idle expiry %v last ip %q ip %q; want %v, +IdleTTL, %s, %s", s.LastUsedAt, s.IdleExpiresAt, s.LastIP, s.IP, now, moved.IP, laptop.IP)
		}
		if !sameTime(next.RefreshExpiresAt, now.Add(cfg.IdleTTL)) {
			t.Errorf("RefreshExpiresAt %v, want %v", next.RefreshExpiresAt, now.Add(cfg.IdleTTL))
		}
		if acts := e.activities(t, "session.refreshed", s.ID); len(acts) != 1 || acts[0].Data["grace_retry"] != nil {
			t.Errorf("session.refreshed = %v, want one, no grace retry", acts)
		}
		if _, err := e.m.Authenticate(context.Background(), next.AccessToken); err != nil {
			t.Errorf("Authenticate of the new access token: %v", err)
		}
		if live := e.liveTokens(t, s.ID); len(live) != 1 || live[0].ID != cur.ID {
			t.Errorf("live tokens %v, want only the new one", live)
		}
	})
}

// A session not refreshed within IdleTTL ends: the refresh answers
// ErrSessionExpired and revokes it (reason expired).
func TestRefreshIdleExpiry(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db, func(c *Config) { c.IdleTTL, c.AbsoluteTTL = time.Hour, 24*time.Hour })
		u := e.user(t, "frank@example.com", testPassword)
		tok := e.login(t, u.Email, laptop)
		e.clock.Advance(59 * time.Minute)
		tok = e.refresh(t, tok.RefreshToken, laptop) // resets the idle clock
		e.clock.Advance(time.Hour)
		_, err := e.m.Refresh(context.Background(), tok.RefreshToken, laptop)
		if !errors.Is(err, ErrSessionExpired) || !errors.Is(err, ErrInvalidRefreshToken) {
			t.Fatalf("Refresh after IdleTTL: %v, want ErrSessionExpired", err)
		}
		s := e.sessionRow(t, tok.SessionID)
		if !timePtrEq(s.RevokedAt, e.clock.Now()) || s.RevokedReason != RevokedExpired {
			t.Errorf("session revoked_at %v reason %q, want now and %q", s.RevokedAt, s.RevokedReason, RevokedExpired)
		}
		if _, err := e.m.Refresh(context.Background(), tok.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
			t.Errorf("Refresh of the expired session again: %v, want ErrSessionRevoked", err)
		}
	})
}

// However often it is refreshed, a session ends AbsoluteTTL after sign-in;
// the idle expiry never passes the absolute one.
func TestRefreshAbsoluteExpiry(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db, func(c *Config) { c.IdleTTL, c.AbsoluteTTL = time.Hour, 3*time.Hour })
		u := e.user(t, "gina@example.com", testPassword)
		tok := e.login(t, u.Email, laptop)
		end := e.clock.Now().Add(3 * time.Hour)
		for range 3 { // at +50m, +100m, +150m
			e.clock.Advance(50 * time.Minute)
			tok = e.refresh(t, tok.RefreshToken, laptop)
			if tok.RefreshExpiresAt.After(end) {
				t.Errorf("RefreshExpiresAt %v passes the absolute end %v", tok.RefreshExpiresAt, end)
			}
		}
		if !sameTime(tok.RefreshExpiresAt, end) {
			t.Errorf("at +150m RefreshExpiresAt %v, want the absolute end %v", tok.RefreshExpiresAt, end)
		}
		if s := e.sessionRow(t, tok.SessionID); !sameTime(s.IdleExpiresAt, end) {
			t.Errorf("idle_expires_at %v, want capped at %v", s.IdleExpiresAt, end)
		}
		e.clock.Advance(30 * time.Minute) // +180m: the end
		_, err := e.m.Refresh(context.Background(), tok.RefreshToken, laptop)
		if !errors.Is(err, ErrSessionExpired) {
			t.Fatalf("Refresh at the absolute end: %v, want ErrSessionExpired", err)
		}
		if s := e.sessionRow(t, tok.SessionID); s.RevokedReason != RevokedExpired {
			t.Errorf("session revoked reason %q, want %q", s.RevokedReason, RevokedExpired)
		}
		if _, err := e.m.Authenticate(context.Background(), tok.AccessToken); !errors.Is(err, ErrInvalidAccessToken) {
			t.Errorf("Authenticate after the session ended: %v, want ErrInvalidAccessToken", err)
		}
	})
}

// Tokens that are not refresh tokens of this database are refused without
// touching anything.
func TestRefreshMalformed(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		unknown, _, _ := secret.NewToken(RefreshKind)
		apiKey, _, _ := secret.NewToken("cfk")
		for _, tt := range []struct{ name, token string }{
			{"garbage", "not a token"},
			{"unknown", unknown},
			{"API key", apiKey},
			{"truncated", unknown[:len(unknown)-1]},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := e.m.Refresh(context.Background(), tt.token, laptop)
				wantIs(t, "Refresh", err, ErrInvalidRefreshToken)
				if strings.Contains(err.Error(), tt.token) {
					t.Errorf("the error %q holds the token", err)
				}
				if err := e.m.Logout(context.Background(), tt.token); !errors.Is(err, ErrInvalidRefreshToken) {
					t.Errorf("Logout: %v, want ErrInvalidRefreshToken", err)
				}
			})
		}
		var ve *validation.Error
		if _, err := e.m.Refresh(context.Background(), "", laptop); !errors.As(err, &ve) || ve.Field != "refreshToken" {
			t.Errorf("Refresh(\"\"): %v, want a *validation.Error for refreshToken", err)
		}
	})
}

// A session active in an organization the user has left ends at its next
// refresh (ErrSessionRevoked, reason membership_ended).
func TestRefreshAfterLeavingOrganization(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		owner := e.user(t, "owner@example.com", testPassword)
		member := e.user(t, "member@example.com", testPassword)
		acme := e.org(t, owner, "acme")
		e.join(t, acme, owner, member)
		tok, err := e.m.Login(context.Background(), LoginInput{Email: member.Email, Password: testPassword, OrganizationID: acme.ID, Client: laptop})
		if err != nil {
			t.Fatal(err)
		}
		personal := e.login(t, member.Email, laptop)
		ms := e.c.Membership.Query().Where(membership.UserID(member.ID), membership.OrganizationID(acme.ID)).OnlyX(sys())
		if err := tenancy.RemoveMember(e.as(t, actor.User(owner.ID, actor.PlatformNone)), e.c, ms.ID); err != nil {
			t.Fatalf("RemoveMember: %v", err)
		}
		if _, err := e.m.Refresh(context.Background(), tok.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
			t.Fatalf("Refresh after leaving the organization: %v, want ErrSessionRevoked", err)
		}
		if s := e.sessionRow(t, tok.SessionID); s.RevokedAt == nil || s.RevokedReason != RevokedMembershipEnded {
			t.Errorf("session revoked_at %v reason %q, want %s", s.RevokedAt, s.RevokedReason, RevokedMembershipEnded)
		}
		// The session without an organization lives on.
		e.refresh(t, personal.RefreshToken, laptop)
	})
}

// --- 5. Reuse, one request at a time ---------------------------------------

// Without a grace window, presenting a used token revokes the session and
// every token of it, once.
func TestRefreshReuseNoGrace(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db, func(c *Config) { c.Grace = 0 })
		u := e.user(t, "hank@example.com", testPassword)
		t0 := e.login(t, u.Email, laptop)
		t1 := e.refresh(t, t0.RefreshToken, laptop)
		_, err := e.m.Refresh(context.Background(), t0.RefreshToken, laptop)
		if !errors.Is(err, ErrTokenReused) || !errors.Is(err, ErrInvalidRefreshToken) {
			t.Fatalf("second use of a token: %v, want ErrTokenReused", err)
		}
		s := e.sessionRow(t, t0.SessionID)
		if s.RevokedAt == nil || s.RevokedReason != RevokedReuse {
			t.Errorf("session revoked_at %v reason %q, want revoked for %s", s.RevokedAt, s.RevokedReason, RevokedReuse)
		}
		if r := e.tokenRow(t, t1.RefreshToken); r.RevokedAt == nil || r.RevokedReason != RevokedReuse {
			t.Errorf("the child token revoked_at %v reason %q, want revoked for reuse", r.RevokedAt, r.RevokedReason)
		}
		// The newest token no longer continues the session: the code says
		// the session is revoked (the reuse was the other token's).
		if _, err := e.m.Refresh(context.Background(), t1.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
			t.Errorf("Refresh with the newest token after the reuse: %v, want ErrSessionRevoked", err)
		}
		if _, err := e.m.Refresh(context.Background(), t0.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
			t.Errorf("the reused token a third time: %v, want ErrSessionRevoked", err)
		}
		if _, err := e.m.Authenticate(context.Background(), t1.AccessToken); !errors.Is(err, ErrInvalidAccessToken) {
			t.Errorf("Authenticate after the reuse: %v, want ErrInvalidAccessToken", err)
		}
		acts := e.activities(t, "session.reuse_detected", s.ID)
		if len(acts) != 1 || acts[0].ActorType != activity.ActorTypeSystem || acts[0].Data["user_id"] != string(u.ID) {
			t.Errorf("session.reuse_detected = %v, want one by the system naming the user", acts)
		}
	})
}

// With a grace window, the same client presenting a used token again
// within it gets a new pair, and the pair handed out before stops working;
// another client, a retry after the window, or a retry after the child was
// used is a reuse.
func TestRefreshReuseGrace(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db, func(c *Config) { c.Grace = 10 * time.Second })
		tests := []struct {
			name      string
			after     time.Duration
			from      Client
			useChild  bool
			wantRetry bool
		}{
			{name: "same client within the window", after: 5 * time.Second, from: laptop, wantRetry: true},
			{name: "same client at the end of the window", after: 10 * time.Second, from: laptop, wantRetry: true},
			{name: "same client right away", after: 0, from: laptop, wantRetry: true},
			{name: "another address", after: time.Second, from: Client{IP: "192.0.2.1", UserAgent: laptop.UserAgent}},
			{name: "another user agent", after: time.Second, from: Client{IP: laptop.IP, UserAgent: "evil/1.0"}},
			{name: "another client", after: time.Second, from: phone},
			{name: "after the window", after: 11 * time.Second, from: laptop},
			{name: "after the child was used", after: 2 * time.Second, from: laptop, useChild: true},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u := e.user(t, fmt.Sprintf("grace%02d@example.com", i), testPassword)
				t0 := e.login(t, u.Email, laptop)
				t1 := e.refresh(t, t0.RefreshToken, laptop)
				if tt.useChild {
					e.clock.Advance(time.Second)
					e.refresh(t, t1.RefreshToken, laptop)
				}
				e.clock.Advance(tt.after)
				t2, err := e.m.Refresh(context.Background(), t0.RefreshToken, tt.from)
				s := e.sessionRow(t, t0.SessionID)
				if !tt.wantRetry {
					if !errors.Is(err, ErrTokenReused) {
						t.Fatalf("retry: %v, want ErrTokenReused", err)
					}
					if s.RevokedReason != RevokedReuse || len(e.liveTokens(t, s.ID)) != 0 {
						t.Errorf("session revoked reason %q, %d live tokens; want %s, none", s.RevokedReason, len(e.liveTokens(t, s.ID)), RevokedReuse)
					}
					if n := len(e.activities(t, "session.reuse_detected", s.ID)); n != 1 {
						t.Errorf("%d session.reuse_detected, want 1", n)
					}
					return
				}
				if err != nil {
					t.Fatalf("retry within the window: %v", err)
				}
				if t2.RefreshToken == t1.RefreshToken || t2.AccessToken == t1.AccessToken {
					t.Fatalf("the retry got the same pair")
				}
				if s.RevokedAt != nil {
					t.Fatalf("the retry revoked the session (%s)", s.RevokedReason)
				}
				r1, r2 := e.tokenRow(t, t1.RefreshToken), e.tokenRow(t, t2.RefreshToken)
				if r1.RevokedAt == nil || r1.RevokedReason != RevokedSuperseded {
					t.Errorf("first child revoked_at %v reason %q, want %s", r1.RevokedAt, r1.RevokedReason, RevokedSuperseded)
				}
				if r2.ParentID == nil || *r2.ParentID != e.tokenRow(t, t0.RefreshToken).ID {
					t.Errorf("the retry's token has parent %v, want the presented token", r2.ParentID)
				}
				acts := e.activities(t, "session.refreshed", s.ID)
				if len(acts) != 2 || acts[1].Data["grace_retry"] != true {
					t.Errorf("session.refreshed = %v, want the second with grace_retry", acts)
				}
				// The superseded child presented later is a reuse.
				e.clock.Advance(time.Minute)
				if _, err := e.m.Refresh(context.Background(), t1.RefreshToken, laptop); !errors.Is(err, ErrTokenReused) {
					t.Fatalf("the superseded child: %v, want ErrTokenReused", err)
				}
				if s := e.sessionRow(t, s.ID); s.RevokedReason != RevokedReuse {
					t.Errorf("session revoked reason %q, want %s", s.RevokedReason, RevokedReuse)
				}
				if _, err := e.m.Refresh(context.Background(), t2.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
					t.Errorf("the retry's token after the reuse: %v, want ErrSessionRevoked", err)
				}
			})
		}
	})
}

// --- 7. Logout and revocation -------------------------------------------

// Logout revokes the session: its refresh token is refused and its access
// token stops authenticating at once.
func TestLogout(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		u := e.user(t, "ivy@example.com", testPassword)
		tok := e.login(t, u.Email, laptop)
		other := e.login(t, u.Email, phone)
		if err := e.m.Logout(context.Background(), tok.RefreshToken); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		s := e.sessionRow(t, tok.SessionID)
		if s.RevokedAt == nil || s.RevokedReason != RevokedLogout {
			t.Errorf("session revoked_at %v reason %q, want %s", s.RevokedAt, s.RevokedReason, RevokedLogout)
		}
		if _, err := e.m.Refresh(context.Background(), tok.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
			t.Errorf("Refresh after logout: %v, want ErrSessionRevoked", err)
		}
		if err := e.m.Logout(context.Background(), tok.RefreshToken); !errors.Is(err, ErrSessionRevoked) {
			t.Errorf("Logout again: %v, want ErrSessionRevoked", err)
		}
		if _, err := e.m.Authenticate(context.Background(), tok.AccessToken); !errors.Is(err, ErrInvalidAccessToken) {
			t.Errorf("Authenticate after logout: %v, want ErrInvalidAccessToken", err)
		}
		acts := e.activities(t, "session.revoked", s.ID)
		if len(acts) != 1 || acts[0].Data["reason"] != RevokedLogout || acts[0].ActorUserID == nil || *acts[0].ActorUserID != u.ID {
			t.Errorf("session.revoked = %v, want one by the user with reason logout", acts)
		}
		// The other session lives.
		if _, err := e.m.Authenticate(context.Background(), other.AccessToken); err != nil {
			t.Errorf("the other session's access token: %v", err)
		}
		e.refresh(t, other.RefreshToken, phone)
	})
}

// A user revokes their own session; an organization admin revokes a
// session active in their organization but cannot reach one active in
// another; a stranger cannot reach any. Access tokens stop at once.
func TestRevokeSession(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		owner := e.user(t, "owner@example.com", testPassword)
		admin := e.user(t, "admin@example.com", testPassword)
		member := e.user(t, "member@example.com", testPassword)
		stranger := e.user(t, "stranger@example.com", testPassword)
		acme := e.org(t, owner, "acme")
		e.join(t, acme, owner, admin, permission.AdminRoleID)
		e.join(t, acme, owner, member)
		globex := e.org(t, stranger, "globex")
		e.join(t, globex, stranger, member)

		signIn := func(org pulid.ID) *Tokens {
			t.Helper()
			tok, err := e.m.Login(context.Background(), LoginInput{Email: member.Email, Password: testPassword, OrganizationID: org, Client: laptop})
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			return tok
		}
		inAcme, inGlobex, personal, byAdmin := signIn(acme.ID), signIn(globex.ID), signIn(""), signIn(acme.ID)
		asAdmin := e.as(t, actor.User(admin.ID, actor.PlatformNone))

		tests := []struct {
			name    string
			ctx     context.Context
			tok     *Tokens
			allowed bool
		}{
			{"org admin, session in another organization", asAdmin, inGlobex, false},
			{"org admin, session without organization", asAdmin, personal, false},
			{"stranger", e.as(t, actor.User(stranger.ID, actor.PlatformNone)), inAcme, false},
			{"the user itself", e.asToken(t, inAcme.AccessToken), inAcme, true},
			{"org admin, session in their organization", asAdmin, byAdmin, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s, err := e.m.RevokeSession(tt.ctx, e.c, tt.tok.SessionID)
				_, authErr := e.m.Authenticate(context.Background(), tt.tok.AccessToken)
				if !tt.allowed {
					if !ent.IsNotFound(err) {
						t.Fatalf("RevokeSession: %v, want not found", err)
					}
					if authErr != nil {
						t.Errorf("the session stopped authenticating after a refused revocation: %v", authErr)
					}
					if s := e.sessionRow(t, tt.tok.SessionID); s.RevokedAt != nil {
						t.Errorf("a refused revocation revoked the session")
					}
					return
				}
				if err != nil {
					t.Fatalf("RevokeSession: %v", err)
				}
				if s.RevokedAt == nil || s.RevokedReason != RevokedByUser {
					t.Errorf("returned session revoked_at %v reason %q, want %s", s.RevokedAt, s.RevokedReason, RevokedByUser)
				}
				if !errors.Is(authErr, ErrInvalidAccessToken) {
					t.Errorf("Authenticate after revocation: %v, want ErrInvalidAccessToken", authErr)
				}
				if _, err := e.m.Refresh(context.Background(), tt.tok.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
					t.Errorf("Refresh after revocation: %v, want ErrSessionRevoked", err)
				}
				if acts := e.activities(t, "session.revoked", s.ID); len(acts) != 1 || acts[0].Data["reason"] != RevokedByUser {
					t.Errorf("session.revoked = %v, want one with reason %s", acts, RevokedByUser)
				}
				// Again: unchanged, no second activity.
				again, err := e.m.RevokeSession(tt.ctx, e.c, tt.tok.SessionID)
				if err != nil || !timePtrEq(again.RevokedAt, *s.RevokedAt) {
					t.Errorf("RevokeSession again = %v, %v; want the session unchanged", again, err)
				}
				if acts := e.activities(t, "session.revoked", s.ID); len(acts) != 1 {
					t.Errorf("%d session.revoked after revoking twice, want 1", len(acts))
				}
			})
		}
	})
}

// RevokeUserSessions revokes the sessions the actor may revoke: an
// organization admin those active in the organization, the user all.
func TestRevokeUserSessions(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		owner := e.user(t, "owner@example.com", testPassword)
		admin := e.user(t, "admin@example.com", testPassword)
		member := e.user(t, "member@example.com", testPassword)
		loner := e.user(t, "loner@example.com", testPassword)
		acme := e.org(t, owner, "acme")
		e.join(t, acme, owner, admin, permission.AdminRoleID)
		e.join(t, acme, owner, member)
		inAcme, err := e.m.Login(context.Background(), LoginInput{Email: member.Email, Password: testPassword, OrganizationID: acme.ID, Client: laptop})
		if err != nil {
			t.Fatal(err)
		}
		personal1, personal2 := e.login(t, member.Email, laptop), e.login(t, member.Email, phone)
		lonerTok := e.login(t, loner.Email, laptop)
		asAdmin := e.as(t, actor.User(admin.ID, actor.PlatformNone))

		n, err := e.m.RevokeUserSessions(asAdmin, e.c, member.ID)
		if err != nil || n != 1 {
			t.Fatalf("admin RevokeUserSessions = %d, %v; want 1 (the session in acme)", n, err)
		}
		if _, err := e.m.Authenticate(context.Background(), inAcme.AccessToken); !errors.Is(err, ErrInvalidAccessToken) {
			t.Errorf("the acme session after revocation: %v", err)
		}
		for _, tok := range []*Tokens{personal1, personal2} {
			if _, err := e.m.Authenticate(context.Background(), tok.AccessToken); err != nil {
				t.Errorf("a personal session stopped after the admin's revocation: %v", err)
			}
		}
		if _, err := e.m.RevokeUserSessions(asAdmin, e.c, loner.ID); !ent.IsNotFound(err) {
			t.Errorf("admin RevokeUserSessions of a user outside acme: %v, want not found", err)
		}
		if _, err := e.m.Authenticate(context.Background(), lonerTok.AccessToken); err != nil {
			t.Errorf("the loner's session after a refused revocation: %v", err)
		}

		self := e.asToken(t, personal1.AccessToken)
		if n, err := e.m.RevokeUserSessions(self, e.c, member.ID); err != nil || n != 2 {
			t.Fatalf("own RevokeUserSessions = %d, %v; want 2", n, err)
		}
		for _, tok := range []*Tokens{personal1, personal2} {
			if _, err := e.m.Authenticate(context.Background(), tok.AccessToken); !errors.Is(err, ErrInvalidAccessToken) {
				t.Errorf("Authenticate after RevokeUserSessions: %v, want ErrInvalidAccessToken", err)
			}
			if _, err := e.m.Refresh(context.Background(), tok.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
				t.Errorf("Refresh after RevokeUserSessions: %v, want ErrSessionRevoked", err)
			}
		}
		// Nothing left: 0, no error.
		if n, err := e.m.RevokeUserSessions(e.as(t, actor.User(member.ID, actor.PlatformNone)), e.c, member.ID); err != nil || n != 0 {
			t.Errorf("RevokeUserSessions with nothing left = %d, %v; want 0, nil", n, err)
		}
		if acts := e.activities(t, "session.revoked", ""); len(acts) != 3 {
			t.Errorf("%d session.revoked activities, want 3", len(acts))
		}
	})
}

// A session that switched organization is revoked with all its refresh
// tokens, also those issued before the switch (whose organization is the
// old one), by the user and by an admin of the new organization.
func TestRevokeSwitchedSession(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		owner := e.user(t, "owner@example.com", testPassword)
		admin := e.user(t, "admin@example.com", testPassword)
		member := e.user(t, "member@example.com", testPassword)
		acme := e.org(t, owner, "acme")
		e.join(t, acme, owner, admin, permission.AdminRoleID)
		e.join(t, acme, owner, member)
		for _, tt := range []struct {
			name string
			by   func(tok *Tokens) context.Context
		}{
			{"by the user", func(tok *Tokens) context.Context { return e.asToken(t, tok.AccessToken) }},
			{"by the organization admin", func(*Tokens) context.Context { return e.as(t, actor.User(admin.ID, actor.PlatformNone)) }},
		} {
			t.Run(tt.name, func(t *testing.T) {
				tok := e.login(t, member.Email, laptop) // no organization
				switched, err := e.m.SwitchOrganization(e.asToken(t, tok.AccessToken), acme.ID, time.Time{})
				if err != nil {
					t.Fatalf("SwitchOrganization: %v", err)
				}
				if switched.Organization != acme.ID || switched.RefreshToken != "" {
					t.Errorf("switched tokens organization %q refresh %q; want acme and no refresh token", switched.Organization, switched.RefreshToken)
				}
				if _, err := e.m.RevokeSession(tt.by(switched), e.c, tok.SessionID); err != nil {
					t.Fatalf("RevokeSession: %v", err)
				}
				if live := e.liveTokens(t, tok.SessionID); len(live) != 0 {
					t.Errorf("the revoked session keeps %d live refresh tokens (organization %v)", len(live), live[0].OrganizationID)
				}
				if _, err := e.m.Refresh(context.Background(), tok.RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
					t.Errorf("Refresh after revocation: %v, want ErrSessionRevoked", err)
				}
			})
		}
	})
}

// --- 8. Access tokens ----------------------------------------------------

// kidOf returns the kid header of a compact JWS.
func kidOf(t testing.TB, token string) string {
	t.Helper()
	h, _, _ := strings.Cut(token, ".")
	b, err := b64url.DecodeString(h)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var hdr struct {
		Kid string `json:"kid"`
	}
	if err := jsonUnmarshal(b, &hdr); err != nil {
		t.Fatalf("token header: %v", err)
	}
	return hdr.Kid
}

// offline returns a verifier over the Manager's JWKS, as another service
// builds it.
func (e *env) offline(t testing.TB) (*accesstoken.Verifier, []accesstoken.PublicKey) {
	t.Helper()
	raw, err := e.m.JWKS(context.Background())
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	keys, err := accesstoken.ParseJWKS(raw)
	if err != nil {
		t.Fatalf("ParseJWKS: %v", err)
	}
	cfg := e.m.Config()
	v, err := accesstoken.NewVerifier(accesstoken.VerifierOptions{Issuer: cfg.Issuer, Audience: cfg.Audience, Keys: accesstoken.StaticKeys(keys...), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return v, keys
}

func kids(keys []accesstoken.PublicKey) []string {
	var ks []string
	for _, k := range keys {
		ks = append(ks, k.ID)
	}
	return ks
}

// An access token verifies offline against the JWKS, with the session's
// claims.
func TestAccessTokenVerifiesOffline(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		owner := e.user(t, "owner@example.com", testPassword)
		acme := e.org(t, owner, "acme")
		tok, err := e.m.Login(context.Background(), LoginInput{Email: owner.Email, Password: testPassword, OrganizationID: acme.ID, Client: laptop})
		if err != nil {
			t.Fatal(err)
		}
		v, keys := e.offline(t)
		if len(keys) != 1 || keys[0].ID != kidOf(t, tok.AccessToken) {
			t.Fatalf("JWKS kids %v, token kid %s; want the one key", kids(keys), kidOf(t, tok.AccessToken))
		}
		c, err := v.Verify(context.Background(), tok.AccessToken)
		if err != nil {
			t.Fatalf("offline Verify: %v", err)
		}
		cfg := e.m.Config()
		now := e.clock.Now()
		if c.Subject != owner.ID || c.SessionID != tok.SessionID || c.Organization != acme.ID || c.Issuer != cfg.Issuer ||
			len(c.Audience) != 1 || c.Audience[0] != cfg.Audience || !c.IssuedAt.Equal(now) || !c.Expiry.Equal(now.Add(cfg.AccessTTL)) || c.Actor != nil || c.ID == "" {
			t.Errorf("claims = %+v", c)
		}
	})
}

// RotateKeys adds a key that signs from then on; the old one stays in the
// JWKS, verifying the tokens it signed, until its verify_until, and then
// leaves it. Another Manager on the same database follows.
func TestRotateKeys(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		u := e.user(t, "jane@example.com", testPassword)
		before := e.login(t, u.Email, laptop)
		oldKid := kidOf(t, before.AccessToken)
		other, err := New(context.Background(), e.c, e.m.Config()) // a second server
		if err != nil {
			t.Fatalf("second Manager: %v", err)
		}
		rotatedAt := e.clock.Now()
		newKid, err := e.m.RotateKeys(context.Background())
		if err != nil {
			t.Fatalf("RotateKeys: %v", err)
		}
		if newKid == oldKid || pulid.ID(newKid).Prefix() != "sgk" {
			t.Fatalf("RotateKeys = %q (old %q), want a new sgk_ kid", newKid, oldKid)
		}
		after := e.login(t, u.Email, laptop)
		if k := kidOf(t, after.AccessToken); k != newKid {
			t.Errorf("a token signed after rotation has kid %s, want %s", k, newKid)
		}
		// A server reloads the keys for an unknown kid at most every
		// reloadEvery; the second server loaded them in New.
		e.clock.Advance(reloadEvery)
		v, keys := e.offline(t)
		if ks := kids(keys); len(ks) != 2 {
			t.Errorf("JWKS after rotation = %v, want the old and the new key", ks)
		}
		for name, at := range map[string]string{"old": before.AccessToken, "new": after.AccessToken} {
			if _, err := v.Verify(context.Background(), at); err != nil {
				t.Errorf("offline Verify of the %s token: %v", name, err)
			}
			if _, err := e.m.Authenticate(context.Background(), at); err != nil {
				t.Errorf("Authenticate of the %s token: %v", name, err)
			}
			if _, err := other.Authenticate(context.Background(), at); err != nil {
				t.Errorf("the second server's Authenticate of the %s token: %v", name, err)
			}
		}
		// The second server signs with its cached key for up to
		// signerMaxAge, then with the new one.
		e.clock.Advance(signerMaxAge)
		tok, err := other.Login(context.Background(), LoginInput{Email: u.Email, Password: testPassword, Client: laptop})
		if err != nil {
			t.Fatal(err)
		}
		if k := kidOf(t, tok.AccessToken); k != newKid {
			t.Errorf("the second server signs with %s after %s, want %s", k, signerMaxAge, newKid)
		}

		cfg := e.m.Config()
		row := e.c.SigningKey.GetX(sys(), pulid.ID(oldKid))
		if row.VerifyUntil == nil {
			t.Fatalf("the old key has no verify_until")
		}
		// Every token the old key signed (a server may sign with it for
		// signerMaxAge after the rotation) expires before it stops verifying.
		if want := rotatedAt.Add(signerMaxAge + cfg.AccessTTL); row.VerifyUntil.Before(want) {
			t.Errorf("the old key verifies until %v, before the last token it may sign expires (%v)", row.VerifyUntil, want)
		}
		e.clock.Advance(row.VerifyUntil.Sub(e.clock.Now()))
		_, keys = e.offline(t)
		if ks := kids(keys); len(ks) != 1 || ks[0] != newKid {
			t.Errorf("JWKS at the old key's verify_until = %v, want only %s", ks, newKid)
		}
		if _, err := e.m.Authenticate(context.Background(), before.AccessToken); !errors.Is(err, ErrInvalidAccessToken) {
			t.Errorf("Authenticate of an old token after its key retired: %v, want ErrInvalidAccessToken", err)
		}
	})
}

// Forged, tampered and mis-addressed tokens are refused with
// ErrInvalidAccessToken, with the accesstoken reason where it is one, and
// the error never holds the token.
func TestAuthenticateRefuses(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		u := e.user(t, "kate@example.com", testPassword)
		other := e.user(t, "leo@example.com", testPassword)
		tok := e.login(t, u.Email, laptop)
		key, err := e.m.keys.signer(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(tok.AccessToken, ".")
		claims := func(edit func(*accesstoken.Claims)) accesstoken.Claims {
			now := e.clock.Now()
			c := accesstoken.Claims{Issuer: DefaultIssuer, Audience: []string{DefaultAudience}, Subject: u.ID, SessionID: tok.SessionID,
				IssuedAt: now, Expiry: now.Add(time.Minute), ID: "forged"}
			if edit != nil {
				edit(&c)
			}
			return c
		}
		sign := func(k accesstoken.SigningKey, c accesstoken.Claims) string {
			s, err := accesstoken.Sign(k, c)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			return s
		}
		foreign := accesstoken.SigningKey{ID: key.ID, Private: newEd25519(t)}
		tests := []struct {
			name   string
			token  string
			reason error // an accesstoken reason, or nil for a session refusal
		}{
			{"payload of another user, original signature", parts[0] + "." + b64url.EncodeToString(mustJSON(t, claims(func(c *accesstoken.Claims) { c.Subject = other.ID }))) + "." + parts[2], accesstoken.ErrSignature},
			{"signature bit flipped", parts[0] + "." + parts[1] + "." + flipBit(t, parts[2]), accesstoken.ErrSignature},
			{"signed by a foreign key with the same kid", sign(foreign, claims(nil)), accesstoken.ErrSignature},
			{"signed by a foreign key with an unknown kid", sign(accesstoken.SigningKey{ID: string(pulid.New("sgk")), Private: foreign.Private}, claims(nil)), accesstoken.ErrUnknownKey},
			{"alg none", b64url.EncodeToString([]byte(`{"alg":"none","kid":"`+key.ID+`","typ":"at+jwt"}`)) + "." + parts[1] + ".", accesstoken.ErrAlgorithm},
			{"alg HS256 keyed with the public key", hs256(t, key, parts[1]), accesstoken.ErrAlgorithm},
			{"expired", sign(key, claims(func(c *accesstoken.Claims) {
				c.IssuedAt, c.Expiry = c.IssuedAt.Add(-time.Hour), c.IssuedAt.Add(-time.Minute)
			})), accesstoken.ErrExpired},
			{"another audience", sign(key, claims(func(c *accesstoken.Claims) { c.Audience = []string{"someone-else"} })), accesstoken.ErrAudience},
			{"another issuer", sign(key, claims(func(c *accesstoken.Claims) { c.Issuer = "someone-else" })), accesstoken.ErrIssuer},
			{"truncated", tok.AccessToken[:len(tok.AccessToken)-4], accesstoken.ErrInvalidToken},
			{"empty", "", accesstoken.ErrMalformed},
			{"a refresh token", tok.RefreshToken, accesstoken.ErrMalformed},
			{"real key, session of another user", sign(key, claims(func(c *accesstoken.Claims) { c.Subject = other.ID })), nil},
			{"real key, unknown session", sign(key, claims(func(c *accesstoken.Claims) { c.SessionID = pulid.New("ses") })), nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a, err := e.m.Authenticate(context.Background(), tt.token)
				if a != nil || !errors.Is(err, ErrInvalidAccessToken) {
					t.Fatalf("Authenticate = %v, %v; want ErrInvalidAccessToken", a, err)
				}
				if tt.reason != nil && !errors.Is(err, tt.reason) {
					t.Errorf("Authenticate: %v, want the reason %v", err, tt.reason)
				}
				if tt.reason == nil && errors.Is(err, accesstoken.ErrInvalidToken) {
					t.Errorf("Authenticate: %v; the token itself is valid, the session check should refuse it", err)
				}
				if tt.token != "" && strings.Contains(err.Error(), tt.token) {
					t.Errorf("the error holds the token")
				}
			})
		}
		if _, err := e.m.Authenticate(context.Background(), tok.AccessToken); err != nil {
			t.Errorf("the genuine token after the forgeries: %v", err)
		}
	})
}

// A Manager with another master key cannot open the stored signing key;
// New fails with ErrMasterKey and says nothing of either key.
func TestNewOtherMasterKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		cfg := e.m.Config()
		cfg.MasterKey = randomKey(t)
		m, err := New(context.Background(), e.c, cfg)
		if m != nil || !errors.Is(err, ErrMasterKey) {
			t.Fatalf("New with another master key = %v, %v; want ErrMasterKey", m, err)
		}
		for _, k := range [][]byte{cfg.MasterKey, e.m.cfg.MasterKey} {
			for _, enc := range encodings(k) {
				if strings.Contains(err.Error(), enc) {
					t.Errorf("the error %q holds a master key", err)
				}
			}
		}
		if _, err := New(context.Background(), e.c, e.m.Config()); err != nil {
			t.Errorf("New with the right key: %v", err)
		}
	})
}

// New refuses configurations that make no sense with ErrConfig.
func TestNewRefusesConfig(t *testing.T) {
	db := testdb.New(t, testdb.Dialects()[0])
	c, _ := testdb.Migrated(t, db)
	base := DefaultConfig()
	base.MasterKey = randomKey(t)
	base.Argon2 = secret.MinArgon2
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no master key", func(c *Config) { c.MasterKey = nil }},
		{"short master key", func(c *Config) { c.MasterKey = c.MasterKey[:31] }},
		{"no issuer", func(c *Config) { c.Issuer = "" }},
		{"access TTL too short", func(c *Config) { c.AccessTTL = time.Second }},
		{"idle beyond absolute", func(c *Config) { c.IdleTTL = c.AbsoluteTTL + time.Second }},
		{"negative grace", func(c *Config) { c.Grace = -time.Second }},
		{"grace too long", func(c *Config) { c.Grace = time.Hour }},
		{"no failed logins", func(c *Config) { c.MaxFailedLogins = 0 }},
		{"lock max below base", func(c *Config) { c.LockMax = c.LockBase / 2 }},
		{"weak argon2", func(c *Config) { c.Argon2 = secret.Argon2Params{Memory: 1024, Time: 1, Threads: 1} }},
		{"bad password policy", func(c *Config) { c.Password.MinLength = 4 }},
		{"impersonation too short", func(c *Config) { c.ImpersonationTTL = 30 * time.Second }},
		{"impersonation default above maximum", func(c *Config) { c.ImpersonationTTL = c.MaxImpersonationTTL + time.Minute }},
		{"impersonation maximum too long", func(c *Config) { c.ImpersonationTTL, c.MaxImpersonationTTL = time.Hour, 13*time.Hour }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			cfg.MasterKey = append([]byte(nil), base.MasterKey...)
			tt.edit(&cfg)
			if _, err := New(context.Background(), c, cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("New: %v, want ErrConfig", err)
			}
		})
	}
	if n := c.SigningKey.Query().CountX(sys()); n != 0 {
		t.Errorf("refused configurations created %d signing keys", n)
	}
}

// --- 9. ChangePassword -----------------------------------------------------

const newPassword = "plum-tractor-oboe-lantern-91"

// ChangePassword with the right current password stores the new one,
// revokes every other session of the user and keeps the current one.
func TestChangePassword(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		u := e.user(t, "mia@example.com", testPassword)
		here, there := e.login(t, u.Email, laptop), e.login(t, u.Email, phone)
		if err := e.m.ChangePassword(e.asToken(t, here.AccessToken), e.c, testPassword, newPassword); err != nil {
			t.Fatalf("ChangePassword: %v", err)
		}
		h := e.userRow(t, u.ID).PasswordHash
		if !h.Verify(newPassword) || h.Verify(testPassword) || h.NeedsRehash(e.m.cfg.Argon2) {
			t.Errorf("the stored hash does not verify the new password only, with the configured parameters")
		}
		if s := e.sessionRow(t, there.SessionID); s.RevokedAt == nil || s.RevokedReason != "password_changed" {
			t.Errorf("the other session revoked_at %v reason %q, want revoked for password_changed", s.RevokedAt, s.RevokedReason)
		}
		if _, err := e.m.Refresh(context.Background(), there.RefreshToken, phone); !errors.Is(err, ErrSessionRevoked) {
			t.Errorf("Refresh of the other session: %v, want ErrSessionRevoked", err)
		}
		if _, err := e.m.Authenticate(context.Background(), there.AccessToken); !errors.Is(err, ErrInvalidAccessToken) {
			t.Errorf("Authenticate of the other session: %v, want ErrInvalidAccessToken", err)
		}
		if s := e.sessionRow(t, here.SessionID); s.RevokedAt != nil {
			t.Errorf("the current session was revoked (%s)", s.RevokedReason)
		}
		e.refresh(t, here.RefreshToken, laptop)
		if acts := e.activities(t, "user.password_changed", u.ID); len(acts) != 1 || acts[0].ActorUserID == nil || *acts[0].ActorUserID != u.ID {
			t.Errorf("user.password_changed = %v, want one by the user", acts)
		}
		if _, err := e.m.Login(context.Background(), LoginInput{Email: u.Email, Password: testPassword}); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("Login with the old password: %v, want ErrInvalidCredentials", err)
		}
		if _, err := e.m.Login(context.Background(), LoginInput{Email: u.Email, Password: newPassword}); err != nil {
			t.Errorf("Login with the new password: %v", err)
		}
	})
}

// A wrong current password is ErrWrongPassword and counts as a failed
// sign-in; a new password the rules refuse is a *password.RuleError behind
// a *validation.Error; the current password again is ErrPasswordUnchanged.
// None of them changes anything else.
func TestChangePasswordRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		u := e.user(t, "nora.quist@example.com", testPassword)
		tok := e.login(t, u.Email, laptop)
		other := e.login(t, u.Email, phone)
		ctx := e.asToken(t, tok.AccessToken)

		err := e.m.ChangePassword(ctx, e.c, wrongPassword, newPassword)
		var ve *validation.Error
		if !errors.Is(err, ErrWrongPassword) || !errors.As(err, &ve) || ve.Field != "currentPassword" {
			t.Fatalf("ChangePassword with a wrong current password: %v, want ErrWrongPassword for currentPassword", err)
		}
		if got := e.userRow(t, u.ID); got.FailedLogins != 1 {
			t.Errorf("failed_logins %d after a wrong current password, want 1", got.FailedLogins)
		}
		if acts := e.activities(t, "user.login_failed", u.ID); len(acts) != 1 || acts[0].Data["reason"] != "wrong_password" {
			t.Errorf("user.login_failed = %v, want one for wrong_password", acts)
		}

		rules := []struct {
			name string
			pw   string
			rule string
		}{
			{"too short", "Xy7!abc", "too_short"},
			{"common", "password1234", "common"},
			{"personal", "NoraQuist1990!", "personal"},
			{"control character", "plum-tractor\noboe-lantern-91", "invalid_character"},
			{"too long", strings.Repeat("plum-tractor-", 10), "too_long"},
		}
		for _, tt := range rules {
			t.Run(tt.name, func(t *testing.T) {
				err := e.m.ChangePassword(ctx, e.c, testPassword, tt.pw)
				var re *password.RuleError
				if !errors.As(err, &re) || string(re.Rule) != tt.rule {
					t.Fatalf("ChangePassword(%s): %v, want a *password.RuleError %s", tt.name, err, tt.rule)
				}
				var ve *validation.Error
				if !errors.As(err, &ve) || ve.Field != "newPassword" {
					t.Errorf("ChangePassword(%s): %v, want a *validation.Error for newPassword", tt.name, err)
				}
				if strings.Contains(err.Error(), tt.pw) || strings.Contains(err.Error(), testPassword) {
					t.Errorf("the error %q holds a password", err)
				}
			})
		}
		if err := e.m.ChangePassword(ctx, e.c, testPassword, testPassword); !errors.Is(err, ErrPasswordUnchanged) {
			t.Errorf("ChangePassword to the same password: %v, want ErrPasswordUnchanged", err)
		}
		if err := e.m.ChangePassword(ctx, e.c, "", newPassword); !errors.As(err, &ve) || ve.Field != "currentPassword" {
			t.Errorf("ChangePassword without the current password: %v, want a *validation.Error", err)
		}
		h := e.userRow(t, u.ID).PasswordHash
		if !h.Verify(testPassword) {
			t.Errorf("a refused change changed the password")
		}
		if _, err := e.m.Authenticate(context.Background(), other.AccessToken); err != nil {
			t.Errorf("a refused change revoked the other session: %v", err)
		}
		if n := len(e.activities(t, "user.password_changed", u.ID)); n != 0 {
			t.Errorf("%d user.password_changed for refused changes", n)
		}
	})
}

// Only a signed-in user changes their password: an API key (even with
// scope *), the system, or no actor is refused.
func TestChangePasswordNeedsUser(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		u := e.user(t, "olga@example.com", testPassword)
		for _, tt := range []struct {
			name string
			ctx  context.Context
		}{
			{"API key", actor.NewContext(context.Background(), actor.APIKey(pulid.New("key"), u.ID, actor.PlatformNone, "", []string{actor.ScopeAll}))},
			{"system", sys()},
			{"no actor", context.Background()},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if err := e.m.ChangePassword(tt.ctx, e.c, testPassword, newPassword); !errors.Is(err, authz.ErrNotLoaded) {
					t.Errorf("ChangePassword: %v, want authz.ErrNotLoaded", err)
				}
			})
		}
		if !e.userRow(t, u.ID).PasswordHash.Verify(testPassword) {
			t.Errorf("the password changed")
		}
	})
}

// A locked account cannot test passwords through ChangePassword either:
// while the lock lasts, a right and a wrong current password get the same
// *LockedError, nothing is counted, and the password stays.
func TestChangePasswordWhileLocked(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db, func(c *Config) { c.MaxFailedLogins = 3 })
		u := e.user(t, "pia@example.com", testPassword)
		tok := e.login(t, u.Email, laptop)
		ctx := e.asToken(t, tok.AccessToken)
		for range 3 {
			if err := e.m.ChangePassword(ctx, e.c, wrongPassword, newPassword); !errors.Is(err, ErrWrongPassword) {
				t.Fatalf("ChangePassword with a wrong password: %v", err)
			}
		}
		locked := e.userRow(t, u.ID)
		if locked.LockedUntil == nil || locked.FailedLogins != 3 {
			t.Fatalf("after 3 wrong current passwords: failed_logins %d locked_until %v; want 3 and a lock", locked.FailedLogins, locked.LockedUntil)
		}
		var msgs []string
		for _, current := range []string{wrongPassword, testPassword} {
			err := e.m.ChangePassword(ctx, e.c, current, newPassword)
			var le *LockedError
			if !errors.As(err, &le) {
				t.Errorf("ChangePassword while locked (current right: %t): %v, want a *LockedError", current == testPassword, err)
				continue
			}
			msgs = append(msgs, err.Error())
		}
		if len(msgs) == 2 && msgs[0] != msgs[1] {
			t.Errorf("while locked a wrong and a right current password answer %q and %q", msgs[0], msgs[1])
		}
		got := e.userRow(t, u.ID)
		if !got.PasswordHash.Verify(testPassword) || got.FailedLogins != 3 {
			t.Errorf("while locked: password changed %t, failed_logins %d; want unchanged, 3", !got.PasswordHash.Verify(testPassword), got.FailedLogins)
		}
	})
}

// --- 3 (part). UnlockUser --------------------------------------------------

// A platform admin lifts a lock and resets the count; a plain user cannot,
// not even of their own account or of a member of their organization.
func TestUnlockUser(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		until := e.clock.Now().Add(time.Hour)
		locked := e.user(t, "locked@example.com", testPassword, func(q *ent.UserCreate) { q.SetFailedLogins(12).SetLockedUntil(until) })
		admin := e.user(t, "root@example.com", testPassword, func(q *ent.UserCreate) { q.SetPlatformRole(user.PlatformRoleAdmin) })
		colleague := e.user(t, "colleague@example.com", testPassword)
		stranger := e.user(t, "stranger@example.com", testPassword)
		acme := e.org(t, colleague, "acme")
		e.join(t, acme, colleague, locked)

		refused := []struct {
			name string
			ctx  context.Context
			want func(error) bool
		}{
			{"the locked user", e.as(t, actor.User(locked.ID, actor.PlatformNone)), isPrivacyDeny},
			{"a colleague (owner of an organization of the user)", e.as(t, actor.User(colleague.ID, actor.PlatformNone)), isPrivacyDeny},
			{"a stranger", e.as(t, actor.User(stranger.ID, actor.PlatformNone)), ent.IsNotFound},
		}
		for _, tt := range refused {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := e.m.UnlockUser(tt.ctx, e.c, locked.ID); err == nil || !tt.want(err) {
					t.Fatalf("UnlockUser: %v, want it refused", err)
				}
				if got := e.userRow(t, locked.ID); got.FailedLogins != 12 || !timePtrEq(got.LockedUntil, until) {
					t.Errorf("after a refused unlock: failed_logins %d locked_until %v", got.FailedLogins, got.LockedUntil)
				}
			})
		}
		if n := len(e.activities(t, "user.unlocked", locked.ID)); n != 0 {
			t.Errorf("%d user.unlocked for refused unlocks", n)
		}

		got, err := e.m.UnlockUser(e.as(t, actor.User(admin.ID, actor.PlatformAdmin)), e.c, locked.ID)
		if err != nil {
			t.Fatalf("UnlockUser by a platform admin: %v", err)
		}
		if got.FailedLogins != 0 || got.LockedUntil != nil {
			t.Errorf("after unlock: failed_logins %d locked_until %v", got.FailedLogins, got.LockedUntil)
		}
		acts := e.activities(t, "user.unlocked", locked.ID)
		if len(acts) != 1 || acts[0].ActorUserID == nil || *acts[0].ActorUserID != admin.ID || acts[0].Data["failed_logins"] != float64(12) {
			t.Errorf("user.unlocked = %v, want one by the admin with failed_logins 12", acts)
		}
		e.login(t, locked.Email, laptop)
	})
}
