// Package scalar holds the GraphQL scalars the admin API adds to gqlgen's.
package scalar

import (
	"encoding/json"
	"io"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalJSON writes a raw JSON value as the GraphQL JSON scalar.
func MarshalJSON(v json.RawMessage) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		if len(v) == 0 {
			_, _ = io.WriteString(w, "null")
			return
		}
		_, _ = w.Write(v)
	})
}

// UnmarshalJSON reads the GraphQL JSON scalar (any JSON value) into raw
// JSON. Keys and strings with a NUL character (U+0000) are refused with an
// *Error: PostgreSQL cannot store them in jsonb.
func UnmarshalJSON(v any) (json.RawMessage, error) {
	if err := checkNUL("JSON", v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, invalid("JSON", nil, "not a JSON value")
	}
	return b, nil
}
