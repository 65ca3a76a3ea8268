package graph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/session"
	"github.com/cf/identity/storage"
)

// TestTwoServerSignIn runs two servers, each with its own database
// connections and session.Manager (one master key), over one PostgreSQL
// database, and checks that they behave as one: tokens of one work on the
// other, a reuse detected on one revokes the session on both, a key
// rotated on one verifies on the other, and failed logins add up.
func TestTwoServerSignIn(t *testing.T) {
	if os.Getenv(testdb.EnvPostgres) == "" {
		t.Skipf("two servers need one shared PostgreSQL database: set %s to run this test", testdb.EnvPostgres)
	}
	ctx := context.Background()
	db := testdb.New(t, dialect.Postgres)
	c1, sqlDB := testdb.Migrated(t, db)
	c2, _, _, err := storage.Open(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c2.Close() })
	key := newMasterKey(t)
	clk := newClock()
	withClock := func(c *session.Config) { c.Now = clk.Now }
	m1 := newManager(t, c1, key, withClock)
	m2 := newManager(t, c2, key, withClock)
	start := func(c *ent.Client, m *session.Manager) *httptest.Server {
		srv := httptest.NewServer(graph.NewHandler(c, graph.Options{Sessions: m, AuthRateIP: -1, AuthRateAccount: -1, Logger: discardLogger()}))
		t.Cleanup(srv.Close)
		return srv
	}
	srv1, srv2 := start(c1, m1), start(c2, m2)
	e := &env{db: db, client: c1, sqlDB: sqlDB, srv: srv1}

	const email, lockEmail = "alice@example.com", "locked-out@example.com"
	active := user.StatusActive
	for _, address := range []string{email, lockEmail} {
		pw := testPassword
		if _, err := m1.CreateUser(sys(), c1, ent.CreateUserInput{Email: address, Status: &active}, &pw); err != nil {
			t.Fatal(err)
		}
	}
	works := func(t *testing.T, srv *httptest.Server, token string) {
		t.Helper()
		wantOK(t, gqlOn(t, srv, token, viewerQuery, nil, nil), nil)
	}
	refused := func(t *testing.T, srv *httptest.Server, token string) {
		t.Helper()
		wantAuthError(t, gqlOn(t, srv, token, viewerQuery, nil, nil), http.StatusUnauthorized, graph.CodeUnauthenticated)
	}

	t.Run("refresh and reuse across servers", func(t *testing.T) {
		first := tokensOf(t, loginOn(t, srv1, email, testPassword))
		works(t, srv2, first.AccessToken)
		second := tokensOf(t, refreshOn(t, srv2, first.RefreshToken))
		works(t, srv1, second.AccessToken)
		clk.Advance(session.DefaultGrace + time.Second)
		wantAuthError(t, refreshOn(t, srv1, first.RefreshToken), http.StatusUnauthorized, graph.CodeRefreshTokenReused)
		for _, srv := range []*httptest.Server{srv1, srv2} {
			refused(t, srv, first.AccessToken)
			refused(t, srv, second.AccessToken)
			wantAuthError(t, refreshOn(t, srv, second.RefreshToken), http.StatusUnauthorized, graph.CodeSessionRevoked)
		}
		if n := e.liveTokens(t, first.SessionID); n != 0 {
			t.Errorf("live refresh tokens of the revoked session = %d, want 0", n)
		}
		if n := e.activities(t, "session.reuse_detected"); n != 1 {
			t.Errorf("session.reuse_detected activities = %d, want 1", n)
		}
	})

	t.Run("key rotation", func(t *testing.T) {
		before := tokensOf(t, loginOn(t, srv1, email, testPassword))
		oldKid, _ := headerOf(t, before.AccessToken)["kid"].(string)
		newKid, err := m1.RotateKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if newKid == oldKid {
			t.Fatalf("RotateKeys returned the current kid %s", oldKid)
		}
		after := tokensOf(t, loginOn(t, srv1, email, testPassword))
		if kid, _ := headerOf(t, after.AccessToken)["kid"].(string); kid != newKid {
			t.Fatalf("server 1 signs with %q after rotating, want %s", kid, newKid)
		}
		// Server 2 has not seen the new key: the unknown kid reloads its
		// keys from the database (at most once a second, by its clock).
		clk.Advance(2 * time.Second)
		works(t, srv2, after.AccessToken)
		works(t, srv2, before.AccessToken) // the retired key verifies until its tokens expire
		works(t, srv1, before.AccessToken)
		for i, srv := range []*httptest.Server{srv1, srv2} {
			r := request(t, srv, http.MethodGet, "/.well-known/jwks.json", nil, nil)
			var set struct{ Keys []struct{ Kid string } }
			if err := json.Unmarshal(r.raw, &set); err != nil {
				t.Fatalf("server %d JWKS %s: %v", i+1, r.raw, err)
			}
			var kids []string
			for _, k := range set.Keys {
				kids = append(kids, k.Kid)
			}
			slices.Sort(kids)
			want := []string{oldKid, newKid}
			slices.Sort(want)
			if !slices.Equal(kids, want) {
				t.Errorf("server %d JWKS lists %v, want %v", i+1, kids, want)
			}
			if strings.Contains(string(r.raw), `"d"`) {
				t.Errorf("server %d JWKS holds a private key: %s", i+1, r.raw)
			}
		}
		// Server 2 keeps signing with the key it loaded until its signer
		// is older than 30 s, then signs with the new one.
		clk.Advance(31 * time.Second)
		later := tokensOf(t, loginOn(t, srv2, email, testPassword))
		if kid, _ := headerOf(t, later.AccessToken)["kid"].(string); kid != newKid {
			t.Errorf("server 2 signs with %q 31 s after the rotation, want %s", kid, newKid)
		}
		works(t, srv1, later.AccessToken)
	})

	t.Run("lockout adds up", func(t *testing.T) {
		// 5 wrong passwords on each server at once, with MaxFailedLogins
		// 10: every one counts under the row lock, and the account locks.
		type result struct{ status int }
		results := make([]result, 10)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv := []*httptest.Server{srv1, srv2}[i%2]
				body := jsonString(t, map[string]string{"email": lockEmail, "password": "Wrong-password-guess-" + strings.Repeat("x", i)})
				req, err := http.NewRequest(http.MethodPost, srv.URL+"/auth/login", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				results[i] = result{resp.StatusCode}
			}()
		}
		wg.Wait()
		for i, r := range results {
			if r.status != http.StatusUnauthorized {
				t.Errorf("wrong password %d on server %d: HTTP %d, want 401", i+1, i%2+1, r.status)
			}
		}
		if n := e.count(t, `SELECT failed_logins FROM cf_users WHERE email = $1`, lockEmail); n != 10 {
			t.Errorf("failed_logins = %d after 5 wrong passwords on each server, want 10", n)
		}
		if n := e.activities(t, "user.locked"); n != 1 {
			t.Errorf("user.locked activities = %d, want 1", n)
		}
		for i, srv := range []*httptest.Server{srv1, srv2} {
			r := loginOn(t, srv, lockEmail, testPassword)
			g := wantAuthError(t, r, http.StatusForbidden, graph.CodeAccountLocked)
			if g.Extensions["lockedUntil"] == nil {
				t.Errorf("server %d: ACCOUNT_LOCKED without lockedUntil: %s", i+1, r.raw)
			}
		}
	})
}
