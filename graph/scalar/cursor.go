package scalar

import (
	"fmt"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"

	"github.com/cf/identity/pulid"
)

// MaxCursorLength is the longest cursor accepted, in bytes. The server's
// own cursors are far shorter.
const MaxCursorLength = 1024

// Cursor is the Go type of the Cursor scalar (after/before of connections).
type Cursor = entgql.Cursor[pulid.ID]

// MarshalCursor writes a cursor as entgql does (base64 of msgpack).
func MarshalCursor(c Cursor) graphql.Marshaler { return c }

// UnmarshalCursor reads a cursor the server handed out in a connection's
// edges or pageInfo. Anything else (a string that is not such a cursor, a
// cursor over MaxCursorLength, one whose ID is not an ID or whose ordering
// value is not a plain value) is refused with an *Error.
func UnmarshalCursor(v any) (Cursor, error) {
	const want = "pass a cursor from a connection's edges or pageInfo unchanged"
	var c Cursor
	s, ok := v.(string)
	if !ok {
		return c, invalid("Cursor", nil, "want a string, got %s; %s", kind(v), want)
	}
	if len(s) > MaxCursorLength {
		return c, invalid("Cursor", nil, "longer than %d bytes; %s", MaxCursorLength, want)
	}
	if err := decodeCursor(&c, s); err != nil {
		return Cursor{}, invalid("Cursor", s, "not a cursor of this server; %s", want)
	}
	if _, err := pulid.Parse(string(c.ID)); err != nil || !plain(c.Value, true) {
		return Cursor{}, invalid("Cursor", s, "not a cursor of this server; %s", want)
	}
	return c, nil
}

// decodeCursor is entgql's decoding (base64 of msgpack) that turns a panic
// of the msgpack decoder into an error: some crafted inputs make it panic
// (for one, "gqF27aF270": reflect.Value.SetInt using unaddressable value).
func decodeCursor(c *Cursor, s string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("scalar: cursor decoder panicked: %v", r)
		}
	}()
	return c.UnmarshalGQL(s)
}

// plain reports whether v can be an ordering value of a cursor: nothing, a
// string, number, boolean or time, or (for several order fields, when
// list is true) a list of those.
func plain(v any, list bool) bool {
	switch v := v.(type) {
	case nil, string, bool, time.Time,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return true
	case []any:
		if !list {
			return false
		}
		for _, e := range v {
			if !plain(e, false) {
				return false
			}
		}
		return true
	}
	return false
}
