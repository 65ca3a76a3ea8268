package preference

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cf/identity/authz"
)

// ErrNotSet is returned by Get for a key that is not set at the level
// (never set, deleted, or out of the actor's reach).
var ErrNotSet = errors.New("preference: not set")

// ErrStaleVersion is matched by every *VersionError.
var ErrStaleVersion = errors.New("preference: the key is not at the expected version")

// ErrInvalidSchema is wrapped by the errors of Service.Declare for a
// schema that is not a valid JSON Schema (or refers to documents outside
// itself).
var ErrInvalidSchema = errors.New("preference: invalid JSON Schema")

// ErrSchemaViolation is matched by every *SchemaError.
var ErrSchemaViolation = errors.New("preference: the value does not satisfy the key's schema")

// VersionError refuses a conditional Set or Delete whose expected version
// is not the key's version at the level. Nothing was written: read the
// key again and decide anew. It matches ErrStaleVersion and
// authz.ErrConcurrentUpdate (GraphQL answers CONFLICT).
type VersionError struct {
	Level Level
	Key   string
	// Expected is the version the caller expected (0: not set).
	Expected int
	// Current is the key's version when the write was refused (0: not
	// set), as the actor may read it.
	Current int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("preference: %s preference %q is at version %d, not %d: read it again", e.Level, e.Key, e.Current, e.Expected)
}

// Is reports whether target is ErrStaleVersion or authz.ErrConcurrentUpdate.
func (e *VersionError) Is(target error) bool {
	return target == ErrStaleVersion || target == authz.ErrConcurrentUpdate
}

// SchemaError refuses a value that does not satisfy the JSON Schema
// declared for its key. Set returns it wrapped in a *validation.Error for
// field "value" (GraphQL BAD_USER_INPUT).
type SchemaError struct {
	Key string
	// Violations are the failing parts of the value, in the order the
	// schema found them.
	Violations []Violation
}

// Violation is one part of a value that breaks the schema.
type Violation struct {
	// Location is the JSON Pointer (RFC 6901) of the failing part of the
	// value: "" for the value itself, "/theme/mode", "/tags/2".
	Location string
	// Reason says why, in the words of the validator.
	Reason string
}

// maxShown bounds the violations an error message lists.
const maxShown = 5

func (e *SchemaError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "preference: the value of %q does not satisfy its schema: ", e.Key)
	for i, v := range e.Violations {
		if i == maxShown {
			fmt.Fprintf(&b, "; and %d more", len(e.Violations)-maxShown)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		loc := v.Location
		if loc == "" {
			loc = "the top level"
		}
		fmt.Fprintf(&b, "at %s: %s", loc, v.Reason)
	}
	return b.String()
}

// Is reports whether target is ErrSchemaViolation.
func (e *SchemaError) Is(target error) bool { return target == ErrSchemaViolation }
