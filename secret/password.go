package secret

import (
	"crypto/rand"
	"crypto/subtle"
	"database/sql/driver"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// ErrPasswordTooShort is returned by HashPassword for passwords shorter than
// MinPasswordLength.
var ErrPasswordTooShort = errors.New("secret: password too short")

// MinPasswordLength is the shortest password HashPassword accepts.
const MinPasswordLength = 10

// argon2id parameters (RFC 9106, second recommended option, lighter memory).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
)

// PasswordHash is an argon2id password hash in PHC string form.
type PasswordHash struct{ phc string }

// HashPassword returns the argon2id hash of password with a random salt.
func HashPassword(password string) (PasswordHash, error) {
	if len(password) < MinPasswordLength {
		return PasswordHash{}, fmt.Errorf("%w: want at least %d characters", ErrPasswordTooShort, MinPasswordLength)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return PasswordHash{}, fmt.Errorf("secret: reading randomness: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return PasswordHash{phc: fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key))}, nil
}

// Verify reports, in constant time for a given hash, whether password matches.
func (h PasswordHash) Verify(password string) bool {
	parts := strings.Split(h.phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// IsZero reports whether h holds no hash.
func (h PasswordHash) IsZero() bool { return h.phc == "" }

// String hides the hash.
func (h PasswordHash) String() string { return "<redacted>" }

// MarshalJSON hides the hash.
func (h PasswordHash) MarshalJSON() ([]byte, error) { return []byte(`"<redacted>"`), nil }

// Value implements driver.Valuer.
func (h PasswordHash) Value() (driver.Value, error) {
	if !strings.HasPrefix(h.phc, "$argon2id$") {
		return nil, errors.New("secret: not a password hash")
	}
	return h.phc, nil
}

// Scan implements sql.Scanner.
func (h *PasswordHash) Scan(src any) error {
	switch v := src.(type) {
	case string:
		h.phc = v
	case []byte:
		h.phc = string(v)
	case nil:
		h.phc = ""
	default:
		return fmt.Errorf("secret: cannot scan %T into PasswordHash", src)
	}
	return nil
}
