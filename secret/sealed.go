package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrOpen is returned when a sealed value cannot be decrypted: no key of
// the Sealer opens it (another key, a wrong context, or tampered
// ciphertext).
var ErrOpen = errors.New("secret: cannot open sealed value")

// ErrKey is matched by the errors of NewSealer for an unusable key list:
// a key shorter than 32 bytes, or a key given twice.
var ErrKey = errors.New("secret: invalid sealing key")

// The format of a sealed value (a box):
//
//	0xCF 0x01 | key ID (4 bytes) | nonce (12 bytes) | AES-256-GCM ciphertext and tag
//
// The header (magic byte, version, key ID) names the key that sealed the
// value and is authenticated with it (it precedes the context in the
// additional data). Values sealed before key rotation existed have no
// header: nonce | ciphertext, with the context alone as additional data.
// Such legacy values are opened by trying every key.
const (
	boxMagic   byte = 0xCF
	boxVersion byte = 0x01
	keyIDSize       = 4
	headerSize      = 2 + keyIDSize
	nonceSize       = 12 // of AES-GCM
	tagSize         = 16 // of AES-GCM
)

// keyIDLabel separates the key IDs from every other use of the key.
const keyIDLabel = "cf-identity secret.Sealer key id v1\x00"

// Sealed is a value encrypted with AES-256-GCM by a Sealer, such as an OAuth
// provider's access token. Only a Sealer that holds the key it was sealed
// with opens it; the value records that key's ID (see KeyID).
type Sealed struct{ box []byte }

// IsZero reports whether s holds nothing.
func (s Sealed) IsZero() bool { return len(s.box) == 0 }

// KeyID returns the ID of the key that sealed s, as named by its header,
// or "" for a value sealed in the legacy format (no header) and for the
// zero value. It says nothing about the key itself.
func (s Sealed) KeyID() string {
	id, ok := s.header()
	if !ok {
		return ""
	}
	return hex.EncodeToString(id[:])
}

// header returns the key ID of a box that has a header.
func (s Sealed) header() (id [keyIDSize]byte, ok bool) {
	if len(s.box) < headerSize+nonceSize+tagSize || s.box[0] != boxMagic || s.box[1] != boxVersion {
		return id, false
	}
	copy(id[:], s.box[2:headerSize])
	return id, true
}

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

// sealKey is one key of a Sealer.
type sealKey struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

// Sealer encrypts values with its current key and decrypts values sealed
// with the current key or any of its previous keys, so that a master key
// can be replaced while the values sealed with the old one are re-sealed
// (see Reseal). It is safe for concurrent use.
type Sealer struct {
	keys []sealKey // keys[0] is the current key
}

// NewSealer returns a Sealer that seals with current and opens values
// sealed with current or any of previous. Each key is derived (SHA-256)
// from key material that must hold at least 32 bytes of secret randomness;
// the same material given twice is an error. Errors match ErrKey and name
// the key by its position, never by its content.
func NewSealer(current []byte, previous ...[]byte) (*Sealer, error) {
	all := append([][]byte{current}, previous...)
	s := &Sealer{keys: make([]sealKey, 0, len(all))}
	derived := make([][sha256.Size]byte, 0, len(all))
	for i, material := range all {
		if len(material) < 32 {
			return nil, fmt.Errorf("%w: %s needs at least 32 bytes, has %d", ErrKey, keyName(i), len(material))
		}
		k := sha256.Sum256(material)
		for j, other := range derived {
			if k == other {
				return nil, fmt.Errorf("%w: %s repeats %s", ErrKey, keyName(i), keyName(j))
			}
		}
		derived = append(derived, k)
		id := keyID(k)
		for j, other := range s.keys {
			if other.id == id {
				// Two distinct keys with one ID (a chance of 2^-32) could not
				// be told apart in the values they seal.
				return nil, fmt.Errorf("%w: %s has the key ID of %s; generate another key", ErrKey, keyName(i), keyName(j))
			}
		}
		block, err := aes.NewCipher(k[:])
		if err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		s.keys = append(s.keys, sealKey{id: id, aead: aead})
	}
	return s, nil
}

func keyName(i int) string {
	if i == 0 {
		return "the current sealing key"
	}
	return fmt.Sprintf("previous sealing key %d", i)
}

// keyID is a public name of a derived key: the first bytes of a SHA-256
// over a label and the key, which tell keys apart without revealing them.
func keyID(k [sha256.Size]byte) [keyIDSize]byte {
	h := sha256.New()
	h.Write([]byte(keyIDLabel))
	h.Write(k[:])
	var id [keyIDSize]byte
	copy(id[:], h.Sum(nil))
	return id
}

// KeyID returns the ID of the current key (8 hex digits), which every value
// it seals records. The ID reveals nothing of the key.
func (s *Sealer) KeyID() string { return hex.EncodeToString(s.keys[0].id[:]) }

// KeyIDs returns the IDs of all keys of s, the current key first, then the
// previous keys in the order given to NewSealer.
func (s *Sealer) KeyIDs() []string {
	ids := make([]string, len(s.keys))
	for i, k := range s.keys {
		ids[i] = hex.EncodeToString(k.id[:])
	}
	return ids
}

// Current reports whether v was sealed with the current key (in the format
// that records it). It reads the header only: it does not decrypt v, so a
// tampered value may still report true and fail to open.
func (s *Sealer) Current(v Sealed) bool {
	id, ok := v.header()
	return ok && id == s.keys[0].id
}

// Seal encrypts plaintext with the current key. The context binds the
// ciphertext to its place (for example the account ID), so that it cannot
// be moved to another row.
func (s *Sealer) Seal(plaintext []byte, context string) (Sealed, error) {
	k := s.keys[0]
	box := make([]byte, headerSize+nonceSize, headerSize+nonceSize+len(plaintext)+tagSize)
	box[0], box[1] = boxMagic, boxVersion
	copy(box[2:headerSize], k.id[:])
	if _, err := rand.Read(box[headerSize:]); err != nil {
		return Sealed{}, fmt.Errorf("secret: reading randomness: %w", err)
	}
	nonce := box[headerSize : headerSize+nonceSize]
	return Sealed{box: k.aead.Seal(box, nonce, plaintext, additional(box[:headerSize], context))}, nil
}

// additional is the additional data of a box with a header.
func additional(header []byte, context string) []byte {
	return append(append(make([]byte, 0, len(header)+len(context)), header...), context...)
}

// Open decrypts v sealed with the same context, with whichever key of s
// sealed it. It fails with ErrOpen when no key opens it.
func (s *Sealer) Open(v Sealed, context string) ([]byte, error) {
	out, _, err := s.open(v, context)
	return out, err
}

// open decrypts v and reports whether it was sealed with the current key
// in the format that records it.
func (s *Sealer) open(v Sealed, context string) (plaintext []byte, current bool, err error) {
	if id, ok := v.header(); ok {
		for i, k := range s.keys {
			if k.id != id {
				continue
			}
			body := v.box[headerSize:]
			if out, err := k.aead.Open(nil, body[:nonceSize], body[nonceSize:], additional(v.box[:headerSize], context)); err == nil {
				return out, i == 0, nil
			}
			break
		}
		// An unknown ID, or a box that did not open with its key: a legacy
		// box whose random nonce happens to begin like a header is
		// opened below.
	}
	if len(v.box) < nonceSize+tagSize {
		return nil, false, ErrOpen
	}
	for _, k := range s.keys {
		if out, err := k.aead.Open(nil, v.box[:nonceSize], v.box[nonceSize:], []byte(context)); err == nil {
			return out, false, nil
		}
	}
	return nil, false, ErrOpen
}

// Reseal returns v sealed with the current key, opening it with whichever
// key of s sealed it; it reports false (and returns v itself) when v
// already is sealed with the current key. It fails with ErrOpen when no
// key of s opens v (the zero value included). The plaintext never leaves
// s.
func (s *Sealer) Reseal(v Sealed, context string) (Sealed, bool, error) {
	plaintext, current, err := s.open(v, context)
	if err != nil {
		return Sealed{}, false, err
	}
	defer clear(plaintext)
	if current {
		return v, false, nil
	}
	out, err := s.Seal(plaintext, context)
	if err != nil {
		return Sealed{}, false, err
	}
	return out, true, nil
}
