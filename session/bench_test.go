package session

import (
	"context"
	"testing"

	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/secret"
)

// eachDialect runs f as a sub-benchmark on a new migrated database of every
// dialect of testdb.Dialects (PostgreSQL when IDENTITY_TEST_POSTGRES_URL is
// set).
func eachDialect(b *testing.B, f func(b *testing.B, db testdb.Target)) {
	for _, d := range testdb.Dialects() {
		b.Run(testdb.Target{Dialect: d}.Name(), func(b *testing.B) { f(b, testdb.New(b, d)) })
	}
}

// BenchmarkLogin measures a password sign-in (hash verification, the
// locked user row, a session, its first refresh token, an access token and
// the activity) with the cheapest allowed Argon2 parameters and with the
// defaults.
func BenchmarkLogin(b *testing.B) {
	for _, p := range []struct {
		name   string
		params secret.Argon2Params
	}{
		{"MinArgon2", secret.MinArgon2},
		{"DefaultArgon2", secret.DefaultArgon2},
	} {
		b.Run(p.name, func(b *testing.B) {
			eachDialect(b, func(b *testing.B, db testdb.Target) {
				e := newEnv(b, db, func(c *Config) { c.Argon2 = p.params })
				u := e.user(b, "bench@example.com", testPassword)
				for b.Loop() {
					e.login(b, u.Email, laptop)
				}
			})
		})
	}
}

// BenchmarkRefresh measures one rotation: the session lock, consuming the
// token, its child, the session update, the activity and a new access
// token.
func BenchmarkRefresh(b *testing.B) {
	eachDialect(b, func(b *testing.B, db testdb.Target) {
		e := newEnv(b, db)
		e.user(b, "bench@example.com", testPassword)
		tok := e.login(b, "bench@example.com", laptop)
		for b.Loop() {
			tok = e.refresh(b, tok.RefreshToken, laptop)
		}
	})
}

// BenchmarkAuthenticate measures the check of an access token: signature
// and claims, then the session lookup.
func BenchmarkAuthenticate(b *testing.B) {
	eachDialect(b, func(b *testing.B, db testdb.Target) {
		e := newEnv(b, db)
		e.user(b, "bench@example.com", testPassword)
		tok := e.login(b, "bench@example.com", laptop)
		ctx := context.Background()
		for b.Loop() {
			if _, err := e.m.Authenticate(ctx, tok.AccessToken); err != nil {
				b.Fatal(err)
			}
		}
	})
}
