// Package accesstoken signs and verifies the access tokens of cf identity,
// so that another Go service can authenticate its callers offline: no
// database, no call to cf identity per request, only the public keys that
// cf identity publishes at GET /.well-known/jwks.json.
//
// An access token is a JWT (RFC 9068, header typ "at+jwt") signed with
// Ed25519 (alg "EdDSA"), with the ID of its key in the kid header. Its
// claims are iss and aud, sub (the user, "usr_..."), sid (the session,
// "ses_..."), org (the active organization, "org_...", absent when none),
// act (RFC 8693: the impersonating user, absent when nobody impersonates),
// iat, exp and jti. The cf identity server issues tokens that live
// 15 minutes ([DefaultLifetime]); its issuer and audience are configured
// with IDENTITY_TOKEN_ISSUER and IDENTITY_TOKEN_AUDIENCE, both
// "cf-identity" by default, and a verifier must be given the same values.
//
// # Verifying tokens in another service
//
// Build one [Verifier] at start-up and share it; it is safe for concurrent
// use. [RemoteKeys] fetches the key set once, caches it, and fetches again
// when a token names a key it does not know (at most once per
// [RemoteOptions].MinRefetch), so that rotated keys are picked up without a
// restart:
//
//	verifier, err := accesstoken.NewVerifier(accesstoken.VerifierOptions{
//		Issuer:   "cf-identity",
//		Audience: "cf-identity",
//		Keys:     accesstoken.RemoteKeys("https://identity.example.com/.well-known/jwks.json", accesstoken.RemoteOptions{}),
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//
// and authenticate each request in a middleware:
//
//	func authenticate(v *accesstoken.Verifier, next http.Handler) http.Handler {
//		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//			token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
//			if !ok || !accesstoken.LooksLikeJWT(token) {
//				http.Error(w, "unauthenticated", http.StatusUnauthorized) // or try an API key ("cfk_...")
//				return
//			}
//			claims, err := v.Verify(r.Context(), token)
//			switch {
//			case errors.Is(err, accesstoken.ErrKeysUnavailable):
//				http.Error(w, "try again later", http.StatusServiceUnavailable) // says nothing about the token
//				return
//			case err != nil: // matches accesstoken.ErrInvalidToken
//				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
//				http.Error(w, "unauthenticated", http.StatusUnauthorized)
//				return
//			}
//			// claims.Subject is the user, claims.Organization the active
//			// organization, claims.Actor the impersonator (nil when none).
//			next.ServeHTTP(w, r.WithContext(withClaims(r.Context(), claims))) // a context key of yours
//		})
//	}
//
// # What an offline verifier does not know
//
// Only the cf identity server checks revocation. A token whose session was
// revoked (sign-out, password change, an administrator ending the session)
// stays valid for an offline verifier until it expires, at most
// [DefaultLifetime] after it was issued. A service that must notice a
// revocation sooner has to ask cf identity.
//
// # Errors
//
// Every refusal of [Verifier.Verify] matches [ErrInvalidToken] and one of
// the more precise reasons ([ErrMalformed], [ErrAlgorithm], [ErrType],
// [ErrUnknownKey], [ErrSignature], [ErrExpired], [ErrNotYetValid],
// [ErrIssuer], [ErrAudience], [ErrClaims]), which are for logs. An error
// matching [ErrKeysUnavailable] instead means the key set could not be
// fetched, and says nothing about the token. No error message contains the
// token.
package accesstoken
