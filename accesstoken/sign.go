package accesstoken

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Type is the typ header of an access token (RFC 9068). Verify refuses
// tokens with another typ, so that no other JWT signed with the same keys
// (an ID token, say) passes for an access token.
const Type = "at+jwt"

// DefaultLifetime is how long a token signed by Sign lives when its claims
// have no Expiry, and how long the cf identity server's tokens live.
const DefaultLifetime = 15 * time.Minute

// SigningKey is a private key of the issuer and its key ID, the kid header
// of the tokens it signs and of its public key in the JWKS.
type SigningKey struct {
	ID      string // kid
	Private ed25519.PrivateKey
}

// Public returns the public half of k, for MarshalJWKS and StaticKeys; its
// Key is nil when k.Private is not an Ed25519 private key.
func (k SigningKey) Public() PublicKey {
	if len(k.Private) != ed25519.PrivateKeySize {
		return PublicKey{ID: k.ID}
	}
	pub, _ := k.Private.Public().(ed25519.PublicKey)
	return PublicKey{ID: k.ID, Key: pub}
}

// String returns the key ID only, so that printing a SigningKey (%v, %+v,
// %s) does not reveal the private key.
func (k SigningKey) String() string {
	return "accesstoken.SigningKey{ID: " + quote(k.ID) + ", Private: [redacted]}"
}

// GoString is String, for %#v.
func (k SigningKey) GoString() string { return k.String() }

// Sign returns a compact JWS of c signed with key (alg EdDSA, headers kid
// and typ). An IssuedAt of zero is now, an Expiry of zero is IssuedAt plus
// DefaultLifetime, an empty ID is a random one; times are cut to seconds.
//
// Sign refuses claims that Verify would refuse whatever the clock (no
// issuer or audience, IDs of the wrong kind, Expiry not after IssuedAt)
// with an error matching ErrClaims, and a key without ID or of the wrong
// size. Its errors never contain the key.
func Sign(key SigningKey, c Claims) (string, error) {
	if key.ID == "" {
		return "", errors.New("accesstoken: sign: the signing key has no ID")
	}
	if len(key.Private) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("accesstoken: sign: the signing key is %d bytes, want an Ed25519 private key of %d", len(key.Private), ed25519.PrivateKeySize)
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = time.Now()
	}
	c.IssuedAt = c.IssuedAt.Truncate(time.Second)
	if c.Expiry.IsZero() {
		c.Expiry = c.IssuedAt.Add(DefaultLifetime)
	}
	c.Expiry = c.Expiry.Truncate(time.Second)
	if c.ID == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("accesstoken: sign: %w", err)
		}
		c.ID = base64.RawURLEncoding.EncodeToString(b[:])
	}
	if err := c.check(); err != nil {
		return "", fmt.Errorf("accesstoken: sign: %w", err)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("accesstoken: sign: %w", err)
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: key.Private, KeyID: key.ID}},
		(&jose.SignerOptions{}).WithType(Type),
	)
	if err != nil {
		return "", fmt.Errorf("accesstoken: sign: %v", err) //nolint:errorlint // go-jose errors are not part of the API
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("accesstoken: sign: %v", err) //nolint:errorlint // as above
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("accesstoken: sign: %v", err) //nolint:errorlint // as above
	}
	return token, nil
}
