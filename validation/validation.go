// Package validation holds the error returned for input that breaks a rule
// of the model which ent's field validators cannot express (a rule over
// several fields, say).
package validation

import (
	"errors"
	"fmt"
)

// ErrInvalid is the sentinel every *Error wraps.
var ErrInvalid = errors.New("invalid input")

// Error names the field that is wrong and why.
type Error struct {
	Field  string
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason) }

// Unwrap returns ErrInvalid.
func (e *Error) Unwrap() error { return ErrInvalid }

// Errorf returns an *Error for field with a formatted reason.
func Errorf(field, format string, args ...any) error {
	return &Error{Field: field, Reason: fmt.Sprintf(format, args...)}
}
