// Command verify checks cf identity access tokens the way another Go
// service does: offline, against the public keys that cf identity
// publishes at /.well-known/jwks.json, with package
// github.com/cf/identity/accesstoken.
//
//	verify -jwks https://identity.example.com/.well-known/jwks.json [-issuer ISS] [-audience AUD] [token]
//	verify -jwks-file jwks.json [token]
//	verify -demo
//
// The token is the argument, or else each line of the standard input (a
// "Bearer " prefix is dropped). For each valid token it prints a JSON line
// with the user, session, organization, impersonator and expiry; for an
// invalid one it prints the error and its reason to the standard error.
// It exits 0 when every token is valid, 1 when one is not, and 2 on a
// usage error. -issuer and -audience default to "cf-identity", the
// defaults of the server (IDENTITY_TOKEN_ISSUER, IDENTITY_TOKEN_AUDIENCE).
//
// -demo is the CI check of this example: it serves a key set on a loopback
// port, signs tokens with its private key, and runs the command above on a
// valid token and on expired, tampered, forged, alg "none" and
// wrong-audience ones; it exits non-zero unless each gives the expected
// outcome.
//
// # In a service
//
// A service builds one Verifier at start-up and calls Verify in its
// authentication middleware; see the package documentation of accesstoken
// for the middleware. The Verifier answers from memory: RemoteKeys fetches
// the key set once, caches it for an hour (or the Cache-Control max-age of
// the response), and fetches again when a token names a kid it does not
// know, so that a key rotation needs no restart. An error matching
// accesstoken.ErrInvalidToken is a 401; one matching
// accesstoken.ErrKeysUnavailable is a 503 (the keys could not be fetched,
// the token may be fine). Tokens live 15 minutes, and an offline verifier
// accepts a token until it expires even if its session was revoked: only
// the cf identity server checks revocation.
package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cf/identity/accesstoken"
	"github.com/cf/identity/pulid"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// line is the JSON line printed for a valid token.
type line struct {
	User         pulid.ID  `json:"user"`
	Session      pulid.ID  `json:"session"`
	Organization pulid.ID  `json:"organization,omitempty"`
	Impersonator pulid.ID  `json:"impersonator,omitempty"`
	Expires      time.Time `json:"expires"`
}

// reasons name the error reasons of accesstoken, for the output.
var reasons = []struct {
	err  error
	name string
}{
	{accesstoken.ErrMalformed, "ErrMalformed"},
	{accesstoken.ErrAlgorithm, "ErrAlgorithm"},
	{accesstoken.ErrType, "ErrType"},
	{accesstoken.ErrUnknownKey, "ErrUnknownKey"},
	{accesstoken.ErrSignature, "ErrSignature"},
	{accesstoken.ErrExpired, "ErrExpired"},
	{accesstoken.ErrNotYetValid, "ErrNotYetValid"},
	{accesstoken.ErrIssuer, "ErrIssuer"},
	{accesstoken.ErrAudience, "ErrAudience"},
	{accesstoken.ErrClaims, "ErrClaims"},
	{accesstoken.ErrKeysUnavailable, "ErrKeysUnavailable"},
}

func reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "unknown"
}

// run is the command; it returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	jwksURL := fs.String("jwks", "", "URL of the key set, such as https://identity.example.com/.well-known/jwks.json")
	jwksFile := fs.String("jwks-file", "", "file holding the key set (instead of -jwks)")
	issuer := fs.String("issuer", "cf-identity", "the iss of the tokens (the server's IDENTITY_TOKEN_ISSUER)")
	audience := fs.String("audience", "cf-identity", "an aud of the tokens (the server's IDENTITY_TOKEN_AUDIENCE)")
	demo := fs.Bool("demo", false, "serve a key set locally, sign tokens and check the outcomes (the CI check)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: verify -jwks URL [-issuer ISS] [-audience AUD] [token]\n       verify -jwks-file FILE [-issuer ISS] [-audience AUD] [token]\n       verify -demo")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *demo {
		if err := runDemo(ctx, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "verify -demo:", err)
			return 1
		}
		return 0
	}
	if (*jwksURL == "") == (*jwksFile == "") || fs.NArg() > 1 {
		fs.Usage()
		return 2
	}

	var keys accesstoken.KeySource
	if *jwksURL != "" {
		keys = accesstoken.RemoteKeys(*jwksURL, accesstoken.RemoteOptions{})
	} else {
		data, err := os.ReadFile(*jwksFile)
		if err != nil {
			fmt.Fprintln(stderr, "verify:", err)
			return 2
		}
		set, err := accesstoken.ParseJWKS(data)
		if err != nil {
			fmt.Fprintln(stderr, "verify:", err)
			return 2
		}
		keys = accesstoken.StaticKeys(set...)
	}
	v, err := accesstoken.NewVerifier(accesstoken.VerifierOptions{Issuer: *issuer, Audience: *audience, Keys: keys})
	if err != nil {
		fmt.Fprintln(stderr, "verify:", err)
		return 2
	}

	tokens := fs.Args()
	if len(tokens) == 0 {
		sc := bufio.NewScanner(stdin)
		sc.Buffer(make([]byte, 0, 64<<10), 64<<10)
		for sc.Scan() {
			if t := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "Bearer ")); t != "" {
				tokens = append(tokens, t)
			}
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintln(stderr, "verify: reading tokens:", err)
			return 2
		}
		if len(tokens) == 0 {
			fmt.Fprintln(stderr, "verify: no token on the standard input")
			return 2
		}
	}

	status := 0
	enc := json.NewEncoder(stdout)
	for i, token := range tokens {
		c, err := v.Verify(ctx, token)
		if err != nil {
			// The error never holds the token, so it can be logged.
			fmt.Fprintf(stderr, "verify: token %d: %v (%s)\n", i+1, err, reason(err))
			status = 1
			continue
		}
		l := line{User: c.Subject, Session: c.SessionID, Organization: c.Organization, Expires: c.Expiry}
		if c.Actor != nil {
			l.Impersonator = c.Actor.Subject
		}
		if err := enc.Encode(l); err != nil {
			fmt.Fprintln(stderr, "verify:", err)
			return 1
		}
	}
	return status
}

// runDemo plays the issuer and a client: it serves a key set on a loopback
// port, signs tokens, and runs the command on each, checking its outcome.
func runDemo(ctx context.Context, stdout, stderr io.Writer) error {
	_, private, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	key := accesstoken.SigningKey{ID: "demo-1", Private: private}
	jwks, err := accesstoken.MarshalJWKS([]accesstoken.PublicKey{key.Public()})
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(jwks)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }() // the demo's own JWKS server, done with
	url := "http://" + ln.Addr().String() + "/.well-known/jwks.json"

	now := time.Now()
	claims := accesstoken.Claims{
		Issuer:       "cf-identity",
		Audience:     []string{"cf-identity"},
		Subject:      pulid.New("usr"),
		SessionID:    pulid.New("ses"),
		Organization: pulid.New("org"),
		Actor:        &accesstoken.Actor{Subject: pulid.New("usr")},
		IssuedAt:     now,
		Expiry:       now.Add(accesstoken.DefaultLifetime),
	}
	mustSign := func(k accesstoken.SigningKey, c accesstoken.Claims) string {
		t, err := accesstoken.Sign(k, c)
		if err != nil {
			panic(err)
		}
		return t
	}
	valid := mustSign(key, claims)
	expired := claims
	expired.IssuedAt, expired.Expiry = now.Add(-time.Hour), now.Add(-time.Hour+accesstoken.DefaultLifetime)
	otherAudience := claims
	otherAudience.Audience = []string{"billing"}
	_, forgerKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), string(claims.Subject), string(claims.Actor.Subject), 1))) + "." + parts[2]

	for _, tc := range []struct {
		name   string
		token  string
		reason string // "" for a valid token
	}{
		{"valid token", valid, ""},
		{"expired token", mustSign(key, expired), "ErrExpired"},
		{"tampered payload", tampered, "ErrSignature"},
		{"forged with another key under the same kid", mustSign(accesstoken.SigningKey{ID: key.ID, Private: forgerKey}, claims), "ErrSignature"},
		{"a key the issuer never published", mustSign(accesstoken.SigningKey{ID: "demo-2", Private: forgerKey}, claims), "ErrUnknownKey"},
		{`alg "none"`, "eyJhbGciOiJub25lIn0." + parts[1] + ".", "ErrAlgorithm"},
		{"another audience", mustSign(key, otherAudience), "ErrAudience"},
		{"an API key", "cfk_abcdefgh_0123456789", "ErrMalformed"},
	} {
		var out, errOut strings.Builder
		status := run(ctx, []string{"-jwks", url}, strings.NewReader("Bearer "+tc.token+"\n"), &out, &errOut)
		switch {
		case tc.reason == "" && status == 0:
			fmt.Fprintf(stdout, "accepted as expected: %s: %s", tc.name, out.String())
		case tc.reason != "" && status == 1 && strings.Contains(errOut.String(), "("+tc.reason+")"):
			fmt.Fprintf(stdout, "refused as expected: %s: %s", tc.name, errOut.String())
		default:
			return fmt.Errorf("%s: exit status %d, stdout %q, stderr %q; want %s", tc.name, status, out.String(), errOut.String(), orValid(tc.reason))
		}
		if strings.Contains(out.String()+errOut.String(), tc.token) {
			return fmt.Errorf("%s: the output holds the token", tc.name)
		}
	}
	return nil
}

func orValid(reason string) string {
	if reason == "" {
		return "the token accepted"
	}
	return reason
}
