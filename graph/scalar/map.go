package scalar

import (
	"strings"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalMap writes a Map as a JSON object.
func MarshalMap(m map[string]any) graphql.Marshaler { return graphql.MarshalMap(m) }

// UnmarshalMap reads a Map: a JSON object. Any other value (a list, a
// string, a number) is refused, and so are keys and strings with a NUL
// character (U+0000), anywhere in the object.
func UnmarshalMap(v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("Map", nil, "want a JSON object such as {\"key\": \"value\"}, got %s", kind(v))
	}
	if err := checkNUL("Map", m); err != nil {
		return nil, err
	}
	return m, nil
}

// checkNUL refuses a NUL character in any key or string of v (a decoded
// JSON value). The walk uses an explicit stack: a deep value cannot
// exhaust the goroutine's stack.
func checkNUL(scalar string, v any) error {
	stack := []any{v}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch v := v.(type) {
		case string:
			if strings.IndexByte(v, 0) >= 0 {
				return invalid(scalar, nil, "a string contains a NUL character (U+0000); remove it")
			}
		case map[string]any:
			for k, e := range v {
				if strings.IndexByte(k, 0) >= 0 {
					return invalid(scalar, nil, "a key contains a NUL character (U+0000); remove it")
				}
				stack = append(stack, e)
			}
		case []any:
			stack = append(stack, v...)
		}
	}
	return nil
}
