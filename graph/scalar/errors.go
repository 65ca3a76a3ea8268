package scalar

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalid is wrapped by every *Error: the value of a scalar in a query
// or its variables is not one the scalar accepts. It is the caller's
// mistake (BAD_USER_INPUT).
var ErrInvalid = errors.New("scalar: invalid value")

// Error reports a value a scalar does not accept. Its message names the
// scalar and says what to send instead; it shows at most the first 64
// bytes of the value.
type Error struct {
	// Scalar is the GraphQL scalar: Time, Map, JSON, String, Cursor.
	Scalar string
	// Value is the offending value, shortened, quoted; empty when the
	// value is not a string.
	Value string
	// Reason says what is wrong and what the scalar wants.
	Reason string
}

func (e *Error) Error() string {
	if e.Value != "" {
		return fmt.Sprintf("invalid %s %s: %s", e.Scalar, e.Value, e.Reason)
	}
	return fmt.Sprintf("invalid %s: %s", e.Scalar, e.Reason)
}

// Unwrap returns ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

func invalid(scalar string, v any, format string, args ...any) *Error {
	e := &Error{Scalar: scalar, Reason: fmt.Sprintf(format, args...)}
	if s, ok := v.(string); ok {
		e.Value = quote(s)
	}
	return e
}

// quote returns s quoted for a message, cut after 64 bytes.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

// kind names the JSON kind of a decoded value for messages.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	default:
		return "a number"
	}
}
