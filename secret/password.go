package secret

import (
	"crypto/rand"
	"crypto/subtle"
	"database/sql/driver"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters of new hashes. They appear in
// a hash's PHC string as "m=<Memory>,t=<Time>,p=<Threads>".
type Argon2Params struct {
	Memory  uint32 // memory in KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes (degree of parallelism)
}

// MinArgon2 is the floor Validate enforces on each dimension: OWASP's minimum
// configuration for argon2id (Password Storage Cheat Sheet: m = 19 MiB, t = 2,
// p = 1).
var MinArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// DefaultArgon2 are the parameters HashPassword uses: 64 MiB, t = 2, p = 1.
// The memory is that of RFC 9106's second recommended option and 3.4 times
// OWASP's floor; memory is what makes guessing on GPUs and ASICs expensive.
// One lane keeps a sign-in on one core (about 85 ms on one core of the
// development machine, an AMD EPYC), so concurrent sign-ins on a small server
// queue for cores instead of each taking all of them; more lanes would shorten
// a single hash on an idle machine but cost an attacker nothing more. Each
// hash in flight holds 64 MiB, so the number of concurrent sign-ins bounds
// the memory the server needs.
var DefaultArgon2 = Argon2Params{Memory: 64 * 1024, Time: 2, Threads: 1}

// Upper bounds on parameters, in new hashes and in stored ones: beyond them a
// hash is a configuration mistake or a planted denial of service.
const (
	maxArgon2Memory = 4 * 1024 * 1024 // KiB, 4 GiB
	maxArgon2Time   = 100
)

// Shapes of the hashes this package writes and reads.
const (
	argonKeyLen   = 32 // bytes of the derived key in new hashes
	argonSaltLen  = 16 // bytes of salt in new hashes
	minStoredKey  = 16 // shortest key Verify accepts in a stored hash
	maxStoredKey  = 64
	minStoredSalt = 8
	maxStoredSalt = 64
	maxPHCLen     = 256 // longer stored strings are refused before decoding
)

var (
	// ErrWeakParams is wrapped by Argon2Params.Validate (and so by
	// HashPasswordWith) when memory, time or threads is below MinArgon2.
	ErrWeakParams = errors.New("secret: argon2id parameters below the minimum")
	// ErrExcessiveParams is wrapped by Argon2Params.Validate when memory is
	// above 4 GiB or time above 100.
	ErrExcessiveParams = errors.New("secret: argon2id parameters above the maximum")
	// ErrEmptyPassword is returned by HashPassword and HashPasswordWith for an
	// empty password.
	ErrEmptyPassword = errors.New("secret: empty password")
)

// Validate returns nil when p may be used for new hashes. Otherwise it returns
// an error wrapping ErrWeakParams (a dimension below MinArgon2, including
// zero threads) or ErrExcessiveParams (memory above 4 GiB, time above 100)
// that names the first offending dimension, checked in the order memory,
// time, threads.
func (p Argon2Params) Validate() error {
	switch {
	case p.Memory < MinArgon2.Memory:
		return fmt.Errorf("%w: memory %d KiB, want at least %d KiB", ErrWeakParams, p.Memory, MinArgon2.Memory)
	case p.Memory > maxArgon2Memory:
		return fmt.Errorf("%w: memory %d KiB, want at most %d KiB", ErrExcessiveParams, p.Memory, maxArgon2Memory)
	case p.Time < MinArgon2.Time:
		return fmt.Errorf("%w: time %d, want at least %d", ErrWeakParams, p.Time, MinArgon2.Time)
	case p.Time > maxArgon2Time:
		return fmt.Errorf("%w: time %d, want at most %d", ErrExcessiveParams, p.Time, maxArgon2Time)
	case p.Threads < MinArgon2.Threads:
		return fmt.Errorf("%w: threads %d, want at least %d", ErrWeakParams, p.Threads, MinArgon2.Threads)
	}
	return nil
}

// String returns the parameters as they appear in a PHC string,
// "m=65536,t=2,p=1".
func (p Argon2Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

// usable reports whether p can be computed at all without panicking or
// allocating an absurd amount of memory. Stored hashes only have to be usable,
// not valid: a hash below today's minimum still verifies, so that the caller
// can rehash it (see NeedsRehash).
func (p Argon2Params) usable() bool {
	return p.Time >= 1 && p.Time <= maxArgon2Time && p.Threads >= 1 && p.Memory <= maxArgon2Memory
}

// PasswordHash is an argon2id password hash in PHC string form,
// "$argon2id$v=19$m=65536,t=2,p=1$<salt>$<key>" with unpadded standard
// base64. Its String and MarshalJSON hide it.
type PasswordHash struct{ phc string }

// HashPassword returns the argon2id hash of password with DefaultArgon2 and a
// random salt. It applies no length or strength rules (package
// github.com/cf/identity/password does); it refuses only the empty password,
// with ErrEmptyPassword.
func HashPassword(password string) (PasswordHash, error) {
	return HashPasswordWith(password, DefaultArgon2)
}

// HashPasswordWith is HashPassword with the parameters p. It returns an error
// wrapping ErrWeakParams or ErrExcessiveParams when p fails Validate, and
// ErrEmptyPassword for an empty password.
func HashPasswordWith(password string, p Argon2Params) (PasswordHash, error) {
	if err := p.Validate(); err != nil {
		return PasswordHash{}, err
	}
	if password == "" {
		return PasswordHash{}, ErrEmptyPassword
	}
	return hashWith(password, p)
}

// hashWith hashes without validating p; p must be usable.
func hashWith(password string, p Argon2Params) (PasswordHash, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return PasswordHash{}, fmt.Errorf("secret: reading randomness: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, argonKeyLen)
	enc := base64.RawStdEncoding
	return PasswordHash{phc: fmt.Sprintf("$argon2id$v=%d$%s$%s$%s",
		argon2.Version, p, enc.EncodeToString(salt), enc.EncodeToString(key))}, nil
}

// phc is a parsed argon2id v=19 PHC string.
type phc struct {
	params    Argon2Params
	salt, key []byte
}

// parse splits h into its parts. It reports false for anything but an
// argon2id v=19 hash with usable parameters and salt and key of sane length,
// so that a tampered stored hash cannot make Verify allocate gigabytes or run
// for minutes.
func (h PasswordHash) parse() (phc, bool) {
	if len(h.phc) > maxPHCLen {
		return phc{}, false
	}
	parts := strings.Split(h.phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phc{}, false
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return phc{}, false
	}
	var n [3]uint64
	for i, f := range []struct {
		name string
		bits int
	}{{"m", 32}, {"t", 32}, {"p", 8}} {
		name, val, ok := strings.Cut(fields[i], "=")
		if !ok || name != f.name {
			return phc{}, false
		}
		v, err := strconv.ParseUint(val, 10, f.bits)
		if err != nil {
			return phc{}, false
		}
		n[i] = v
	}
	// Each n[i] was parsed with its field's bit size (32, 32, 8): no overflow.
	params := Argon2Params{Memory: uint32(n[0]), Time: uint32(n[1]), Threads: uint8(n[2])} //nolint:gosec // bounded by ParseUint's bitSize above
	if !params.usable() {
		return phc{}, false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	key, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil ||
		len(salt) < minStoredSalt || len(salt) > maxStoredSalt ||
		len(key) < minStoredKey || len(key) > maxStoredKey {
		return phc{}, false
	}
	return phc{params: params, salt: salt, key: key}, true
}

// Verify reports whether password matches h. The comparison of the derived
// key is constant-time; the work done depends only on h's parameters, not on
// the password. Verify returns false without hashing for the zero hash and for
// a hash that is not argon2id v=19, has memory above 4 GiB, time 0 or above
// 100, zero threads, or a salt or key of implausible length. Hashes with
// parameters below MinArgon2 still verify; check NeedsRehash after a
// successful Verify.
func (h PasswordHash) Verify(password string) bool {
	ph, ok := h.parse()
	if !ok {
		return false
	}
	got := argon2.IDKey([]byte(password), ph.salt, ph.params.Time, ph.params.Memory, ph.params.Threads, uint32(len(ph.key))) //nolint:gosec // parse caps len(key) at maxStoredKey
	return subtle.ConstantTimeCompare(got, ph.key) == 1
}

// NeedsRehash reports whether h should be replaced by a new hash made with p:
// true unless h is argon2id v=19 with exactly p's memory, time and threads, a
// 32-byte key and a salt of at least 16 bytes. A hash stronger than p is also
// replaced, so lowering the configured parameters takes effect too. Garbage
// and the zero hash need rehashing. Call it after Verify succeeded, while the
// password is at hand.
func (h PasswordHash) NeedsRehash(p Argon2Params) bool {
	ph, ok := h.parse()
	return !ok || ph.params != p || len(ph.key) != argonKeyLen || len(ph.salt) < argonSaltLen
}

// dummyHashes holds, per Argon2Params, a *dummyHash of a random password.
var dummyHashes sync.Map

type dummyHash struct {
	once sync.Once
	h    PasswordHash
}

// VerifyDummy spends the work of Verify on a hash made with p, and discards
// the result. Call it when a sign-in names an unknown account, so that its
// response time does not reveal which accounts exist.
//
// The hash verified against is made once per p, lazily, from random bytes
// (never a real password) and kept for the life of the process; the first
// call for a given p therefore takes about twice as long, so call it once at
// startup with the configured parameters. p comes from configuration, so the
// cache holds a handful of entries. For parameters Verify would refuse in a
// stored hash (time 0 or above 100, zero threads, memory above 4 GiB),
// VerifyDummy returns at once, as Verify would.
func VerifyDummy(password string, p Argon2Params) {
	if !p.usable() {
		return
	}
	v, _ := dummyHashes.LoadOrStore(p, new(dummyHash))
	d := v.(*dummyHash)
	d.once.Do(func() {
		random := make([]byte, 32)
		rand.Read(random) // never fails: crypto/rand crashes the program instead
		d.h, _ = hashWith(base64.RawStdEncoding.EncodeToString(random), p)
	})
	d.h.Verify(password)
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
