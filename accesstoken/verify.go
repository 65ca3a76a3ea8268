package accesstoken

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// DefaultLeeway is the clock skew Verify allows when VerifierOptions.Leeway
// is zero.
const DefaultLeeway = 30 * time.Second

// maxTokenBytes is the longest token Verify reads; cf identity's are about
// 500 bytes.
const maxTokenBytes = 8 << 10

// VerifierOptions configure NewVerifier.
type VerifierOptions struct {
	// Issuer is the iss a token must have (the server's
	// IDENTITY_TOKEN_ISSUER, "cf-identity" by default). Required.
	Issuer string
	// Audience must be one of the token's aud (the server's
	// IDENTITY_TOKEN_AUDIENCE, "cf-identity" by default). Required.
	Audience string
	// Keys gives the public keys: RemoteKeys or StaticKeys. Required.
	Keys KeySource
	// Leeway is the clock skew allowed on exp and iat; zero is
	// DefaultLeeway (30s).
	Leeway time.Duration
	// Now returns the current time; nil is time.Now.
	Now func() time.Time
}

// Verifier checks access tokens offline. It is safe for concurrent use.
type Verifier struct {
	issuer, audience string
	keys             KeySource
	leeway           time.Duration
	now              func() time.Time
}

// NewVerifier returns a Verifier, or an error naming a missing required
// option or a negative Leeway.
func NewVerifier(opts VerifierOptions) (*Verifier, error) {
	var missing []string
	if opts.Issuer == "" {
		missing = append(missing, "Issuer")
	}
	if opts.Audience == "" {
		missing = append(missing, "Audience")
	}
	if opts.Keys == nil {
		missing = append(missing, "Keys")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("accesstoken: VerifierOptions: %s required", strings.Join(missing, ", "))
	}
	if opts.Leeway < 0 {
		return nil, fmt.Errorf("accesstoken: VerifierOptions: negative Leeway %v", opts.Leeway)
	}
	v := &Verifier{issuer: opts.Issuer, audience: opts.Audience, keys: opts.Keys, leeway: opts.Leeway, now: opts.Now}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Verify checks token, a compact JWS, and returns its claims: the header
// must have alg EdDSA, typ at+jwt and the kid of a key of the KeySource,
// the signature must verify with that key, exp must be in the future and
// iat (and nbf, if present) not in the future (both within the leeway),
// iss must be the issuer, aud must hold the audience, and sub, sid, org
// and act must be IDs of the right kinds.
//
// A refused token gives an error matching ErrInvalidToken and the reason
// (ErrMalformed, ErrAlgorithm, ErrType, ErrUnknownKey, ErrSignature,
// ErrExpired, ErrNotYetValid, ErrIssuer, ErrAudience or ErrClaims). When
// the keys could not be obtained the error matches ErrKeysUnavailable
// instead and says nothing about the token. Error messages never contain
// the token.
//
// Verify does not know whether the token's session was revoked: see the
// package documentation.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, fmt.Errorf("%w: empty", ErrMalformed)
	}
	if len(token) > maxTokenBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenBytes)
	}
	if err := canonical(token); err != nil {
		return nil, err
	}
	// The allowed algorithms are ours, not the token's: go-jose refuses
	// any other alg before anything else is looked at.
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return nil, fmt.Errorf("%w: alg %s", ErrAlgorithm, quote(string(alg.Got)))
		}
		return nil, fmt.Errorf("%w: not a compact JWS with a JSON header", ErrMalformed)
	}
	if len(jws.Signatures) != 1 {
		return nil, fmt.Errorf("%w: %d signatures", ErrMalformed, len(jws.Signatures))
	}
	h := jws.Signatures[0].Protected
	if h.Algorithm != string(jose.EdDSA) { // ParseSignedCompact saw to it; checked again for the record
		return nil, fmt.Errorf("%w: alg %s", ErrAlgorithm, quote(h.Algorithm))
	}
	for _, name := range []jose.HeaderKey{"crit", "b64"} {
		if _, ok := h.ExtraHeaders[name]; ok {
			return nil, fmt.Errorf("%w: header %s", ErrMalformed, name)
		}
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !isType(typ) {
		return nil, fmt.Errorf("%w: typ %s, want %q", ErrType, quote(typ), Type)
	}
	if h.KeyID == "" {
		return nil, fmt.Errorf("%w: no kid", ErrUnknownKey)
	}
	key, err := v.keys.PublicKey(ctx, h.KeyID)
	switch {
	case err == nil:
		if len(key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: the key source gave a key of %d bytes for kid %s", ErrKeysUnavailable, len(key), quote(h.KeyID))
		}
	case errors.Is(err, ErrUnknownKey), errors.Is(err, ErrKeysUnavailable):
		return nil, err
	default:
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, fmt.Errorf("%w: kid %s", ErrSignature, quote(h.KeyID))
	}

	var j jsonClaims
	if err := j.decode(payload); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	c := j.claims()
	switch {
	case c.Expiry.IsZero():
		return nil, fmt.Errorf("%w: no exp", ErrClaims)
	case c.IssuedAt.IsZero():
		return nil, fmt.Errorf("%w: no iat", ErrClaims)
	}
	now := v.now()
	if !now.Before(c.Expiry.Add(v.leeway)) {
		return nil, fmt.Errorf("%w: at %s", ErrExpired, c.Expiry.Format(time.RFC3339))
	}
	if c.IssuedAt.After(now.Add(v.leeway)) {
		return nil, fmt.Errorf("%w: issued at %s", ErrNotYetValid, c.IssuedAt.Format(time.RFC3339))
	}
	if nbf := j.NotBefore.time(); !nbf.IsZero() && nbf.After(now.Add(v.leeway)) {
		return nil, fmt.Errorf("%w: not before %s", ErrNotYetValid, nbf.Format(time.RFC3339))
	}
	if c.Issuer != v.issuer {
		return nil, fmt.Errorf("%w: iss %s", ErrIssuer, quote(c.Issuer))
	}
	if !slices.Contains(c.Audience, v.audience) {
		return nil, fmt.Errorf("%w: aud does not hold %s", ErrAudience, quote(v.audience))
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return &c, nil
}

// canonical checks that token is three segments of canonical unpadded
// base64url (the signature may be empty, as in an alg "none" token, which
// is then refused for its alg), so that a token is accepted only as the
// exact string that was signed: decoders ignore line breaks and the unused
// bits of the last character, and go-jose verifies the re-encoded segments.
func canonical(token string) error {
	for i := 0; i < len(token); i++ {
		if c := token[i]; c != '.' && !isBase64URL(c) {
			return fmt.Errorf("%w: a byte that is not base64url at offset %d", ErrMalformed, i)
		}
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: %d dot-separated segments, want 3", ErrMalformed, len(parts))
	}
	for i, p := range parts {
		if p == "" && i < 2 {
			return fmt.Errorf("%w: empty segment %d", ErrMalformed, i+1)
		}
		if _, err := base64.RawURLEncoding.Strict().DecodeString(p); err != nil {
			return fmt.Errorf("%w: segment %d is not canonical base64url", ErrMalformed, i+1)
		}
	}
	return nil
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// isType reports whether typ names the at+jwt media type; RFC 7515 allows
// the "application/" prefix and media types are case-insensitive.
func isType(typ string) bool {
	return strings.EqualFold(typ, Type) || strings.EqualFold(typ, "application/"+Type)
}

// LooksLikeJWT reports whether s has the shape of a compact JWS: three
// non-empty base64url segments separated by dots. It tells an access
// token from an API key ("cfk_...") in an Authorization header; it
// verifies nothing.
func LooksLikeJWT(s string) bool {
	n := 0
	seg := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if seg == 0 {
				return false
			}
			n++
			seg = 0
		case isBase64URL(c):
			seg++
		default:
			return false
		}
	}
	return n == 2 && seg > 0
}
