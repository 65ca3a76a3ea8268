package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/migrate"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
)

// dumpedSecret is a value that must not appear in the database.
type dumpedSecret struct {
	name  string
	value []byte
}

// dump renders every column of every row of every table of the schema as
// text; byte values also as hex and base64 (standard and URL, padded and
// not). It returns the text and the number of rows per table.
func dump(t testing.TB, e *env) (string, map[string]int) {
	t.Helper()
	var b strings.Builder
	rowsOf := map[string]int{}
	for _, table := range migrate.Tables {
		rows, err := e.sql.QueryContext(context.Background(), `SELECT * FROM "`+table.Name+`"`)
		if err != nil {
			t.Fatalf("dumping %s: %v", table.Name, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("dumping %s: %v", table.Name, err)
			}
			rowsOf[table.Name]++
			fmt.Fprintf(&b, "%s:", table.Name)
			for i, v := range vals {
				fmt.Fprintf(&b, " %s=", cols[i])
				switch x := v.(type) {
				case nil:
					b.WriteString("NULL")
				case []byte:
					b.WriteString(strings.Join(encodings(x), " | "))
				case string:
					b.WriteString(x)
				case time.Time:
					b.WriteString(x.UTC().Format(time.RFC3339Nano))
				default:
					fmt.Fprint(&b, x)
				}
			}
			b.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String(), rowsOf
}

// After every flow of the package (failed and successful sign-ins, a lock,
// refreshes, a grace retry, a reuse, logout, password changes and sets, a
// user created with a password, key rotation), no table holds a password,
// a refresh token (or its secret part), an access token (or its
// signature), a private signing key or the master key, in any encoding
// the dump shows; it does hold the refresh token digests.
func TestDumpHoldsNoSecret(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db, func(c *Config) { c.MaxFailedLogins = 3 })
		ctx := context.Background()
		var secrets []dumpedSecret
		add := func(name string, v []byte) { secrets = append(secrets, dumpedSecret{name, v}) }
		addKey := func(when string) {
			k, err := e.m.keys.signer(ctx)
			if err != nil {
				t.Fatal(err)
			}
			add("signing key seed "+when, k.Private.Seed())
			add("signing private key "+when, k.Private)
		}
		var refreshTokens []string
		addTokens := func(name string, tok *Tokens) {
			refreshTokens = append(refreshTokens, tok.RefreshToken)
			add(name+" refresh token", []byte(tok.RefreshToken))
			add(name+" refresh token secret part", []byte(tok.RefreshToken[strings.LastIndex(tok.RefreshToken, "_")+1:]))
			add(name+" access token", []byte(tok.AccessToken))
			sig := tok.AccessToken[strings.LastIndex(tok.AccessToken, ".")+1:]
			add(name+" access token signature", []byte(sig))
			raw, err := base64.RawURLEncoding.DecodeString(sig)
			if err != nil {
				t.Fatal(err)
			}
			add(name+" access token signature bytes", raw)
		}
		addKey("before rotation")
		add("master key", e.m.cfg.MasterKey)
		const (
			unknownPassword = "password-for-nobody-4711"
			createdPassword = "walrus-quartet-meadow-sundial-08"
			setPassword     = "violin-harbor-cactus-nebula-53"
			refusedPassword = "password1234"
		)
		for name, p := range map[string]string{
			"right password": testPassword, "wrong password": wrongPassword, "changed password": newPassword,
			"password of an unknown email": unknownPassword, "password of a created user": createdPassword,
			"password set by an admin": setPassword, "refused new password": refusedPassword,
		} {
			add(name, []byte(p))
		}

		admin := e.user(t, "root@example.com", testPassword, func(q *ent.UserCreate) { q.SetPlatformRole(user.PlatformRoleAdmin) })
		u := e.user(t, "tess@example.com", testPassword)
		acme := e.org(t, u, "acme")

		// Failed sign-ins, a lock, and its end.
		if _, err := e.m.Login(ctx, LoginInput{Email: "nobody@example.com", Password: unknownPassword, Client: laptop}); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("unknown email: %v", err)
		}
		for range 3 {
			if _, err := e.m.Login(ctx, LoginInput{Email: u.Email, Password: wrongPassword, Client: laptop}); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("wrong password: %v", err)
			}
		}
		if _, err := e.m.Login(ctx, LoginInput{Email: u.Email, Password: testPassword, Client: laptop}); !errors.Is(err, ErrLocked) {
			t.Fatalf("locked: %v", err)
		}
		e.clock.Advance(e.m.cfg.LockBase)

		// Sign-in, rotation, a grace retry, a reuse.
		t0 := e.login(t, u.Email, laptop)
		addTokens("t0", t0)
		t1 := e.refresh(t, t0.RefreshToken, laptop)
		addTokens("t1", t1)
		e.clock.Advance(2 * time.Second)
		t2 := e.refresh(t, t0.RefreshToken, laptop) // grace retry
		addTokens("t2", t2)
		if _, err := e.m.Refresh(ctx, t1.RefreshToken, laptop); !errors.Is(err, ErrTokenReused) {
			t.Fatalf("reuse: %v", err)
		}

		// A session in an organization, refreshed, logged out.
		t3, err := e.m.Login(ctx, LoginInput{Email: u.Email, Password: testPassword, OrganizationID: acme.ID, Client: phone})
		if err != nil {
			t.Fatal(err)
		}
		addTokens("t3", t3)
		t4 := e.refresh(t, t3.RefreshToken, phone)
		addTokens("t4", t4)
		if err := e.m.Logout(ctx, t4.RefreshToken); err != nil {
			t.Fatalf("Logout: %v", err)
		}

		// Password changes: refused, wrong, right.
		t5, t6 := e.login(t, u.Email, laptop), e.login(t, u.Email, phone)
		addTokens("t5", t5)
		addTokens("t6", t6)
		self := e.asToken(t, t5.AccessToken)
		if err := e.m.ChangePassword(self, e.c, testPassword, refusedPassword); err == nil {
			t.Fatalf("a common new password was accepted")
		}
		if err := e.m.ChangePassword(self, e.c, wrongPassword, newPassword); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("wrong current password: %v", err)
		}
		if err := e.m.ChangePassword(self, e.c, testPassword, newPassword); err != nil {
			t.Fatalf("ChangePassword: %v", err)
		}

		// An admin creates a user with a password and sets another's.
		asAdmin := e.as(t, actor.User(admin.ID, actor.PlatformAdmin))
		pw := createdPassword
		created, err := e.m.CreateUser(asAdmin, e.c, ent.CreateUserInput{Email: "uma@example.com", Status: ptr(user.StatusActive)}, &pw)
		if err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if err := e.m.SetPassword(asAdmin, e.c, created.ID, setPassword); err != nil {
			t.Fatalf("SetPassword: %v", err)
		}

		// Key rotation, and tokens signed by the new key.
		if _, err := e.m.RotateKeys(ctx); err != nil {
			t.Fatalf("RotateKeys: %v", err)
		}
		addKey("after rotation")
		t7, err := e.m.Login(ctx, LoginInput{Email: created.Email, Password: setPassword, Client: laptop})
		if err != nil {
			t.Fatalf("Login with the set password: %v", err)
		}
		addTokens("t7", t7)
		addTokens("t8", e.refresh(t, t7.RefreshToken, laptop))

		text, rows := dump(t, e)
		for _, table := range []string{"cf_users", "cf_sessions", "cf_refresh_tokens", "cf_activities", "cf_signing_keys"} {
			if rows[table] == 0 {
				t.Errorf("the dump has no row of %s", table)
			}
		}
		if !strings.Contains(text, u.Email) {
			t.Errorf("the dump lacks the user's email: the dump is broken")
		}
		for _, s := range secrets {
			for i, enc := range encodings(s.value) {
				if strings.Contains(text, enc) {
					t.Errorf("the database holds the %s (encoding %d of encodings)", s.name, i)
				}
			}
		}
		for i, tok := range refreshTokens {
			sum := sha256.Sum256([]byte(tok))
			if !strings.Contains(text, hex.EncodeToString(sum[:])) {
				t.Errorf("the dump lacks the digest of refresh token %d: the search cannot see stored bytes", i)
			}
		}
		t.Logf("%d secrets checked in %d encodings against a dump of %d bytes (%v rows)", len(secrets), len(encodings(nil)), len(text), rows)
	})
}

func ptr[T any](v T) *T { return &v }
