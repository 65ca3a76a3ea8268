// Package pulid implements the identifiers of cf identity: a short type prefix,
// an underscore and a ULID, for example "usr_01JD3Q6X6S4W7N9ZKX2C1V0B8E".
//
// IDs are opaque to callers, carry no row count, sort by creation time (which
// keeps primary-key indexes local), and name the type of the row they point
// to, so that a node lookup needs no probing of tables.
package pulid

import (
	"crypto/rand"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// ID is a type-prefixed ULID. The zero value is not a valid ID.
type ID string

// ErrInvalid is returned (wrapped in a *ParseError) for a string that is not
// a well-formed ID.
var ErrInvalid = errors.New("pulid: invalid id")

// ParseError reports the input that failed to parse and why.
type ParseError struct {
	Input  string
	Reason string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("pulid: invalid id %q: %s", truncate(e.Input, 64), e.Reason)
}

// Unwrap returns ErrInvalid so that errors.Is(err, ErrInvalid) holds.
func (e *ParseError) Unwrap() error { return ErrInvalid }

var (
	mu      sync.Mutex
	entropy = ulid.Monotonic(rand.Reader, 0)
)

// New returns a new ID with the given prefix (without its underscore) for the
// current time. It panics when the prefix is not 2 to 4 lower-case letters,
// which is a programming error.
func New(prefix string) ID {
	if !validPrefix(prefix) {
		panic(fmt.Sprintf("pulid: invalid prefix %q", prefix))
	}
	mu.Lock()
	u := ulid.MustNew(ulid.Timestamp(time.Now()), entropy)
	mu.Unlock()
	return ID(prefix + "_" + u.String())
}

// Parse checks that s is a well-formed ID and returns it.
func Parse(s string) (ID, error) {
	i := len(s) - ulid.EncodedSize - 1
	if i < 2 || i > 4 || s[i] != '_' {
		return "", &ParseError{Input: s, Reason: "want a type prefix, an underscore and 26 characters"}
	}
	if !validPrefix(s[:i]) {
		return "", &ParseError{Input: s, Reason: "prefix must be lower-case letters"}
	}
	if _, err := ulid.ParseStrict(s[i+1:]); err != nil {
		return "", &ParseError{Input: s, Reason: "malformed ULID part"}
	}
	return ID(s), nil
}

// Prefix returns the type prefix of id, or "" when id is malformed.
func (id ID) Prefix() string {
	s := string(id)
	i := len(s) - ulid.EncodedSize - 1
	if i < 2 || i > 4 || s[i] != '_' {
		return ""
	}
	return s[:i]
}

// Time returns the creation time encoded in id (millisecond precision), or
// the zero time when id is malformed.
func (id ID) Time() time.Time {
	s := string(id)
	if len(s) < ulid.EncodedSize {
		return time.Time{}
	}
	u, err := ulid.ParseStrict(s[len(s)-ulid.EncodedSize:])
	if err != nil {
		return time.Time{}
	}
	return ulid.Time(u.Time())
}

// String returns the ID as a string.
func (id ID) String() string { return string(id) }

// UnmarshalGQL implements graphql.Unmarshaler: it accepts a well-formed ID
// string and rejects anything else with a *ParseError.
func (id *ID) UnmarshalGQL(v any) error {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case ID:
		s = string(v)
	default:
		return &ParseError{Input: fmt.Sprint(v), Reason: fmt.Sprintf("want a string, got %T", v)}
	}
	p, err := Parse(s)
	if err != nil {
		return err
	}
	*id = p
	return nil
}

// MarshalGQL implements graphql.Marshaler.
func (id ID) MarshalGQL(w io.Writer) {
	_, _ = io.WriteString(w, strconv.Quote(string(id)))
}

// Scan implements sql.Scanner. Values read from the database are trusted and
// not re-validated.
func (id *ID) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*id = ID(v)
	case []byte:
		*id = ID(v)
	case nil:
		return errors.New("pulid: cannot scan NULL into ID")
	default:
		return fmt.Errorf("pulid: cannot scan %T into ID", src)
	}
	return nil
}

// Value implements driver.Valuer.
func (id ID) Value() (driver.Value, error) { return string(id), nil }

func validPrefix(p string) bool {
	if len(p) < 2 || len(p) > 4 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 'a' || p[i] > 'z' {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
