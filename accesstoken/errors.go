package accesstoken

import (
	"errors"
	"strconv"
)

// ErrInvalidToken is matched (errors.Is) by every error of
// [Verifier.Verify] that means the token does not authenticate anyone.
// Each such error also matches one of the reasons below.
var ErrInvalidToken = errors.New("accesstoken: invalid token")

// ErrKeysUnavailable is matched by the error of [Verifier.Verify] and of a
// [KeySource] when the public keys could not be obtained (the JWKS endpoint
// did not answer, or answered with something that is not a key set). The
// error wraps the cause. It does not match ErrInvalidToken: it says nothing
// about the token, and a caller should answer "try again", not "sign in".
var ErrKeysUnavailable = errors.New("accesstoken: keys unavailable")

// Reasons a token is invalid. Each matches ErrInvalidToken; the errors
// returned wrap them with details (never the token itself).
var (
	// ErrMalformed: not a compact JWS (three segments of canonical
	// base64url) with a JSON header, a header this package does not accept
	// (crit, b64), or a token of more than 8 KiB.
	ErrMalformed error = invalidToken("malformed token")
	// ErrAlgorithm: the alg header is not EdDSA ("none", "HS256", ...).
	ErrAlgorithm error = invalidToken("signature algorithm not allowed")
	// ErrType: the typ header is not "at+jwt".
	ErrType error = invalidToken("not an access token")
	// ErrUnknownKey: the token has no kid, or its kid is not in the key set.
	ErrUnknownKey error = invalidToken("unknown signing key")
	// ErrSignature: the signature does not verify with the key of the kid.
	ErrSignature error = invalidToken("invalid signature")
	// ErrExpired: exp is past, beyond the leeway.
	ErrExpired error = invalidToken("token expired")
	// ErrNotYetValid: iat (or nbf) is in the future, beyond the leeway.
	ErrNotYetValid error = invalidToken("token not yet valid")
	// ErrIssuer: iss is not the configured issuer.
	ErrIssuer error = invalidToken("wrong issuer")
	// ErrAudience: aud does not hold the configured audience.
	ErrAudience error = invalidToken("wrong audience")
	// ErrClaims: a claim is missing or malformed: sub not a user ID, sid not
	// a session ID, org not an organization ID, act.sub not a user ID, no
	// exp, iat or jti, or claims that are not a JSON object.
	ErrClaims error = invalidToken("invalid claims")
)

// invalidToken is the type of the reasons a token is invalid.
type invalidToken string

func (e invalidToken) Error() string { return "accesstoken: " + string(e) }

// Is reports whether target is ErrInvalidToken.
func (e invalidToken) Is(target error) bool { return target == ErrInvalidToken }

// quote returns s quoted, cut to 64 bytes: values read from a token appear
// in error messages only this way.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
