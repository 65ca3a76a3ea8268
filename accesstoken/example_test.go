package accesstoken_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/cf/identity/accesstoken"
)

// A service verifies a token with the keys of the issuer; here the key set
// is given (StaticKeys) where a service would use RemoteKeys with the URL
// of cf identity's /.well-known/jwks.json.
func ExampleVerifier_Verify() {
	issuedAt := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	key := accesstoken.SigningKey{ID: "2025-03", Private: ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))}
	c := accesstoken.Claims{
		Issuer: "cf-identity", Audience: []string{"cf-identity"},
		Subject: "usr_01JD3Q6X6S4W7N9ZKX2C1V0B8E", SessionID: "ses_01JD3Q6X6S4W7N9ZKX2C1V0B8G",
		Organization: "org_01JD3Q6X6S4W7N9ZKX2C1V0B8H",
		IssuedAt:     issuedAt,
	}
	token, _ := accesstoken.Sign(key, c)

	v, err := accesstoken.NewVerifier(accesstoken.VerifierOptions{
		Issuer:   "cf-identity",
		Audience: "cf-identity",
		Keys:     accesstoken.StaticKeys(key.Public()),
		Now:      func() time.Time { return issuedAt.Add(time.Minute) },
	})
	if err != nil {
		panic(err)
	}
	claims, err := v.Verify(context.Background(), token)
	if err != nil {
		panic(err)
	}
	fmt.Println(claims.Subject, claims.Organization, claims.Expiry)

	// A token signed by another key under the same kid is refused, with a
	// reason for the logs.
	forger := accesstoken.SigningKey{ID: "2025-03", Private: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))}
	forged, _ := accesstoken.Sign(forger, c)
	_, err = v.Verify(context.Background(), forged)
	fmt.Println(errors.Is(err, accesstoken.ErrInvalidToken), err)
	// Output:
	// usr_01JD3Q6X6S4W7N9ZKX2C1V0B8E org_01JD3Q6X6S4W7N9ZKX2C1V0B8H 2025-03-04 05:21:07 +0000 UTC
	// true accesstoken: invalid signature: kid "2025-03"
}
