package accesstoken_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/accesstoken"
)

// FuzzVerify checks that Verify never panics, that every refusal matches
// ErrInvalidToken and does not repeat the token, and that it accepts only
// tokens whose header and payload segments, exactly as given, carry an
// Ed25519 signature of the trusted key.
func FuzzVerify(f *testing.F) {
	good := sign(f, key1, claims())
	h, p, s := split(good)
	impersonated := claims()
	impersonated.Actor = &accesstoken.Actor{Subject: admin}
	impersonated.Organization = org
	for _, seed := range []string{
		good, sign(f, key1, impersonated), sign(f, key2, claims()), sign(f, key1Evil, claims()),
		"eyJhbGciOiJub25lIn0." + p + ".", h + "." + p + ".", h + "." + p, good + ".", h + ".." + s,
		signRaw(key1.Private, header("k1"), rawClaims(map[string]any{"sub": string(org)})),
		signRaw(key1.Private, header("k1"), []byte(`{}`)),
		signRaw(key1.Private, map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": "k1"}, rawClaims(nil)),
		"", ".", "..", "a.b.c", "cfk_abcdefgh_secret", `{"payload":"` + p + `"}`,
	} {
		f.Add(seed)
	}
	trusted := key1.Public().Key
	v := verifier(f, accesstoken.StaticKeys(key1.Public()))
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		if err != nil {
			if c != nil {
				t.Fatalf("Verify returned claims with the error %v", err)
			}
			if !errors.Is(err, accesstoken.ErrInvalidToken) {
				t.Fatalf("Verify: %v, want an error matching ErrInvalidToken", err)
			}
			if len(token) >= 24 && strings.Contains(err.Error(), token) {
				t.Fatalf("the error message holds the token: %v", err)
			}
			return
		}
		i := strings.LastIndexByte(token, '.')
		sig, derr := base64.RawURLEncoding.Strict().DecodeString(token[i+1:])
		if derr != nil || !ed25519.Verify(trusted, []byte(token[:i]), sig) {
			t.Fatalf("Verify accepted %q, which the trusted key did not sign", token)
		}
		if c.Subject.Prefix() != "usr" || c.SessionID.Prefix() != "ses" || !c.Expiry.After(now.Add(-time.Minute)) {
			t.Fatalf("Verify accepted claims %+v", c)
		}
	})
}
