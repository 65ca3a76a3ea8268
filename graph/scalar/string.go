package scalar

import (
	"strings"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalString writes a GraphQL String.
func MarshalString(s string) graphql.Marshaler { return graphql.MarshalString(s) }

// UnmarshalString reads a GraphQL String input. Besides what gqlgen
// accepts, it refuses strings with a NUL character (U+0000): no column can
// store one (PostgreSQL rejects it; SQLite cuts text there).
func UnmarshalString(v any) (string, error) {
	s, err := graphql.UnmarshalString(v)
	if err != nil {
		return "", invalid("String", v, "want a string, got %s", kind(v))
	}
	if strings.IndexByte(s, 0) >= 0 {
		return "", invalid("String", s, "contains a NUL character (U+0000); remove it")
	}
	return s, nil
}
