// Package validation holds the error returned for input that breaks a rule
// of the model which ent's field validators cannot express (a rule over
// several fields, say).
package validation

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is the sentinel every *Error wraps.
var ErrInvalid = errors.New("invalid input")

// Error names the field that is wrong and why.
type Error struct {
	Field  string
	Reason string
	// Err is the typed error behind the reason, if any (for example a
	// *password.RuleError); errors.Is and errors.As reach it.
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason) }

// Unwrap returns ErrInvalid and Err.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}

// Wrap returns an *Error for field whose reason is the message of err
// (without its "package: " prefix) and which wraps err.
func Wrap(field string, err error) error {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i > 0 && !strings.ContainsAny(msg[:i], " \t") {
		msg = msg[i+2:]
	}
	return &Error{Field: field, Reason: msg, Err: err}
}

// Errorf returns an *Error for field with a formatted reason.
func Errorf(field, format string, args ...any) error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}
