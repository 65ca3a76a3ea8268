package scalar

import (
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalTime writes a Time as an RFC 3339 string with nanoseconds, and
// the zero time as null.
func MarshalTime(t time.Time) graphql.Marshaler { return graphql.MarshalTime(t) }

// UnmarshalTime reads a Time: an RFC 3339 date and time with an offset,
// such as "2025-01-31T09:30:00Z" or "2025-01-31T10:30:00.5+01:00".
func UnmarshalTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, invalid("Time", v, "want an RFC 3339 string such as \"2025-01-31T09:30:00Z\", got %s", kind(v))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid("Time", s, "want an RFC 3339 date and time with an offset, such as \"2025-01-31T09:30:00Z\"")
	}
	return t, nil
}
