package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"database/sql/driver"
	"errors"
	"fmt"
)

// ErrOpen is returned when a sealed value cannot be decrypted: wrong key or
// tampered ciphertext.
var ErrOpen = errors.New("secret: cannot open sealed value")

// Sealed is a value encrypted with AES-256-GCM by a Sealer, such as an OAuth
// provider's access token. Only a Sealer with the same key opens it.
type Sealed struct{ box []byte }

// IsZero reports whether s holds nothing.
func (s Sealed) IsZero() bool { return len(s.box) == 0 }

// String hides the ciphertext.
func (s Sealed) String() string { return "<redacted>" }

// MarshalJSON hides the ciphertext.
func (s Sealed) MarshalJSON() ([]byte, error) { return []byte(`"<redacted>"`), nil }

// Value implements driver.Valuer.
func (s Sealed) Value() (driver.Value, error) { return append([]byte(nil), s.box...), nil }

// Scan implements sql.Scanner.
func (s *Sealed) Scan(src any) error {
	switch v := src.(type) {
	case []byte:
		s.box = append([]byte(nil), v...)
	case string:
		s.box = []byte(v)
	case nil:
		s.box = nil
	default:
		return fmt.Errorf("secret: cannot scan %T into Sealed", src)
	}
	return nil
}

// Sealer encrypts and decrypts values with one key.
type Sealer struct{ aead cipher.AEAD }

// NewSealer returns a Sealer whose key is derived from keyMaterial, which
// must hold at least 32 bytes of secret randomness.
func NewSealer(keyMaterial []byte) (*Sealer, error) {
	if len(keyMaterial) < 32 {
		return nil, errors.New("secret: sealing key needs at least 32 bytes")
	}
	k := sha256.Sum256(keyMaterial)
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext. The context binds the ciphertext to its place
// (for example the account ID), so that it cannot be moved to another row.
func (s *Sealer) Seal(plaintext []byte, context string) (Sealed, error) {
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return Sealed{}, fmt.Errorf("secret: reading randomness: %w", err)
	}
	return Sealed{box: s.aead.Seal(nonce, nonce, plaintext, []byte(context))}, nil
}

// Open decrypts v sealed with the same context.
func (s *Sealer) Open(v Sealed, context string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(v.box) < n {
		return nil, ErrOpen
	}
	out, err := s.aead.Open(nil, v.box[:n], v.box[n:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}
