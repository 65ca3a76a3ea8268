package accesstoken

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// PublicKey is a public key of the issuer and its key ID (kid).
type PublicKey struct {
	ID  string
	Key ed25519.PublicKey
}

// jwk is the JSON Web Key (RFC 7517, RFC 8037) of an Ed25519 public key.
// D is read only to refuse a set that publishes a private key.
type jwk struct {
	Kty    string   `json:"kty"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	D      string   `json:"d,omitempty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg,omitempty"`
	Use    string   `json:"use,omitempty"`
	KeyOps []string `json:"key_ops,omitempty"`
}

// MarshalJWKS returns the JSON Web Key Set of keys, in their order, as
// served at /.well-known/jwks.json:
//
//	{"keys":[{"kty":"OKP","crv":"Ed25519","x":"...","kid":"...","alg":"EdDSA","use":"sig"}]}
//
// It refuses a key without ID, a key that is not 32 bytes, and two keys
// with the same ID.
func MarshalJWKS(keys []PublicKey) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		switch {
		case k.ID == "":
			return nil, fmt.Errorf("accesstoken: jwks: key %d has no ID", i)
		case len(k.Key) != ed25519.PublicKeySize:
			return nil, fmt.Errorf("accesstoken: jwks: key %s is %d bytes, want %d", quote(k.ID), len(k.Key), ed25519.PublicKeySize)
		case seen[k.ID]:
			return nil, fmt.Errorf("accesstoken: jwks: two keys with ID %s", quote(k.ID))
		}
		seen[k.ID] = true
		set.Keys = append(set.Keys, jwk{
			Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Key),
			Kid: k.ID, Alg: "EdDSA", Use: "sig",
		})
	}
	return json.Marshal(set)
}

// ParseJWKS returns the Ed25519 signature keys of a JSON Web Key Set, in
// their order. It skips the keys that are of another type or curve, meant
// for another use or algorithm, or have no kid (no token could name them).
// It returns an error for data that is not a key set, an Ed25519 key whose
// x is not 32 bytes of base64url, a key with private material (d), and two
// Ed25519 keys with the same kid.
func ParseJWKS(data []byte) ([]PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if b := bytes.TrimSpace(data); len(b) == 0 || b[0] != '{' {
		return nil, errors.New("accesstoken: jwks: not a JSON object")
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("accesstoken: jwks: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New(`accesstoken: jwks: no "keys" array`)
	}
	var keys []PublicKey
	seen := make(map[string]bool)
	for i, raw := range set.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("accesstoken: jwks: key %d: %w", i, err)
		}
		if k.D != "" {
			return nil, fmt.Errorf("accesstoken: jwks: key %d holds private key material", i)
		}
		if k.Kty != "OKP" || k.Crv != "Ed25519" || k.Kid == "" ||
			(k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "EdDSA") ||
			(k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify")) {
			continue
		}
		x, err := base64.RawURLEncoding.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("accesstoken: jwks: key %s: x is not a base64url Ed25519 public key", quote(k.Kid))
		}
		if seen[k.Kid] {
			return nil, fmt.Errorf("accesstoken: jwks: two keys with kid %s", quote(k.Kid))
		}
		seen[k.Kid] = true
		keys = append(keys, PublicKey{ID: k.Kid, Key: ed25519.PublicKey(x)})
	}
	return keys, nil
}
