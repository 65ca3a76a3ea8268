package schema

import (
	"context"
	"encoding/json"

	"entgo.io/ent"

	"github.com/cf/identity/validation"
)

// MaxJSONBytes is the largest JSON value stored in a metadata field (users,
// organizations) or as a preference value, measured JSON-encoded: 64 KiB.
// Such values are read with every row (viewer, member lists), so a large
// one slows every reader of its organization.
const MaxJSONBytes = 64 << 10

// jsonSizeHook refuses a create or update that sets one of fields to a
// value larger than MaxJSONBytes encoded, with a *validation.Error naming
// the field. Appending to a JSON field is measured by what it appends.
func jsonSizeHook(fields ...string) ent.Hook {
	// appender is the preference mutation, whose json.RawMessage value
	// can be appended to.
	type appender interface {
		AppendedValue() (json.RawMessage, bool)
	}
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			for _, f := range fields {
				values := make([]ent.Value, 0, 2)
				if v, ok := m.Field(f); ok {
					values = append(values, v)
				}
				if a, ok := m.(appender); ok && f == "value" {
					if v, ok := a.AppendedValue(); ok {
						values = append(values, v)
					}
				}
				for _, v := range values {
					if err := checkJSONSize(f, v); err != nil {
						return nil, err
					}
				}
			}
			return next.Mutate(ctx, m)
		})
	}
}

func checkJSONSize(field string, v ent.Value) error {
	var n int
	switch v := v.(type) {
	case json.RawMessage:
		n = len(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return validation.Errorf(field, "not encodable as JSON: %v", err)
		}
		n = len(b)
	}
	if n > MaxJSONBytes {
		return validation.Errorf(field, "%d bytes of JSON, over the limit of %d", n, MaxJSONBytes)
	}
	return nil
}
