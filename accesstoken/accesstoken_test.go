package accesstoken_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cf/identity/accesstoken"
	"github.com/cf/identity/pulid"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Fixed keys, IDs and clock: the tests do not depend on time.Now.
var (
	key1     = signingKey("k1", 1)
	key2     = signingKey("k2", 2)
	key1Evil = signingKey("k1", 3) // another key under key1's kid

	user    = pulid.ID("usr_01JD3Q6X6S4W7N9ZKX2C1V0B8E")
	admin   = pulid.ID("usr_01JD3Q6X6S4W7N9ZKX2C1V0B8F")
	session = pulid.ID("ses_01JD3Q6X6S4W7N9ZKX2C1V0B8G")
	org     = pulid.ID("org_01JD3Q6X6S4W7N9ZKX2C1V0B8H")

	now = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
)

const (
	issuer   = "cf-identity"
	audience = "cf-identity"
)

func signingKey(kid string, seed byte) accesstoken.SigningKey {
	return accesstoken.SigningKey{ID: kid, Private: ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))}
}

// claims returns valid claims issued a minute before now.
func claims() accesstoken.Claims {
	return accesstoken.Claims{
		Issuer:    issuer,
		Audience:  []string{audience},
		Subject:   user,
		SessionID: session,
		IssuedAt:  now.Add(-time.Minute),
		Expiry:    now.Add(14 * time.Minute),
		ID:        "jti-1",
	}
}

func sign(t testing.TB, key accesstoken.SigningKey, c accesstoken.Claims) string {
	t.Helper()
	token, err := accesstoken.Sign(key, c)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return token
}

// signRaw builds a compact JWS of any header and payload, signed with key
// as Ed25519 whatever the header says: for tokens Sign refuses to make.
func signRaw(key ed25519.PrivateKey, header map[string]any, payload []byte) string {
	h, err := json.Marshal(header)
	if err != nil {
		panic(err)
	}
	input := b64(h) + "." + b64(payload)
	return input + "." + b64(ed25519.Sign(key, []byte(input)))
}

// rawClaims returns the JSON of claims() with the changes applied (a nil
// value deletes the claim).
func rawClaims(changes map[string]any) []byte {
	b, err := json.Marshal(claims())
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err = json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

func header(kid string) map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": "at+jwt", "kid": kid}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func verifier(t testing.TB, keys accesstoken.KeySource) *accesstoken.Verifier {
	t.Helper()
	v, err := accesstoken.NewVerifier(accesstoken.VerifierOptions{
		Issuer: issuer, Audience: audience, Keys: keys, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRoundTrip(t *testing.T) {
	impersonated := claims()
	impersonated.Actor = &accesstoken.Actor{Subject: admin}
	inOrg := claims()
	inOrg.Organization = org
	twoAudiences := claims()
	twoAudiences.Audience = []string{"billing", audience}
	subSecond := claims()
	subSecond.IssuedAt = subSecond.IssuedAt.Add(300 * time.Millisecond)
	subSecond.Expiry = subSecond.Expiry.Add(700 * time.Millisecond)

	v := verifier(t, accesstoken.StaticKeys(key1.Public()))
	for _, tt := range []struct {
		name string
		in   accesstoken.Claims
		want accesstoken.Claims
	}{
		{"plain", claims(), claims()},
		{"organization", inOrg, inOrg},
		{"impersonation", impersonated, impersonated},
		{"two audiences", twoAudiences, twoAudiences},
		{"times cut to seconds", subSecond, claims()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			token := sign(t, key1, tt.in)
			if !accesstoken.LooksLikeJWT(token) {
				t.Errorf("LooksLikeJWT(%q) = false", token)
			}
			var h map[string]any
			seg, _, _ := strings.Cut(token, ".")
			if b, err := base64.RawURLEncoding.DecodeString(seg); err != nil || json.Unmarshal(b, &h) != nil {
				t.Fatalf("header %q: %v", seg, err)
			}
			if want := header("k1"); !reflect.DeepEqual(h, want) {
				t.Errorf("header = %v, want %v", h, want)
			}
			got, err := v.Verify(context.Background(), token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Verify = %+v\nwant     %+v", *got, tt.want)
			}
		})
	}
}

func TestClaimsJSON(t *testing.T) {
	c := claims()
	c.Organization = org
	c.Actor = &accesstoken.Actor{Subject: admin}
	for _, tt := range []struct {
		name string
		in   accesstoken.Claims
		want string
	}{
		{"minimal", claims(), `{"iss":"cf-identity","aud":"cf-identity","sub":"usr_01JD3Q6X6S4W7N9ZKX2C1V0B8E","sid":"ses_01JD3Q6X6S4W7N9ZKX2C1V0B8G","iat":1741064707,"exp":1741065607,"jti":"jti-1"}`},
		{"all", c, `{"iss":"cf-identity","aud":"cf-identity","sub":"usr_01JD3Q6X6S4W7N9ZKX2C1V0B8E","sid":"ses_01JD3Q6X6S4W7N9ZKX2C1V0B8G","org":"org_01JD3Q6X6S4W7N9ZKX2C1V0B8H","act":{"sub":"usr_01JD3Q6X6S4W7N9ZKX2C1V0B8F"},"iat":1741064707,"exp":1741065607,"jti":"jti-1"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.in)
			if err != nil || string(b) != tt.want {
				t.Fatalf("Marshal = %s, %v\nwant      %s", b, err, tt.want)
			}
			var back accesstoken.Claims
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, tt.in) {
				t.Fatalf("Unmarshal = %+v, %v\nwant        %+v", back, err, tt.in)
			}
		})
	}
	var fromArray accesstoken.Claims
	if err := json.Unmarshal([]byte(`{"aud":["a","b"],"iat":1.5}`), &fromArray); err != nil ||
		!reflect.DeepEqual(fromArray.Audience, []string{"a", "b"}) || !fromArray.IssuedAt.Equal(time.Unix(1, 5e8)) {
		t.Errorf("Unmarshal aud array, fractional iat = %+v, %v", fromArray, err)
	}
}

func TestSignDefaults(t *testing.T) {
	c := claims()
	c.IssuedAt, c.Expiry, c.ID = time.Time{}, time.Time{}, ""
	key := accesstoken.StaticKeys(key1.Public())
	v, err := accesstoken.NewVerifier(accesstoken.VerifierOptions{Issuer: issuer, Audience: audience, Keys: key})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		got, err := v.Verify(context.Background(), sign(t, key1, c))
		if err != nil {
			t.Fatal(err)
		}
		if d := got.Expiry.Sub(got.IssuedAt); d != accesstoken.DefaultLifetime {
			t.Errorf("lifetime = %v, want %v", d, accesstoken.DefaultLifetime)
		}
		ids = append(ids, got.ID)
	}
	if ids[0] == "" || ids[0] == ids[1] {
		t.Errorf("jti of two tokens = %q, want distinct random IDs", ids)
	}
}

func TestSigningKeyRedacted(t *testing.T) {
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		got := fmt.Sprintf(format, key1)
		if !strings.Contains(got, "k1") || strings.Contains(got, fmt.Sprint([]byte(key1.Private))) ||
			strings.Contains(got, fmt.Sprintf("%x", key1.Private.Seed())) || strings.Contains(got, fmt.Sprintf("%#v", []byte(key1.Private))) {
			t.Errorf("Sprintf(%q, key) = %s, want the kid without the private key", format, got)
		}
	}
	if got := (accesstoken.SigningKey{ID: "k", Private: key1.Private[:10]}).Public(); got.Key != nil || got.ID != "k" {
		t.Errorf("Public of a short key = %v", got)
	}
}

func TestSignRefuses(t *testing.T) {
	change := func(f func(*accesstoken.Claims)) accesstoken.Claims { c := claims(); f(&c); return c }
	for _, tt := range []struct {
		name      string
		key       accesstoken.SigningKey
		claims    accesstoken.Claims
		errClaims bool // the error matches ErrClaims
	}{
		{"no kid", accesstoken.SigningKey{Private: key1.Private}, claims(), false},
		{"short key", accesstoken.SigningKey{ID: "k1", Private: key1.Private[:32]}, claims(), false},
		{"no issuer", key1, change(func(c *accesstoken.Claims) { c.Issuer = "" }), true},
		{"no audience", key1, change(func(c *accesstoken.Claims) { c.Audience = nil }), true},
		{"empty audience", key1, change(func(c *accesstoken.Claims) { c.Audience = []string{""} }), true},
		{"no subject", key1, change(func(c *accesstoken.Claims) { c.Subject = "" }), true},
		{"subject an organization", key1, change(func(c *accesstoken.Claims) { c.Subject = org }), true},
		{"session a user", key1, change(func(c *accesstoken.Claims) { c.SessionID = user }), true},
		{"organization a session", key1, change(func(c *accesstoken.Claims) { c.Organization = session }), true},
		{"actor without subject", key1, change(func(c *accesstoken.Claims) { c.Actor = &accesstoken.Actor{} }), true},
		{"expiry before issue", key1, change(func(c *accesstoken.Claims) { c.Expiry = c.IssuedAt.Add(-time.Second) }), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			token, err := accesstoken.Sign(tt.key, tt.claims)
			if err == nil {
				t.Fatalf("Sign = %q, want an error", token)
			}
			if errors.Is(err, accesstoken.ErrClaims) != tt.errClaims {
				t.Errorf("Sign: %v; matches ErrClaims = %v, want %v", err, !tt.errClaims, tt.errClaims)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	good := sign(t, key1, claims())
	h, p, s := split(good)
	at := func(d time.Duration) accesstoken.Claims {
		c := claims()
		c.IssuedAt, c.Expiry = now.Add(d-15*time.Minute), now.Add(d)
		return c
	}
	issuedIn := func(d time.Duration) accesstoken.Claims {
		c := claims()
		c.IssuedAt, c.Expiry = now.Add(d), now.Add(d+15*time.Minute)
		return c
	}
	change := func(f func(*accesstoken.Claims)) accesstoken.Claims { c := claims(); f(&c); return c }
	raw := func(changes map[string]any) string { return signRaw(key1.Private, header("k1"), rawClaims(changes)) }
	withHeader := func(changes map[string]any) string {
		hd := header("k1")
		for k, v := range changes {
			if v == nil {
				delete(hd, k)
			} else {
				hd[k] = v
			}
		}
		return signRaw(key1.Private, hd, rawClaims(nil))
	}
	// The classic key confusion: HS256 with the public key as the secret.
	hs256 := func() string {
		hd, _ := json.Marshal(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": "k1"})
		input := b64(hd) + "." + b64(rawClaims(nil))
		mac := hmac.New(sha256.New, key1.Public().Key)
		mac.Write([]byte(input))
		return input + "." + b64(mac.Sum(nil))
	}()
	flip := func(seg string) string { // changes one character of a segment, in the middle
		b := []byte(seg)
		i := len(b) / 2
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	// A payload of other claims under the original signature.
	otherUser := change(func(c *accesstoken.Claims) { c.Subject = admin })
	otherPayload, _ := json.Marshal(otherUser)

	for _, tt := range []struct {
		name  string
		token string
		want  error // nil: accepted
	}{
		{"good", good, nil},
		{"expired within leeway", sign(t, key1, at(-29*time.Second)), nil},
		{"expired beyond leeway", sign(t, key1, at(-30*time.Second)), accesstoken.ErrExpired},
		{"expired long ago", sign(t, key1, at(-24*time.Hour)), accesstoken.ErrExpired},
		{"issued in the future within leeway", sign(t, key1, issuedIn(30*time.Second)), nil},
		{"issued in the future beyond leeway", sign(t, key1, issuedIn(31*time.Second)), accesstoken.ErrNotYetValid},
		{"nbf in the future", raw(map[string]any{"nbf": now.Add(time.Minute).Unix()}), accesstoken.ErrNotYetValid},
		{"nbf past", raw(map[string]any{"nbf": now.Add(-time.Minute).Unix()}), nil},

		{"payload swapped", h + "." + b64(otherPayload) + "." + s, accesstoken.ErrSignature},
		{"payload tampered", h + "." + flip(p) + "." + s, accesstoken.ErrSignature},
		{"signature tampered", h + "." + p + "." + flip(s), accesstoken.ErrSignature},
		{"signature cut", h + "." + p + "." + b64(mustDecode(s)[:60]), accesstoken.ErrSignature},
		{"signature empty", h + "." + p + ".", accesstoken.ErrSignature},
		{"another key with the same kid", sign(t, key1Evil, claims()), accesstoken.ErrSignature},
		{"header tampered", b64([]byte(`{"alg":"EdDSA","typ":"at+jwt","kid":"k1","x":1}`)) + "." + p + "." + s, accesstoken.ErrSignature},

		// go-jose refuses the alg before looking at the (empty) signature,
		// so alg none is ErrAlgorithm, not ErrMalformed.
		{"alg none", "eyJhbGciOiJub25lIn0." + p + ".", accesstoken.ErrAlgorithm},
		{"alg none with typ and kid", b64([]byte(`{"alg":"none","typ":"at+jwt","kid":"k1"}`)) + "." + p + ".", accesstoken.ErrAlgorithm},
		{"alg none with the real signature", b64([]byte(`{"alg":"none","typ":"at+jwt","kid":"k1"}`)) + "." + p + "." + s, accesstoken.ErrAlgorithm},
		{"alg None", withHeader(map[string]any{"alg": "None"}), accesstoken.ErrAlgorithm},
		{"alg eddsa", withHeader(map[string]any{"alg": "eddsa"}), accesstoken.ErrAlgorithm},
		{"HS256 keyed with the public key", hs256, accesstoken.ErrAlgorithm},
		{"ES256", withHeader(map[string]any{"alg": "ES256"}), accesstoken.ErrAlgorithm},
		{"RS256", withHeader(map[string]any{"alg": "RS256"}), accesstoken.ErrAlgorithm},
		{"no alg", withHeader(map[string]any{"alg": nil}), accesstoken.ErrAlgorithm},

		{"typ JWT", withHeader(map[string]any{"typ": "JWT"}), accesstoken.ErrType},
		{"no typ", withHeader(map[string]any{"typ": nil}), accesstoken.ErrType},
		{"typ not a string", withHeader(map[string]any{"typ": 1}), accesstoken.ErrType},
		{"typ application/at+jwt", withHeader(map[string]any{"typ": "application/at+JWT"}), nil},
		{"no kid", withHeader(map[string]any{"kid": nil}), accesstoken.ErrUnknownKey},
		{"unknown kid", sign(t, key2, claims()), accesstoken.ErrUnknownKey},
		{"crit", withHeader(map[string]any{"crit": []string{"b64"}, "b64": true}), accesstoken.ErrMalformed},

		{"wrong issuer", sign(t, key1, change(func(c *accesstoken.Claims) { c.Issuer = "someone-else" })), accesstoken.ErrIssuer},
		{"wrong audience", sign(t, key1, change(func(c *accesstoken.Claims) { c.Audience = []string{"billing"} })), accesstoken.ErrAudience},
		{"audience as array", raw(map[string]any{"aud": []string{"billing", audience}}), nil},
		{"audience not a string", raw(map[string]any{"aud": 7}), accesstoken.ErrClaims},

		{"sub an organization", raw(map[string]any{"sub": string(org)}), accesstoken.ErrClaims},
		{"sub not an ID", raw(map[string]any{"sub": "alice"}), accesstoken.ErrClaims},
		{"sub upper case", raw(map[string]any{"sub": strings.ToUpper(string(user))}), accesstoken.ErrClaims},
		{"no sub", raw(map[string]any{"sub": nil}), accesstoken.ErrClaims},
		{"sid a user", raw(map[string]any{"sid": string(user)}), accesstoken.ErrClaims},
		{"no sid", raw(map[string]any{"sid": nil}), accesstoken.ErrClaims},
		{"org a session", raw(map[string]any{"org": string(session)}), accesstoken.ErrClaims},
		{"org an organization", raw(map[string]any{"org": string(org)}), nil},
		{"act.sub an organization", raw(map[string]any{"act": map[string]any{"sub": string(org)}}), accesstoken.ErrClaims},
		{"act without sub", raw(map[string]any{"act": map[string]any{}}), accesstoken.ErrClaims},
		{"act a string", raw(map[string]any{"act": string(admin)}), accesstoken.ErrClaims},
		{"no exp", raw(map[string]any{"exp": nil}), accesstoken.ErrClaims},
		{"no iat", raw(map[string]any{"iat": nil}), accesstoken.ErrClaims},
		{"no jti", raw(map[string]any{"jti": nil}), accesstoken.ErrClaims},
		{"exp a string", raw(map[string]any{"exp": "tomorrow"}), accesstoken.ErrClaims},
		{"exp negative", raw(map[string]any{"exp": -1}), accesstoken.ErrClaims},
		{"exp in year 10000", raw(map[string]any{"exp": 253402300800}), accesstoken.ErrClaims},
		{"payload an array", signRaw(key1.Private, header("k1"), []byte(`[1]`)), accesstoken.ErrClaims},
		{"payload not JSON", signRaw(key1.Private, header("k1"), []byte(`hello`)), accesstoken.ErrClaims},

		{"empty", "", accesstoken.ErrMalformed},
		{"API key", "cfk_abcdefgh_" + strings.Repeat("x", 43), accesstoken.ErrMalformed},
		{"two segments", h + "." + p, accesstoken.ErrMalformed},
		{"four segments", good + ".AAAA", accesstoken.ErrMalformed},
		{"empty payload", h + ".." + s, accesstoken.ErrMalformed},
		{"padded", h + "=." + p + "." + s, accesstoken.ErrMalformed},
		{"line break", h + "." + p[:10] + "\n" + p[10:] + "." + s, accesstoken.ErrMalformed},
		{"standard base64", h + "." + p + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s) + "+/", accesstoken.ErrMalformed},
		{"non-canonical last character", h + "." + p + "." + s[:len(s)-1] + string(s[len(s)-1]+1), accesstoken.ErrMalformed},
		{"header not JSON", b64([]byte("hello")) + "." + p + "." + s, accesstoken.ErrMalformed},
		{"bearer prefix", "Bearer " + good, accesstoken.ErrMalformed},
		{"JWS JSON serialization", `{"payload":"` + p + `","protected":"` + h + `","signature":"` + s + `"}`, accesstoken.ErrMalformed},
		{"too long", raw(map[string]any{"pad": strings.Repeat("x", 8<<10)}), accesstoken.ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := verifier(t, accesstoken.StaticKeys(key1.Public()))
			got, err := v.Verify(context.Background(), tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v, want the token accepted", err)
				}
				if got.Subject != user || got.SessionID != session {
					t.Errorf("Verify = %+v", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify = %+v, want %v", got, tt.want)
			}
			if got != nil {
				t.Errorf("Verify returned claims %+v with an error", got)
			}
			if !errors.Is(err, tt.want) || !errors.Is(err, accesstoken.ErrInvalidToken) {
				t.Errorf("Verify: %v, want %v (and ErrInvalidToken)", err, tt.want)
			}
			for _, other := range []error{accesstoken.ErrMalformed, accesstoken.ErrAlgorithm, accesstoken.ErrSignature, accesstoken.ErrClaims} {
				if other != tt.want && errors.Is(err, other) { //nolint:errorlint // two sentinels of the table compared, not a returned error
					t.Errorf("Verify: %v also matches %v", err, other)
				}
			}
			if errors.Is(err, accesstoken.ErrKeysUnavailable) {
				t.Errorf("Verify: %v matches ErrKeysUnavailable", err)
			}
			for _, part := range []string{tt.token, p, s} {
				if len(part) > 16 && strings.Contains(err.Error(), part) {
					t.Errorf("the error message holds the token: %v", err)
				}
			}
		})
	}
}

func mustDecode(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func split(token string) (h, p, s string) {
	parts := strings.Split(token, ".")
	return parts[0], parts[1], parts[2]
}

func TestKeyRotation(t *testing.T) {
	old := sign(t, key1, claims())
	current := sign(t, key2, claims())
	for _, tt := range []struct {
		name             string
		keys             []accesstoken.PublicKey
		wantOld, wantCur error
	}{
		{"old key only", []accesstoken.PublicKey{key1.Public()}, nil, accesstoken.ErrUnknownKey},
		{"both keys during rotation", []accesstoken.PublicKey{key2.Public(), key1.Public()}, nil, nil},
		{"old key removed", []accesstoken.PublicKey{key2.Public()}, accesstoken.ErrUnknownKey, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := verifier(t, accesstoken.StaticKeys(tt.keys...))
			for _, c := range []struct {
				name  string
				token string
				want  error
			}{{"old", old, tt.wantOld}, {"current", current, tt.wantCur}} {
				_, err := v.Verify(context.Background(), c.token)
				if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
					t.Errorf("%s token: Verify: %v, want %v", c.name, err, c.want)
				}
			}
		})
	}
}

func TestNewVerifier(t *testing.T) {
	keys := accesstoken.StaticKeys(key1.Public())
	for _, tt := range []struct {
		name string
		opts accesstoken.VerifierOptions
		want string // in the error; "" for no error
	}{
		{"complete", accesstoken.VerifierOptions{Issuer: issuer, Audience: audience, Keys: keys}, ""},
		{"no issuer", accesstoken.VerifierOptions{Audience: audience, Keys: keys}, "Issuer"},
		{"no audience", accesstoken.VerifierOptions{Issuer: issuer, Keys: keys}, "Audience"},
		{"no keys", accesstoken.VerifierOptions{Issuer: issuer, Audience: audience}, "Keys"},
		{"nothing", accesstoken.VerifierOptions{}, "Issuer, Audience, Keys"},
		{"negative leeway", accesstoken.VerifierOptions{Issuer: issuer, Audience: audience, Keys: keys, Leeway: -time.Second}, "Leeway"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := accesstoken.NewVerifier(tt.opts)
			if tt.want == "" {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier = %v, %v", v, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewVerifier: %v, want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestLeeway(t *testing.T) {
	c := claims()
	c.IssuedAt, c.Expiry = now.Add(-20*time.Minute), now.Add(-5*time.Minute)
	token := sign(t, key1, c)
	for _, tt := range []struct {
		leeway time.Duration
		want   error
	}{
		{0, accesstoken.ErrExpired}, // the default, 30s
		{5*time.Minute + time.Second, nil},
		{5 * time.Minute, accesstoken.ErrExpired},
	} {
		v, err := accesstoken.NewVerifier(accesstoken.VerifierOptions{
			Issuer: issuer, Audience: audience, Keys: accesstoken.StaticKeys(key1.Public()),
			Leeway: tt.leeway, Now: func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), token); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("leeway %v: Verify: %v, want %v", tt.leeway, err, tt.want)
		}
	}
}

func TestLooksLikeJWT(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{sign(t, key1, claims()), true},
		{"a.b.c", true},
		{"a-_.b.c9", true},
		{"cfk_abcdefgh_secretsecret", false},
		{"", false},
		{"..", false},
		{"a.b.", false},
		{".b.c", false},
		{"a..c", false},
		{"a.b", false},
		{"a.b.c.d", false},
		{"a.b.c=", false},
		{"a.b+.c", false},
		{"Bearer a.b.c", false},
		{"a.b.c\n", false},
	} {
		if got := accesstoken.LooksLikeJWT(tt.s); got != tt.want {
			t.Errorf("LooksLikeJWT(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestMarshalJWKS(t *testing.T) {
	got, err := accesstoken.MarshalJWKS([]accesstoken.PublicKey{key1.Public(), key2.Public()})
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "jwks.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("MarshalJWKS =\n%s\nwant (%s)\n%s", got, golden, want)
	}
	keys, err := accesstoken.ParseJWKS(want)
	if err != nil || !reflect.DeepEqual(keys, []accesstoken.PublicKey{key1.Public(), key2.Public()}) {
		t.Errorf("ParseJWKS(golden) = %v, %v", keys, err)
	}
	// The key of RFC 8037, appendix A.1, and its x from A.2.
	rfc := ed25519.NewKeyFromSeed(mustDecode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"))
	b, err := accesstoken.MarshalJWKS([]accesstoken.PublicKey{{ID: "rfc8037", Key: rfc.Public().(ed25519.PublicKey)}})
	if want := `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"rfc8037","alg":"EdDSA","use":"sig"}]}`; err != nil || string(b) != want {
		t.Errorf("MarshalJWKS(RFC 8037 key) = %s, %v\nwant %s", b, err, want)
	}
	if b, err := accesstoken.MarshalJWKS(nil); err != nil || string(b) != `{"keys":[]}` {
		t.Errorf("MarshalJWKS(nil) = %s, %v", b, err)
	}
	for _, bad := range [][]accesstoken.PublicKey{
		{{Key: key1.Public().Key}},
		{{ID: "k1", Key: key1.Public().Key[:31]}},
		{key1.Public(), {ID: "k1", Key: key2.Public().Key}},
	} {
		if b, err := accesstoken.MarshalJWKS(bad); err == nil {
			t.Errorf("MarshalJWKS(%v) = %s, want an error", bad, b)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	x1 := b64(key1.Public().Key)
	ed := func(kid, extra string) string {
		return `{"kty":"OKP","crv":"Ed25519","x":"` + x1 + `","kid":"` + kid + `"` + extra + `}`
	}
	k1 := []accesstoken.PublicKey{key1.Public()}
	for _, tt := range []struct {
		name    string
		data    string
		want    []accesstoken.PublicKey
		wantErr bool
	}{
		{"one key", `{"keys":[` + ed("k1", "") + `]}`, k1, false},
		{"alg and use", `{"keys":[` + ed("k1", `,"alg":"EdDSA","use":"sig","key_ops":["verify"]`) + `]}`, k1, false},
		{"empty set", `{"keys":[]}`, nil, false},
		{"others ignored", `{"keys":[
			{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"r1"},
			{"kty":"EC","crv":"P-256","x":"AA","y":"AA","kid":"e1"},
			{"kty":"OKP","crv":"X25519","x":"` + x1 + `","kid":"x1"},
			{"kty":"oct","k":"c2VjcmV0","kid":"h1"},
			` + ed("enc", `,"use":"enc"`) + `,
			` + ed("alg", `,"alg":"ES256"`) + `,
			` + ed("ops", `,"key_ops":["encrypt"]`) + `,
			` + ed("", "") + `,
			` + ed("k1", "") + `]}`, k1, false},
		{"unknown members ignored", `{"keys":[` + ed("k1", `,"x5t":"abc"`) + `],"other":1}`, k1, false},
		{"not JSON", `keys`, nil, true},
		{"truncated", `{"keys":[` + ed("k1", ""), nil, true},
		{"an array", `[` + ed("k1", "") + `]`, nil, true},
		{"no keys member", `{}`, nil, true},
		{"keys not an array", `{"keys":{}}`, nil, true},
		{"a key not an object", `{"keys":[1]}`, nil, true},
		{"x too short", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA","kid":"k1"}]}`, nil, true},
		{"x not base64url", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + strings.Repeat("+", 43) + `","kid":"k1"}]}`, nil, true},
		{"private key", `{"keys":[` + ed("k1", `,"d":"`+b64(key1.Private.Seed())+`"`) + `]}`, nil, true},
		{"duplicate kid", `{"keys":[` + ed("k1", "") + `,` + ed("k1", "") + `]}`, nil, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := accesstoken.ParseJWKS([]byte(tt.data))
			if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseJWKS = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), b64(key1.Private.Seed())) {
				t.Errorf("the error holds the private key: %v", err)
			}
		})
	}
}

// jwksServer serves a key set that the test changes, and counts requests.
type jwksServer struct {
	*httptest.Server
	mu           sync.Mutex
	keys         []accesstoken.PublicKey
	fail         bool
	cacheControl string
	fetches      int
}

func newJWKSServer(t *testing.T, keys ...accesstoken.PublicKey) *jwksServer {
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetches++
		if s.fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		b, err := accesstoken.MarshalJWKS(s.keys)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if s.cacheControl != "" {
			w.Header().Set("Cache-Control", s.cacheControl)
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(f func(s *jwksServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *jwksServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// TestRemoteKeys runs scenarios of steps against a JWKS server: each step
// changes the server or the clock, looks a kid up, and checks the outcome
// and the number of fetches so far.
func TestRemoteKeys(t *testing.T) {
	type step struct {
		server    func(*jwksServer) // nil: unchanged
		advance   time.Duration
		kid       string
		want      error // nil: the key of kid is returned
		wantCount int   // fetches made so far
	}
	up := func(keys ...accesstoken.PublicKey) func(*jwksServer) {
		return func(s *jwksServer) { s.fail, s.keys = false, keys }
	}
	down := func(s *jwksServer) { s.fail = true }
	cacheControl := func(v string) func(*jwksServer) { return func(s *jwksServer) { s.cacheControl = v } }
	pub1, pub2 := key1.Public(), key2.Public()
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{"caches", []step{
			{kid: "k1", wantCount: 1},
			{kid: "k1", wantCount: 1},
			{advance: 59 * time.Minute, kid: "k1", wantCount: 1},
		}},
		{"refreshes after MaxAge", []step{
			{kid: "k1", wantCount: 1},
			{advance: time.Hour, kid: "k1", wantCount: 2},
			{kid: "k1", wantCount: 2},
		}},
		{"unknown kid refetches at most once per MinRefetch", []step{
			{kid: "k1", wantCount: 1},
			{advance: 10 * time.Second, kid: "k2", want: accesstoken.ErrUnknownKey, wantCount: 2},
			{kid: "k2", want: accesstoken.ErrUnknownKey, wantCount: 2},
			{advance: 9 * time.Second, kid: "other", want: accesstoken.ErrUnknownKey, wantCount: 2},
			{advance: time.Second, kid: "k2", want: accesstoken.ErrUnknownKey, wantCount: 3},
			{kid: "k1", wantCount: 3},
		}},
		{"picks up a rotated key", []step{
			{kid: "k1", wantCount: 1},
			{server: up(pub2, pub1), kid: "k1", wantCount: 1},
			{advance: 5 * time.Second, kid: "k2", want: accesstoken.ErrUnknownKey, wantCount: 1}, // fetched 5s ago
			{advance: 5 * time.Second, kid: "k2", wantCount: 2},
			{server: up(pub2), kid: "k1", wantCount: 2}, // removed, but cached until MaxAge
			{advance: time.Hour, kid: "k1", want: accesstoken.ErrUnknownKey, wantCount: 3},
		}},
		{"keeps the cached set when the server fails", []step{
			{kid: "k1", wantCount: 1},
			{server: down, advance: time.Hour, kid: "k1", wantCount: 2},
			{kid: "k1", wantCount: 2},
			{kid: "k2", want: accesstoken.ErrKeysUnavailable, wantCount: 2},
			{advance: 10 * time.Second, kid: "k1", wantCount: 3},
			{server: up(pub1, pub2), advance: 10 * time.Second, kid: "k2", wantCount: 4},
			{kid: "k1", wantCount: 4},
		}},
		{"no set and the server down", []step{
			{server: down, kid: "k1", want: accesstoken.ErrKeysUnavailable, wantCount: 1},
			{kid: "k1", want: accesstoken.ErrKeysUnavailable, wantCount: 1},
			{server: up(pub1), advance: 10 * time.Second, kid: "k1", wantCount: 2},
		}},
		{"a set without Ed25519 keys is a failure", []step{
			{server: up(), kid: "k1", want: accesstoken.ErrKeysUnavailable, wantCount: 1},
		}},
		{"Cache-Control max-age", []step{
			{server: cacheControl("public, max-age=60"), kid: "k1", wantCount: 1},
			{advance: 59 * time.Second, kid: "k1", wantCount: 1},
			{advance: time.Second, kid: "k1", wantCount: 2},
		}},
		{"Cache-Control no-cache waits MinRefetch", []step{
			{server: cacheControl("no-cache"), kid: "k1", wantCount: 1},
			{advance: 9 * time.Second, kid: "k1", wantCount: 1},
			{advance: time.Second, kid: "k1", wantCount: 2},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, pub1)
			clk := &clock{t: now}
			keys := accesstoken.RemoteKeys(srv.URL+"/.well-known/jwks.json", accesstoken.RemoteOptions{Client: srv.Client(), Now: clk.Now})
			for i, st := range tt.steps {
				if st.server != nil {
					srv.set(st.server)
				}
				clk.advance(st.advance)
				got, err := keys.PublicKey(context.Background(), st.kid)
				if st.want == nil {
					want := map[string]ed25519.PublicKey{"k1": pub1.Key, "k2": pub2.Key}[st.kid]
					if err != nil || !got.Equal(want) {
						t.Errorf("step %d: PublicKey(%q) = %x, %v; want the key", i, st.kid, got, err)
					}
				} else if !errors.Is(err, st.want) {
					t.Errorf("step %d: PublicKey(%q) = %x, %v; want %v", i, st.kid, got, err, st.want)
				}
				if n := srv.count(); n != st.wantCount {
					t.Errorf("step %d: %d fetches, want %d", i, n, st.wantCount)
				}
			}
		})
	}
}

func TestRemoteKeysConcurrent(t *testing.T) {
	srv := newJWKSServer(t, key1.Public())
	keys := accesstoken.RemoteKeys(srv.URL, accesstoken.RemoteOptions{Client: srv.Client()})
	v := verifier(t, keys)
	token := sign(t, key1, claims())
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), token)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	if n := srv.count(); n != 1 {
		t.Errorf("%d fetches for 16 concurrent verifications, want 1", n)
	}
}

func TestRemoteKeysErrors(t *testing.T) {
	srv := newJWKSServer(t, key1.Public())
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name string
		url  string
		ctx  context.Context
		want string // in the message
	}{
		{"not found", srv.URL + "/missing", context.Background(), ""},
		{"no server", "http://127.0.0.1:1/jwks.json", context.Background(), "127.0.0.1:1"},
		{"bad URL", "://", context.Background(), ""},
		{"canceled", srv.URL, canceled, "canceled"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "not found" {
				mux := http.NewServeMux()
				mux.HandleFunc("/", http.NotFound)
				nf := httptest.NewServer(mux)
				t.Cleanup(nf.Close)
				tt.url = nf.URL
			}
			keys := accesstoken.RemoteKeys(tt.url, accesstoken.RemoteOptions{})
			v := verifier(t, keys)
			_, err := v.Verify(tt.ctx, sign(t, key1, claims()))
			if !errors.Is(err, accesstoken.ErrKeysUnavailable) || errors.Is(err, accesstoken.ErrInvalidToken) {
				t.Fatalf("Verify: %v, want ErrKeysUnavailable and not ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Verify: %v, want a message with %q", err, tt.want)
			}
		})
	}
}

// A KeySource of the caller's making: its errors are wrapped as
// ErrKeysUnavailable unless they say the key is unknown.
type keySourceFunc func(ctx context.Context, kid string) (ed25519.PublicKey, error)

func (f keySourceFunc) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	return f(ctx, kid)
}

func TestCustomKeySource(t *testing.T) {
	cause := errors.New("vault sealed")
	token := sign(t, key1, claims())
	for _, tt := range []struct {
		name string
		src  keySourceFunc
		want []error
	}{
		{"failure", func(context.Context, string) (ed25519.PublicKey, error) { return nil, cause }, []error{accesstoken.ErrKeysUnavailable, cause}},
		{"unknown", func(context.Context, string) (ed25519.PublicKey, error) { return nil, accesstoken.ErrUnknownKey }, []error{accesstoken.ErrUnknownKey, accesstoken.ErrInvalidToken}},
		{"short key", func(context.Context, string) (ed25519.PublicKey, error) { return key1.Public().Key[:16], nil }, []error{accesstoken.ErrKeysUnavailable}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifier(t, tt.src).Verify(context.Background(), token)
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("Verify: %v, want %v", err, w)
				}
			}
		})
	}
}
