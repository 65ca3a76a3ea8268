package graph_test

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cf/identity/accesstoken"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/bootstrap"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/session"
	"github.com/cf/identity/tenancy"
)

// Passwords of the sign-in tests: long and unrelated enough for the
// default password rules.
const (
	testPassword  = "Tangerine-Ocelot-Viaduct-917"
	otherPassword = "Quartz lantern whistles under 44 moons"
)

// clock is a fake clock for session.Config.Now: it stands still unless
// advanced, so grace windows and key reloads are decided by the test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newMasterKey returns 32 random bytes.
func newMasterKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// newManager returns a session.Manager over client with the default
// configuration, the cheapest argon2 parameters allowed and key; mod, when
// not nil, changes the configuration first.
func newManager(t testing.TB, client *ent.Client, key []byte, mod func(*session.Config)) *session.Manager {
	t.Helper()
	cfg := session.DefaultConfig()
	cfg.Argon2 = secret.MinArgon2
	cfg.MasterKey = key
	if mod != nil {
		mod(&cfg)
	}
	m, err := session.New(context.Background(), client, cfg)
	if err != nil {
		t.Fatalf("session.New: %v", err)
	}
	return m
}

// authEnv is a server with sign-in over one fresh database.
type authEnv struct {
	*env
	m     *session.Manager
	key   []byte
	clock *clock
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// setupAuth is setup with a session.Manager (fake clock e.clock, master key
// e.key, mod applied to its configuration) passed as opts.Sessions. The
// /auth/* rate limits are off unless opts sets them.
func setupAuth(t *testing.T, db testdb.Target, opts graph.Options, mod func(*session.Config)) *authEnv {
	t.Helper()
	return setupAuthFlows(t, db, opts, mod, nil)
}

// setupAuthFlows is setupAuth whose server also gets the flows that
// flows builds over the environment (its client and session manager) as
// opts.Flows; nil builds none.
func setupAuthFlows(t *testing.T, db testdb.Target, opts graph.Options, mod func(*session.Config), flows func(*authEnv) graph.Flows) *authEnv {
	t.Helper()
	client, sqlDB := testdb.Migrated(t, db)
	res, err := bootstrap.Superadmin(context.Background(), client, adminEmail, "Admin")
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	e := &authEnv{env: &env{db: db, client: client, sqlDB: sqlDB, adminID: res.UserID, adminKey: res.Key}, key: newMasterKey(t), clock: newClock()}
	e.m = newManager(t, client, e.key, func(c *session.Config) {
		c.Now = e.clock.Now
		if mod != nil {
			mod(c)
		}
	})
	if flows != nil {
		opts.Flows = flows(e)
	}
	e.srv = e.authServer(t, opts)
	return e
}

// authServer starts another server over the database of e with e.m and
// opts (rate limits off and a discarding logger unless opts sets them).
func (e *authEnv) authServer(t *testing.T, opts graph.Options) *httptest.Server {
	t.Helper()
	if opts.Sessions == nil {
		opts.Sessions = e.m
	}
	if opts.AuthRateIP == 0 {
		opts.AuthRateIP = -1
	}
	if opts.AuthRateAccount == 0 {
		opts.AuthRateAccount = -1
	}
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	srv := httptest.NewServer(graph.NewHandler(e.client, opts))
	t.Cleanup(srv.Close)
	return srv
}

// newPasswordUser creates an active user with platform role none and
// password pw, as the system.
func (e *authEnv) newPasswordUser(t *testing.T, email, pw string) *ent.User {
	t.Helper()
	active, none := user.StatusActive, user.PlatformRoleNone
	u, err := e.m.CreateUser(sys(), e.client, ent.CreateUserInput{Email: email, Status: &active, PlatformRole: &none}, &pw)
	if err != nil {
		t.Fatalf("creating user %s: %v", email, err)
	}
	return u
}

// tokenAnswer is the body of a successful login, refresh or switch.
type tokenAnswer struct {
	AccessToken      string    `json:"accessToken"`
	TokenType        string    `json:"tokenType"`
	ExpiresIn        int       `json:"expiresIn"`
	RefreshToken     string    `json:"refreshToken"`
	SessionID        string    `json:"sessionID"`
	OrganizationID   string    `json:"organizationID"`
	RefreshExpiresAt time.Time `json:"refreshExpiresAt"`
}

// authPost posts body, as is, to path on srv with Content-Type
// application/json and the extra headers.
func authPost(t *testing.T, srv *httptest.Server, path, body string, headers map[string]string) response {
	t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range headers {
		h[k] = v
	}
	return request(t, srv, http.MethodPost, path, strings.NewReader(body), h)
}

func jsonString(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tokensOf checks that r is a successful token answer and decodes it.
func tokensOf(t *testing.T, r response) tokenAnswer {
	t.Helper()
	if r.status != http.StatusOK || len(r.errors) > 0 {
		t.Fatalf("want HTTP 200 with tokens, got HTTP %d: %s", r.status, r.raw)
	}
	var tok tokenAnswer
	if err := json.Unmarshal(r.raw, &tok); err != nil {
		t.Fatalf("decoding tokens: %v: %s", err, r.raw)
	}
	if tok.AccessToken == "" || tok.TokenType != "Bearer" || tok.SessionID == "" {
		t.Fatalf("incomplete token answer: %s", r.raw)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store on a token answer", got)
	}
	return tok
}

func loginOn(t *testing.T, srv *httptest.Server, email, pw string) response {
	t.Helper()
	return authPost(t, srv, "/auth/login", jsonString(t, map[string]string{"email": email, "password": pw}), nil)
}

func refreshOn(t *testing.T, srv *httptest.Server, refreshToken string) response {
	t.Helper()
	return authPost(t, srv, "/auth/refresh", jsonString(t, map[string]string{"refreshToken": refreshToken}), nil)
}

// logoutRaw posts a logout and returns the status and the body; a 204 is
// not parsed.
func logoutRaw(t *testing.T, srv *httptest.Server, refreshToken string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/auth/logout", strings.NewReader(jsonString(t, map[string]string{"refreshToken": refreshToken})))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// login signs in on e's server and fails the test unless it succeeds.
func (e *authEnv) login(t *testing.T, email, pw string) tokenAnswer {
	t.Helper()
	return tokensOf(t, loginOn(t, e.srv, email, pw))
}

// gqlOn sends a GraphQL request to srv with the bearer credential and the
// extra headers.
func gqlOn(t *testing.T, srv *httptest.Server, credential, query string, vars map[string]any, headers map[string]string) response {
	t.Helper()
	h := map[string]string{"Authorization": bearer(credential)}
	for k, v := range headers {
		h[k] = v
	}
	return authPost(t, srv, "/graphql", jsonString(t, map[string]any{"query": query, "variables": vars}), h)
}

// wantAuthError checks that r is exactly one error with HTTP status and
// extensions.code code, and returns it.
func wantAuthError(t *testing.T, r response, status int, code string) gqlError {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d: %s", r.status, status, r.raw)
	}
	if len(r.errors) != 1 {
		t.Fatalf("want exactly one error, got %d: %s", len(r.errors), r.raw)
	}
	g := r.errors[0]
	if g.code() != code {
		t.Errorf("code = %q, want %s: %s", g.code(), code, r.raw)
	}
	if status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate = %q, want a Bearer challenge with 401", r.header.Get("WWW-Authenticate"))
	}
	return g
}

// wantOK checks that a GraphQL answer succeeded and decodes its data into
// v (when not nil).
func wantOK(t *testing.T, r response, v any) {
	t.Helper()
	if r.status != http.StatusOK || len(r.errors) > 0 {
		t.Fatalf("want success, got HTTP %d: %s", r.status, r.raw)
	}
	if v != nil {
		r.decodeData(t, v)
	}
}

// leakMarkers are fragments that mean internals reached a client: SQL and
// driver text (sqlLeaks), stack traces, Go type and file names.
var leakMarkers = append([]string{"goroutine ", ".go:", "panic", "graph.", "session.", "authRequest", "runtime."}, sqlLeaks...)

// assertNoSecrets checks that the whole body of r holds no internals and
// none of secrets (passwords, tokens).
func assertNoSecrets(t *testing.T, r response, secrets ...string) {
	t.Helper()
	assertNoLeak(t, r)
	body := string(r.raw)
	for _, m := range leakMarkers {
		if strings.Contains(body, m) {
			t.Errorf("body leaks %q: %s", m, body)
		}
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(body, s) {
			t.Errorf("body contains a secret (%d bytes) it was sent or holds: %.200s", len(s), body)
		}
	}
}

// rowCounts are the rows the sign-in flows write.
type rowCounts struct {
	Activities, Sessions, RefreshTokens, FailedLogins int
}

func (e *env) rowCounts(t *testing.T) rowCounts {
	t.Helper()
	var c rowCounts
	err := e.sqlDB.QueryRow(`SELECT
		(SELECT COUNT(*) FROM cf_activities),
		(SELECT COUNT(*) FROM cf_sessions),
		(SELECT COUNT(*) FROM cf_refresh_tokens),
		(SELECT COALESCE(SUM(failed_logins), 0) FROM cf_users)`).Scan(&c.Activities, &c.Sessions, &c.RefreshTokens, &c.FailedLogins)
	if err != nil {
		t.Fatalf("counting rows: %v", err)
	}
	return c
}

// count runs a COUNT query with args and returns the number.
func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.sqlDB.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// liveTokens returns the refresh tokens of session sid that are neither
// used nor revoked.
func (e *env) liveTokens(t *testing.T, sid string) int {
	t.Helper()
	return e.count(t, `SELECT COUNT(*) FROM cf_refresh_tokens WHERE family_id = `+e.q(1)+` AND used_at IS NULL AND revoked_at IS NULL`, sid)
}

func (e *env) failedLogins(t *testing.T, id pulid.ID) int {
	t.Helper()
	return e.count(t, `SELECT failed_logins FROM cf_users WHERE id = `+e.q(1), string(id))
}

func (e *env) activities(t *testing.T, verb string) int {
	t.Helper()
	return e.count(t, `SELECT COUNT(*) FROM cf_activities WHERE verb = `+e.q(1), verb)
}

// claimsOf decodes the claims of an access token without verifying it.
func claimsOf(t *testing.T, token string) accesstoken.Claims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token has %d segments", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c accesstoken.Claims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("decoding claims: %v", err)
	}
	return c
}

// headerOf decodes the JOSE header of a token.
func headerOf(t *testing.T, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAuthBadInput(t *testing.T) {
	const (
		email     = "bob@example.com"
		wrongPass = "not-the-password-at-all-1"
	)
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		e.newPasswordUser(t, email, testPassword)
		live := e.login(t, email, testPassword)
		unknownRefresh, _, err := secret.NewToken(session.RefreshKind)
		if err != nil {
			t.Fatal(err)
		}
		big := `{"email":"` + strings.Repeat("a", 17<<10) + `","password":"x"}`

		type tc struct {
			name        string
			path        string
			method      string // POST when empty
			contentType string // application/json when empty; "-" for none
			body        string
			status      int
			code        string
			field       string // extensions.field, when the error names one
			msg         string // a fragment of the message, when set
			// activities and failedLogins are the rows the request may
			// write: a refused sign-in records its failure.
			activities, failedLogins int
		}
		var cases []tc
		// What every endpoint refuses before reading its fields.
		for _, path := range []string{"/auth/login", "/auth/refresh", "/auth/logout", "/auth/switch"} {
			cases = append(cases,
				tc{name: "GET", path: path, method: http.MethodGet, status: http.StatusMethodNotAllowed, code: graph.CodeBadUserInput},
				tc{name: "PUT", path: path, method: http.MethodPut, body: `{}`, status: http.StatusMethodNotAllowed, code: graph.CodeBadUserInput},
				tc{name: "text/plain", path: path, contentType: "text/plain", body: `{}`, status: http.StatusUnsupportedMediaType, code: graph.CodeUnsupportedMedia},
				tc{name: "form", path: path, contentType: "application/x-www-form-urlencoded", body: `email=a&password=b`, status: http.StatusUnsupportedMediaType, code: graph.CodeUnsupportedMedia},
				tc{name: "no content type", path: path, contentType: "-", body: `{}`, status: http.StatusUnsupportedMediaType, code: graph.CodeUnsupportedMedia},
				tc{name: "empty body", path: path, body: ``, status: http.StatusBadRequest, code: graph.CodeBadUserInput, msg: "empty"},
				tc{name: "malformed JSON", path: path, body: `{"email":`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, msg: "malformed JSON"},
				tc{name: "not JSON", path: path, body: `email=a`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, msg: "malformed JSON"},
				tc{name: "unknown field", path: path, body: `{"username":"bob"}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, msg: `unknown field "username"`},
				tc{name: "two objects", path: path, body: `{} {}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, msg: "one object"},
				tc{name: "array", path: path, body: `[{}]`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, msg: "one JSON object"},
				tc{name: "string", path: path, body: `"bob"`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, msg: "one JSON object"},
				tc{name: "over 16 KiB", path: path, body: big, status: http.StatusRequestEntityTooLarge, code: graph.CodeTooLarge},
			)
		}
		cases = append(cases,
			// login
			tc{name: "missing email", path: "/auth/login", body: `{"password":"x"}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, field: "email"},
			tc{name: "empty object", path: "/auth/login", body: `{}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, field: "email"},
			tc{name: "null", path: "/auth/login", body: `null`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, field: "email"},
			tc{name: "missing password", path: "/auth/login", body: `{"email":"` + email + `"}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, field: "password"},
			tc{name: "email a number", path: "/auth/login", body: `{"email":5,"password":"x"}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, msg: "email must be a string"},
			tc{name: "password a list", path: "/auth/login", body: `{"email":"` + email + `","password":["` + testPassword + `"]}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, msg: "password must be a string"},
			tc{name: "malformed organization", path: "/auth/login", body: `{"email":"` + email + `","password":"` + testPassword + `","organizationID":"acme"}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, field: "organizationID"},
			tc{name: "user ID as organization", path: "/auth/login", body: `{"email":"` + email + `","password":"` + testPassword + `","organizationID":"` + unknownUserID + `"}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, field: "organizationID"},
			tc{name: "unknown email", path: "/auth/login", body: `{"email":"nobody@example.com","password":"` + wrongPass + `"}`, status: http.StatusUnauthorized, code: graph.CodeInvalidCredentials, activities: 1},
			tc{name: "wrong password", path: "/auth/login", body: `{"email":"` + email + `","password":"` + wrongPass + `"}`, status: http.StatusUnauthorized, code: graph.CodeInvalidCredentials, activities: 1, failedLogins: 1},
			// refresh and logout
			tc{name: "missing token", path: "/auth/refresh", body: `{}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, field: "refreshToken"},
			tc{name: "token a number", path: "/auth/refresh", body: `{"refreshToken":42}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, msg: "refreshToken must be a string"},
			tc{name: "malformed token", path: "/auth/refresh", body: `{"refreshToken":"abc"}`, status: http.StatusUnauthorized, code: graph.CodeInvalidRefreshToken},
			tc{name: "access token as refresh token", path: "/auth/refresh", body: `{"refreshToken":"` + live.AccessToken + `"}`, status: http.StatusUnauthorized, code: graph.CodeInvalidRefreshToken},
			tc{name: "unknown token", path: "/auth/refresh", body: `{"refreshToken":"` + unknownRefresh + `"}`, status: http.StatusUnauthorized, code: graph.CodeInvalidRefreshToken},
			tc{name: "missing token", path: "/auth/logout", body: `{}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, field: "refreshToken"},
			tc{name: "token a bool", path: "/auth/logout", body: `{"refreshToken":true}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, msg: "refreshToken must be a string"},
			tc{name: "malformed token", path: "/auth/logout", body: `{"refreshToken":"cfr_x"}`, status: http.StatusUnauthorized, code: graph.CodeInvalidRefreshToken},
			tc{name: "unknown token", path: "/auth/logout", body: `{"refreshToken":"` + unknownRefresh + `"}`, status: http.StatusUnauthorized, code: graph.CodeInvalidRefreshToken},
			// switch (sent with the access token of live)
			tc{name: "organization a number", path: "/auth/switch", body: `{"organizationID":1}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, msg: "organizationID must be a string"},
			tc{name: "malformed organization", path: "/auth/switch", body: `{"organizationID":"acme"}`, status: http.StatusBadRequest, code: graph.CodeBadUserInput, field: "organizationID"},
			tc{name: "unknown organization", path: "/auth/switch", body: `{"organizationID":"` + unknownOrgID + `"}`, status: http.StatusForbidden, code: graph.CodeForbidden},
		)
		for _, c := range cases {
			t.Run(strings.TrimPrefix(c.path, "/auth/")+"/"+c.name, func(t *testing.T) {
				before := e.rowCounts(t)
				method := c.method
				if method == "" {
					method = http.MethodPost
				}
				req, err := http.NewRequest(method, e.srv.URL+c.path, strings.NewReader(c.body))
				if err != nil {
					t.Fatal(err)
				}
				switch c.contentType {
				case "":
					req.Header.Set("Content-Type", "application/json")
				case "-":
				default:
					req.Header.Set("Content-Type", c.contentType)
				}
				if c.path == "/auth/switch" {
					req.Header.Set("Authorization", bearer(live.AccessToken))
				}
				r := do(t, e.srv.Client(), req)
				g := wantAuthError(t, r, c.status, c.code)
				if c.status == http.StatusMethodNotAllowed && r.header.Get("Allow") != http.MethodPost {
					t.Errorf("Allow = %q, want POST", r.header.Get("Allow"))
				}
				if c.status == http.StatusBadRequest && c.field != "" {
					if f, _ := g.Extensions["field"].(string); f != c.field {
						t.Errorf("extensions.field = %q, want %q: %s", f, c.field, r.raw)
					}
				}
				if c.msg != "" && !strings.Contains(g.Message, c.msg) {
					t.Errorf("message = %q, want it to contain %q", g.Message, c.msg)
				}
				if r.header.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
				}
				assertNoSecrets(t, r, testPassword, wrongPass, live.AccessToken, live.RefreshToken, unknownRefresh, strings.Repeat("a", 64))
				after := e.rowCounts(t)
				want := before
				want.Activities += c.activities
				want.FailedLogins += c.failedLogins
				if after != want {
					t.Errorf("rows after = %+v, want %+v (before %+v): a refused request wrote something", after, want, before)
				}
			})
		}

		// The session of live was not harmed by any of it.
		wantOK(t, gqlOn(t, e.srv, live.AccessToken, `{ viewer { kind } }`, nil, nil), nil)
		tokensOf(t, refreshOn(t, e.srv, live.RefreshToken))
	})
}

// orgFixture creates an organization owned by a new user, as that user,
// and returns the organization, the owner and a personal API key of the
// owner with every scope.
func (e *authEnv) orgFixture(t *testing.T, slug string) (*ent.Organization, *ent.User, string) {
	t.Helper()
	owner, key, _ := e.newUserKey(t, slug+"-owner@example.com")
	octx, err := authz.NewContext(context.Background(), e.client, actor.User(owner.ID, actor.PlatformNone))
	if err != nil {
		t.Fatal(err)
	}
	org, err := tenancy.CreateOrganization(octx, e.client, ent.CreateOrganizationInput{Name: slug, Slug: slug})
	if err != nil {
		t.Fatalf("creating organization %s: %v", slug, err)
	}
	return org, owner, key
}

// addMember adds u to org with the member role, as the system.
func (e *authEnv) addMember(t *testing.T, org *ent.Organization, u pulid.ID) {
	t.Helper()
	if _, err := tenancy.AddMember(sys(), e.client, tenancy.AddMemberInput{OrganizationID: org.ID, UserID: u}); err != nil {
		t.Fatalf("adding member: %v", err)
	}
}

const (
	createUserWithPassword = `mutation ($email: String!, $pw: String) {
  createUser(input: {email: $email, status: active}, password: $pw) { id email status } }`
	viewerQuery   = `{ viewer { kind platformRole user { id email } activeOrganization { id } } }`
	sessionsQuery = `{ sessions(first: 100) { totalCount edges { node { id userID organizationID revokedAt } } } }`
)

type sessionsData struct {
	Sessions struct {
		TotalCount int
		Edges      []struct {
			Node struct {
				ID, UserID     string
				OrganizationID *string
				RevokedAt      *string
			}
		}
	}
}

// TestSignInJourney walks the sign-in of a person over real HTTP: an
// administrator creates the user with a password through GraphQL, the user
// signs in, calls /graphql with the access token, refreshes, has a stolen
// refresh token replayed, logs out, switches organization, is listed and
// revoked by administrators, changes the password and is unlocked.
func TestSignInJourney(t *testing.T) {
	const (
		aliceEmail = "alice@wonderland.test"
		bobEmail   = "bob@example.com"
	)
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, func(c *session.Config) { c.MaxFailedLogins = 3 })
		srv := e.srv
		admin := e.adminKey
		unauthorized := func(t *testing.T, token string) {
			t.Helper()
			r := gqlOn(t, srv, token, viewerQuery, nil, nil)
			wantAuthError(t, r, http.StatusUnauthorized, graph.CodeUnauthenticated)
			if _, ok := r.top["data"]; ok {
				t.Errorf("a refused token got a data member: %s", r.raw)
			}
		}
		works := func(t *testing.T, token string) {
			t.Helper()
			wantOK(t, gqlOn(t, srv, token, viewerQuery, nil, nil), nil)
		}

		// The administrator creates Alice with a password; the rules refuse
		// weak ones, naming the field and the rule, and nothing is created.
		t.Run("password rules", func(t *testing.T) {
			for _, c := range []struct{ name, pw, msg string }{
				{"too short", "Abc123!x", "at least 12 characters"},
				{"common", "password1234", "too common"},
				{"personal", "alice-wonderland-2024!", "email address or name"},
				{"control character", "line one\nline two 9781", "printable"},
			} {
				t.Run(c.name, func(t *testing.T) {
					users := e.count(t, `SELECT COUNT(*) FROM cf_users`)
					r := gqlOn(t, srv, admin, createUserWithPassword, map[string]any{"email": aliceEmail, "pw": c.pw}, nil)
					g := r.onlyError(t)
					if g.code() != graph.CodeBadUserInput {
						t.Errorf("code = %q, want BAD_USER_INPUT: %s", g.code(), r.raw)
					}
					if !strings.HasPrefix(g.Message, "invalid password: ") || !strings.Contains(g.Message, c.msg) {
						t.Errorf("message = %q, want the password field and %q", g.Message, c.msg)
					}
					if string(r.data) != "null" {
						t.Errorf("data = %s, want null", r.data)
					}
					assertNoSecrets(t, r, c.pw)
					if n := e.count(t, `SELECT COUNT(*) FROM cf_users`); n != users {
						t.Errorf("users = %d after a refused password, want %d", n, users)
					}
				})
			}
		})
		var created struct {
			CreateUser struct{ ID, Email, Status string }
		}
		r := gqlOn(t, srv, admin, createUserWithPassword, map[string]any{"email": aliceEmail, "pw": testPassword}, nil)
		wantOK(t, r, &created)
		assertNoSecrets(t, r, testPassword)
		alice := pulid.ID(created.CreateUser.ID)
		if created.CreateUser.Status != "active" || alice.Prefix() != "usr" {
			t.Fatalf("createUser = %+v", created.CreateUser)
		}
		var hash string
		if err := e.sqlDB.QueryRow(`SELECT password_hash FROM cf_users WHERE id = `+e.q(1), string(alice)).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, testPassword) {
			t.Errorf("stored password is not an argon2id hash: %.20s...", hash)
		}

		// Sign in, and use the access token.
		r = loginOn(t, srv, aliceEmail, testPassword)
		assertNoSecrets(t, r, testPassword)
		first := tokensOf(t, r)
		if first.ExpiresIn != int(session.DefaultAccessTTL/time.Second) || !strings.HasPrefix(first.RefreshToken, "cfr_") ||
			!strings.HasPrefix(first.SessionID, "ses_") || first.OrganizationID != "" || !first.RefreshExpiresAt.After(time.Now()) {
			t.Errorf("login answer = %+v", first)
		}
		if c := claimsOf(t, first.AccessToken); c.Subject != alice || string(c.SessionID) != first.SessionID || c.Organization != "" {
			t.Errorf("claims = %+v, want sub %s and sid %s without org", c, alice, first.SessionID)
		}
		var viewer struct {
			Viewer struct {
				Kind, PlatformRole string
				User               struct{ ID, Email string }
			}
		}
		wantOK(t, gqlOn(t, srv, first.AccessToken, viewerQuery, nil, nil), &viewer)
		if viewer.Viewer.Kind != "user" || viewer.Viewer.User.ID != string(alice) || viewer.Viewer.User.Email != aliceEmail {
			t.Errorf("viewer = %+v, want Alice as a user", viewer.Viewer)
		}
		var own sessionsData
		wantOK(t, gqlOn(t, srv, first.AccessToken, sessionsQuery, nil, nil), &own)
		if own.Sessions.TotalCount != 1 || own.Sessions.Edges[0].Node.ID != first.SessionID {
			t.Errorf("Alice's sessions = %+v, want her one session %s", own.Sessions, first.SessionID)
		}
		if e.activities(t, "session.created") != 1 {
			t.Errorf("session.created activities = %d, want 1", e.activities(t, "session.created"))
		}

		// Refresh rotates the pair; the old access token keeps working
		// until the session ends.
		second := tokensOf(t, refreshOn(t, srv, first.RefreshToken))
		if second.SessionID != first.SessionID || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
			t.Errorf("refresh answer = %+v, want a new pair of the same session", second)
		}
		works(t, second.AccessToken)
		works(t, first.AccessToken)
		if n := e.liveTokens(t, first.SessionID); n != 1 {
			t.Errorf("live refresh tokens = %d, want 1", n)
		}

		// The first refresh token replayed after the grace window: the
		// session is revoked and its access tokens fail at once.
		e.clock.Advance(session.DefaultGrace + time.Second)
		r = refreshOn(t, srv, first.RefreshToken)
		wantAuthError(t, r, http.StatusUnauthorized, graph.CodeRefreshTokenReused)
		assertNoSecrets(t, r, first.RefreshToken, second.RefreshToken)
		unauthorized(t, second.AccessToken)
		unauthorized(t, first.AccessToken)
		wantAuthError(t, refreshOn(t, srv, second.RefreshToken), http.StatusUnauthorized, graph.CodeSessionRevoked)
		if n := e.liveTokens(t, first.SessionID); n != 0 {
			t.Errorf("live refresh tokens of a revoked session = %d, want 0", n)
		}
		if n := e.activities(t, "session.reuse_detected"); n != 1 {
			t.Errorf("session.reuse_detected activities = %d, want 1", n)
		}

		// Logout ends the session: 204, then its refresh token and access
		// token fail.
		s := e.login(t, aliceEmail, testPassword)
		if status, body := logoutRaw(t, srv, s.RefreshToken); status != http.StatusNoContent || len(body) != 0 {
			t.Errorf("logout: HTTP %d %q, want 204 without a body", status, body)
		}
		wantAuthError(t, refreshOn(t, srv, s.RefreshToken), http.StatusUnauthorized, graph.CodeSessionRevoked)
		unauthorized(t, s.AccessToken)
		wantAuthError(t, authPost(t, srv, "/auth/logout", jsonString(t, map[string]string{"refreshToken": s.RefreshToken}), nil),
			http.StatusUnauthorized, graph.CodeSessionRevoked)

		// Switch organization: to one of Alice's, and to a foreign one.
		acme, _, acmeOwnerKey := e.orgFixture(t, "acme")
		globex, _, _ := e.orgFixture(t, "globex")
		e.addMember(t, acme, alice)
		s = e.login(t, aliceEmail, testPassword)
		switchTo := func(t *testing.T, token, org string) response {
			t.Helper()
			return authPost(t, srv, "/auth/switch", jsonString(t, map[string]string{"organizationID": org}), map[string]string{"Authorization": bearer(token)})
		}
		r = switchTo(t, s.AccessToken, string(acme.ID))
		sw := tokensOf(t, r)
		if sw.OrganizationID != string(acme.ID) || sw.SessionID != s.SessionID || sw.RefreshToken != "" {
			t.Errorf("switch answer = %+v, want organization %s, session %s and no refresh token", sw, acme.ID, s.SessionID)
		}
		if c := claimsOf(t, sw.AccessToken); c.Organization != acme.ID {
			t.Errorf("org claim = %q, want %s", c.Organization, acme.ID)
		}
		var inOrg struct {
			Viewer struct{ ActiveOrganization *struct{ ID string } }
		}
		wantOK(t, gqlOn(t, srv, sw.AccessToken, viewerQuery, nil, nil), &inOrg)
		if inOrg.Viewer.ActiveOrganization == nil || inOrg.Viewer.ActiveOrganization.ID != string(acme.ID) {
			t.Errorf("activeOrganization = %+v, want %s", inOrg.Viewer.ActiveOrganization, acme.ID)
		}
		wantOK(t, gqlOn(t, srv, sw.AccessToken, viewerQuery, nil, map[string]string{"X-Organization-ID": string(acme.ID)}), nil)
		wantAuthError(t, gqlOn(t, srv, sw.AccessToken, viewerQuery, nil, map[string]string{"X-Organization-ID": string(globex.ID)}),
			http.StatusForbidden, graph.CodeForbidden)
		r = switchTo(t, sw.AccessToken, string(globex.ID))
		wantAuthError(t, r, http.StatusForbidden, graph.CodeForbidden)
		// The refused switch left the session in acme.
		if c := claimsOf(t, tokensOf(t, refreshOn(t, srv, s.RefreshToken)).AccessToken); c.Organization != acme.ID {
			t.Errorf("after a refused switch the session is in %q, want %s", c.Organization, acme.ID)
		}
		wantAuthError(t, switchTo(t, admin, string(acme.ID)), http.StatusUnauthorized, graph.CodeUnauthenticated)
		if n := e.activities(t, "session.organization_switched"); n != 1 {
			t.Errorf("session.organization_switched activities = %d, want 1", n)
		}

		// Administrators list sessions: the superadmin all of them, acme's
		// owner (session:read in acme, no session of her own) only those
		// active in acme.
		bob := e.newPasswordUser(t, bobEmail, otherPassword)
		bobSession := e.login(t, bobEmail, otherPassword)
		var all, acmeOnly sessionsData
		wantOK(t, gqlOn(t, srv, admin, sessionsQuery, nil, nil), &all)
		if n := e.count(t, `SELECT COUNT(*) FROM cf_sessions`); all.Sessions.TotalCount != n || n < 4 {
			t.Errorf("superadmin sees %d sessions, the database holds %d", all.Sessions.TotalCount, n)
		}
		wantOK(t, gqlOn(t, srv, acmeOwnerKey, sessionsQuery, nil, nil), &acmeOnly)
		inAcme := e.count(t, `SELECT COUNT(*) FROM cf_sessions WHERE organization_id = `+e.q(1), string(acme.ID))
		if acmeOnly.Sessions.TotalCount != inAcme || inAcme != 1 {
			t.Errorf("acme's owner sees %d sessions, %d are active in acme", acmeOnly.Sessions.TotalCount, inAcme)
		}
		for _, ed := range acmeOnly.Sessions.Edges {
			if ed.Node.OrganizationID == nil || *ed.Node.OrganizationID != string(acme.ID) {
				t.Errorf("acme's owner sees session %s of organization %v", ed.Node.ID, ed.Node.OrganizationID)
			}
		}

		// revokeSession by acme's owner: Alice's acme session ends at once;
		// Bob's session (no organization) is out of her reach.
		const revoke = `mutation ($id: ID!) { revokeSession(id: $id) { id revokedAt revokedReason } }`
		var revoked struct {
			RevokeSession struct {
				ID            string
				RevokedAt     *string
				RevokedReason string
			}
		}
		works(t, sw.AccessToken)
		wantOK(t, gqlOn(t, srv, acmeOwnerKey, revoke, map[string]any{"id": s.SessionID}, nil), &revoked)
		if revoked.RevokeSession.RevokedAt == nil || revoked.RevokeSession.RevokedReason != session.RevokedByUser {
			t.Errorf("revokeSession = %+v", revoked.RevokeSession)
		}
		unauthorized(t, sw.AccessToken)
		wantAuthError(t, refreshOn(t, srv, s.RefreshToken), http.StatusUnauthorized, graph.CodeSessionRevoked)
		r = gqlOn(t, srv, acmeOwnerKey, revoke, map[string]any{"id": bobSession.SessionID}, nil)
		if g := r.onlyError(t); g.code() != graph.CodeNotFound && g.code() != graph.CodeForbidden {
			t.Errorf("revoking a session out of reach: code %q, want NOT_FOUND or FORBIDDEN: %s", g.code(), r.raw)
		}
		works(t, bobSession.AccessToken)

		// revokeUserSessions by the superadmin.
		var n struct{ RevokeUserSessions int }
		wantOK(t, gqlOn(t, srv, admin, `mutation ($id: ID!) { revokeUserSessions(userID: $id) }`, map[string]any{"id": string(bob.ID)}, nil), &n)
		if n.RevokeUserSessions != 1 {
			t.Errorf("revokeUserSessions = %d, want 1", n.RevokeUserSessions)
		}
		unauthorized(t, bobSession.AccessToken)

		// changePassword with the access token: a wrong current password
		// is BAD_USER_INPUT and counts as a failed sign-in, kept although
		// the mutation failed; an API key may not; the right one revokes
		// the other sessions.
		const change = `mutation ($cur: String!, $next: String!) { changePassword(currentPassword: $cur, newPassword: $next) }`
		s1 := e.login(t, aliceEmail, testPassword)
		s2 := e.login(t, aliceEmail, testPassword)
		if e.failedLogins(t, alice) != 0 {
			t.Fatalf("failed_logins = %d after a sign-in, want 0", e.failedLogins(t, alice))
		}
		r = gqlOn(t, srv, s1.AccessToken, change, map[string]any{"cur": "Wrong-current-password-1", "next": otherPassword}, nil)
		if g := r.onlyError(t); g.code() != graph.CodeBadUserInput || !strings.Contains(g.Message, "currentPassword") {
			t.Errorf("wrong current password: %s", r.raw)
		}
		assertNoSecrets(t, r, "Wrong-current-password-1", otherPassword)
		if got := e.failedLogins(t, alice); got != 1 {
			t.Errorf("failed_logins = %d after a wrong current password, want 1 (kept although the mutation failed)", got)
		}
		r = gqlOn(t, srv, admin, change, map[string]any{"cur": testPassword, "next": otherPassword}, nil)
		if g := r.onlyError(t); g.code() != graph.CodeForbidden {
			t.Errorf("changePassword with an API key: code %q, want FORBIDDEN: %s", g.code(), r.raw)
		}
		r = gqlOn(t, srv, s1.AccessToken, change, map[string]any{"cur": testPassword, "next": "short"}, nil)
		if g := r.onlyError(t); g.code() != graph.CodeBadUserInput || !strings.Contains(g.Message, "newPassword") {
			t.Errorf("weak new password: %s", r.raw)
		}
		var changed struct{ ChangePassword bool }
		wantOK(t, gqlOn(t, srv, s1.AccessToken, change, map[string]any{"cur": testPassword, "next": otherPassword}, nil), &changed)
		if !changed.ChangePassword {
			t.Error("changePassword = false")
		}
		works(t, s1.AccessToken)
		unauthorized(t, s2.AccessToken)
		wantAuthError(t, loginOn(t, srv, aliceEmail, testPassword), http.StatusUnauthorized, graph.CodeInvalidCredentials)
		e.login(t, aliceEmail, otherPassword)
		if e.activities(t, "user.password_changed") != 1 {
			t.Errorf("user.password_changed activities = %d, want 1", e.activities(t, "user.password_changed"))
		}

		// Lockout after MaxFailedLogins (3) wrong passwords, lifted by a
		// platform admin; acme's owner may not.
		for i := 1; i <= 3; i++ {
			wantAuthError(t, loginOn(t, srv, bobEmail, "Wrong-password-guess-"+strconv.Itoa(i)), http.StatusUnauthorized, graph.CodeInvalidCredentials)
		}
		r = loginOn(t, srv, bobEmail, otherPassword)
		g := wantAuthError(t, r, http.StatusForbidden, graph.CodeAccountLocked)
		if until, _ := g.Extensions["lockedUntil"].(string); until == "" {
			t.Errorf("ACCOUNT_LOCKED without lockedUntil: %s", r.raw)
		} else if tm, err := time.Parse(time.RFC3339, until); err != nil || !tm.After(e.clock.Now()) {
			t.Errorf("lockedUntil = %q, want a future RFC 3339 time", until)
		}
		const unlock = `mutation ($id: ID!) { unlockUser(id: $id) { id failedLogins lockedUntil } }`
		r = gqlOn(t, srv, acmeOwnerKey, unlock, map[string]any{"id": string(bob.ID)}, nil)
		if g := r.onlyError(t); g.code() != graph.CodeForbidden && g.code() != graph.CodeNotFound {
			t.Errorf("unlockUser by an organization owner: code %q, want FORBIDDEN or NOT_FOUND: %s", g.code(), r.raw)
		}
		wantAuthError(t, loginOn(t, srv, bobEmail, otherPassword), http.StatusForbidden, graph.CodeAccountLocked)
		var unlocked struct {
			UnlockUser struct {
				ID           string
				FailedLogins int
				LockedUntil  *string
			}
		}
		wantOK(t, gqlOn(t, srv, admin, unlock, map[string]any{"id": string(bob.ID)}, nil), &unlocked)
		if unlocked.UnlockUser.FailedLogins != 0 || unlocked.UnlockUser.LockedUntil != nil {
			t.Errorf("unlockUser = %+v, want no count and no lock", unlocked.UnlockUser)
		}
		e.login(t, bobEmail, otherPassword)
		if e.activities(t, "user.unlocked") != 1 || e.activities(t, "user.locked") != 1 {
			t.Errorf("user.locked = %d, user.unlocked = %d activities, want 1 each", e.activities(t, "user.locked"), e.activities(t, "user.unlocked"))
		}

		// No activity holds a password or a token.
		rows, err := e.sqlDB.Query(`SELECT verb, COALESCE(CAST(data AS TEXT), '') FROM cf_activities`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var verb, data string
			if err := rows.Scan(&verb, &data); err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{testPassword, otherPassword, first.RefreshToken, second.RefreshToken, first.AccessToken, "cfr_", "eyJ"} {
				if strings.Contains(data, secret) {
					t.Errorf("activity %s holds a secret: %.100s", verb, data)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	})
}

// flip returns s with the byte at i replaced by another base64url
// character, so that the token stays well-formed.
func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func b64(v any) string {
	j, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(j)
}

// TestAuthTokenTampering sends forged, altered, expired and foreign access
// tokens to /graphql: each is 401 UNAUTHENTICATED, and only the token of a
// revoked session, which costs a lookup of its session, counts toward the
// per-address failure limit; tokens refused offline do not.
func TestAuthTokenTampering(t *testing.T) {
	const email = "mallory-target@example.com"
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		e.newPasswordUser(t, email, testPassword)
		valid := e.login(t, email, testPassword).AccessToken
		parts := strings.Split(valid, ".")
		hdr := headerOf(t, valid)
		kid, _ := hdr["kid"].(string)
		claims := claimsOf(t, valid)
		var jwks struct {
			Keys []struct{ Kid, X string }
		}
		r := request(t, e.srv, http.MethodGet, "/.well-known/jwks.json", nil, nil)
		if err := json.Unmarshal(r.raw, &jwks); err != nil || len(jwks.Keys) != 1 || jwks.Keys[0].Kid != kid {
			t.Fatalf("JWKS %s: %v, want the key %s", r.raw, err, kid)
		}
		pub, err := base64.RawURLEncoding.DecodeString(jwks.Keys[0].X)
		if err != nil {
			t.Fatal(err)
		}

		// Other managers over the same database and master key: one whose
		// clock is an hour behind (its tokens have expired), one with
		// another issuer.
		signIn := func(t *testing.T, m *session.Manager) string {
			t.Helper()
			tok, err := m.Login(context.Background(), session.LoginInput{Email: email, Password: testPassword, Client: session.Client{IP: "127.0.0.1"}})
			if err != nil {
				t.Fatal(err)
			}
			return tok.AccessToken
		}
		expired := signIn(t, newManager(t, e.client, e.key, func(c *session.Config) {
			c.Now = func() time.Time { return time.Now().Add(-time.Hour) }
		}))
		foreign := signIn(t, newManager(t, e.client, e.key, func(c *session.Config) { c.Issuer = "someone-else" }))
		hs := map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}
		mac := hmac.New(sha256.New, pub)
		mac.Write([]byte(b64(hs) + "." + parts[1]))
		hs256 := b64(hs) + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		_, stranger, _ := ed25519.GenerateKey(rand.Reader)
		unknownKid, err := accesstoken.Sign(accesstoken.SigningKey{ID: string(pulid.New("sgk")), Private: stranger}, claims)
		if err != nil {
			t.Fatal(err)
		}
		ownKid, err := accesstoken.Sign(accesstoken.SigningKey{ID: kid, Private: stranger}, claims)
		if err != nil {
			t.Fatal(err)
		}
		otherClaims := claims
		otherClaims.Subject = e.adminID // a valid signature is needed to change the subject
		noKid := b64(map[string]any{"alg": "EdDSA", "typ": "at+jwt"}) + "." + parts[1] + "." + parts[2]
		revoked := e.login(t, email, testPassword)
		if err := e.m.Logout(context.Background(), revoked.RefreshToken); err != nil {
			t.Fatal(err)
		}

		cases := []struct {
			name  string
			token string
			// counts: the failure costs a lookup and is counted.
			counts bool
		}{
			{"payload byte flipped", parts[0] + "." + flip(parts[1], len(parts[1])/2) + "." + parts[2], false},
			{"signature byte flipped", parts[0] + "." + parts[1] + "." + flip(parts[2], len(parts[2])/2), false},
			{"subject changed", parts[0] + "." + b64(json.RawMessage(jsonString(t, otherClaims))) + "." + parts[2], false},
			{"signature cut", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4], false},
			{"alg none", b64(map[string]any{"alg": "none", "typ": "at+jwt"}) + "." + parts[1] + ".", false},
			{"alg none with kid", b64(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + "." + parts[2], false},
			{"HS256 keyed with the public key", hs256, false},
			{"typ JWT", b64(map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid}) + "." + parts[1] + "." + parts[2], false},
			{"no kid", noKid, false},
			{"signed by another key under our kid", ownKid, false},
			{"expired", expired, false},
			{"wrong issuer", foreign, false},
			// An unknown kid reloads the keys, at most once a second per
			// server whoever asks: a bounded cost, not counted.
			{"unknown kid", unknownKid, false},
			{"revoked session", revoked.AccessToken, true},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				// A server of its own, whose failure budget is one.
				srv := e.authServer(t, graph.Options{AuthFailureLimit: 1, AuthFailureWindow: time.Hour})
				r := gqlOn(t, srv, c.token, viewerQuery, nil, nil)
				wantAuthError(t, r, http.StatusUnauthorized, graph.CodeUnauthenticated)
				if _, ok := r.top["data"]; ok {
					t.Errorf("data member in a refusal: %s", r.raw)
				}
				assertNoSecrets(t, r, c.token, valid, parts[2])
				// The budget is spent only when the failure was counted.
				r = gqlOn(t, srv, valid, viewerQuery, nil, nil)
				switch {
				case c.counts && r.status != http.StatusTooManyRequests:
					t.Errorf("after a counted failure: HTTP %d, want 429: %s", r.status, r.raw)
				case !c.counts && r.status != http.StatusOK:
					t.Errorf("after a failure that costs no lookup: HTTP %d, want 200 (it should not count): %s", r.status, r.raw)
				}
			})
		}

		// The expired token is refused for its expiry, by the real clock:
		// the same token verifies with the clock it was made with.
		if _, err := newManager(t, e.client, e.key, func(c *session.Config) {
			c.Now = func() time.Time { return time.Now().Add(-time.Hour) }
		}).Authenticate(context.Background(), expired); err != nil {
			t.Errorf("the expired token does not verify at its own time: %v", err)
		}
		// The untouched token still works: nothing above broke the server.
		wantOK(t, gqlOn(t, e.srv, valid, viewerQuery, nil, nil), nil)
	})
}

// TestAuthRateLimits checks the /auth/* limits: per client address over
// every endpoint, and per account for logins.
func TestAuthRateLimits(t *testing.T) {
	retryAfter := func(t *testing.T, r response) {
		t.Helper()
		wantAuthError(t, r, http.StatusTooManyRequests, graph.CodeRateLimited)
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 60 {
			t.Errorf("Retry-After = %q, want whole seconds between 1 and 60", r.header.Get("Retry-After"))
		}
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		e.newPasswordUser(t, "bob@example.com", testPassword)
		e.newPasswordUser(t, "carol@example.com", testPassword)

		t.Run("per address", func(t *testing.T) {
			srv := e.authServer(t, graph.Options{AuthRateIP: 5, AuthRateAccount: 1000})
			var tok tokenAnswer
			for i := range 5 {
				if i == 0 {
					tok = tokensOf(t, loginOn(t, srv, "bob@example.com", testPassword))
					continue
				}
				wantAuthError(t, loginOn(t, srv, fmt.Sprintf("nobody%d@example.com", i), testPassword), http.StatusUnauthorized, graph.CodeInvalidCredentials)
			}
			before := e.rowCounts(t)
			retryAfter(t, loginOn(t, srv, "bob@example.com", testPassword))
			retryAfter(t, loginOn(t, srv, "carol@example.com", testPassword))
			// The address is limited on every endpoint, before its body is read.
			retryAfter(t, refreshOn(t, srv, tok.RefreshToken))
			retryAfter(t, authPost(t, srv, "/auth/logout", `not json`, nil))
			if after := e.rowCounts(t); after != before {
				t.Errorf("rows after = %+v, want %+v: a limited request wrote something", after, before)
			}
			// The limit is that server's /auth/*: /graphql and other servers go on.
			wantOK(t, gqlOn(t, srv, tok.AccessToken, viewerQuery, nil, nil), nil)
			tokensOf(t, refreshOn(t, e.srv, tok.RefreshToken))
		})

		t.Run("per account", func(t *testing.T) {
			srv := e.authServer(t, graph.Options{AuthRateIP: 1000, AuthRateAccount: 3})
			for i := range 3 {
				wantAuthError(t, loginOn(t, srv, "bob@example.com", "Wrong-password-guess-"+strconv.Itoa(i)), http.StatusUnauthorized, graph.CodeInvalidCredentials)
			}
			before := e.rowCounts(t)
			retryAfter(t, loginOn(t, srv, "bob@example.com", testPassword))
			// The account is the email as compared: case and spaces do not
			// make another one.
			retryAfter(t, loginOn(t, srv, "  BOB@Example.com ", testPassword))
			if after := e.rowCounts(t); after != before {
				t.Errorf("rows after = %+v, want %+v: a limited login wrote something", after, before)
			}
			// Another account from the same address goes on.
			tokensOf(t, loginOn(t, srv, "carol@example.com", testPassword))
		})
	})
}

// TestAuthChangePasswordCountsInFragments checks that a wrong current
// password that was checked counts as a failed sign-in however the
// mutation is written. A count rolled back with the request's transaction
// would let the holder of a stolen access token guess the password without
// ever being locked out. (A server may instead refuse a mutation before
// running it; then nothing was guessed and nothing needs counting.)
func TestAuthChangePasswordCountsInFragments(t *testing.T) {
	const email = "dana@example.com"
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupAuth(t, db, graph.Options{}, nil)
		u := e.newPasswordUser(t, email, testPassword)
		tok := e.login(t, email, testPassword)
		const args = `($cur: String!, $next: String!)`
		const call = `changePassword(currentPassword: $cur, newPassword: $next)`
		for _, c := range []struct{ name, query string }{
			{"plain", `mutation ` + args + ` { ` + call + ` }`},
			{"aliased", `mutation ` + args + ` { p: ` + call + ` }`},
			{"twice", `mutation ` + args + ` { a: ` + call + ` b: ` + call + ` }`},
			{"with __typename", `mutation ` + args + ` { __typename ` + call + ` }`},
			{"inline fragment", `mutation ` + args + ` { ... on Mutation { ` + call + ` } }`},
			{"named fragment", `mutation ` + args + ` { ...F } fragment F on Mutation { ` + call + ` }`},
			{"with another mutation", `mutation ` + args + ` { updateUser(id: "` + string(u.ID) + `", input: {firstName: "Dana"}) { id } ` + call + ` }`},
		} {
			t.Run(c.name, func(t *testing.T) {
				before := e.failedLogins(t, u.ID)
				r := gqlOn(t, e.srv, tok.AccessToken, c.query, map[string]any{"cur": "Wrong-current-password-1", "next": otherPassword}, nil)
				if len(r.errors) == 0 {
					t.Fatalf("a wrong current password succeeded: %s", r.raw)
				}
				checked := 0
				for _, g := range r.errors {
					if g.code() != graph.CodeBadUserInput {
						t.Errorf("code = %q, want BAD_USER_INPUT: %s", g.code(), r.raw)
					}
					if strings.Contains(g.Message, "currentPassword") {
						checked++
					}
				}
				if c.name == "plain" && checked != 1 {
					t.Fatalf("the plain mutation did not check the password: %s", r.raw)
				}
				if got := e.failedLogins(t, u.ID); got != before+checked {
					t.Errorf("failed_logins = %d after %d checked wrong current passwords, want %d: the count was rolled back with the request: %s",
						got, checked, before+checked, r.raw)
				}
			})
		}
	})
}
