package scalar_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/graph/scalar"
	"github.com/cf/identity/pulid"
)

// FuzzUnmarshalCursor feeds arbitrary strings to the Cursor scalar: it
// must not panic, must refuse with a *scalar.Error, and what it accepts
// must hold an ID and survive a round trip.
func FuzzUnmarshalCursor(f *testing.F) {
	id := pulid.New("usr")
	for _, c := range []scalar.Cursor{
		{ID: id},
		{ID: id, Value: "acme"},
		{ID: id, Value: int64(42)},
		{ID: id, Value: time.Date(2025, 1, 31, 9, 30, 0, 0, time.UTC)},
		{ID: id, Value: []any{"a", int64(1)}},
	} {
		f.Add(marshalCursor(c))
	}
	f.Add("")
	f.Add("nope")
	f.Add("Z2FyYmFnZQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := scalar.UnmarshalCursor(s)
		if err != nil {
			mustInvalid(t, err)
			return
		}
		if _, err := pulid.Parse(string(c.ID)); err != nil {
			t.Fatalf("accepted a cursor whose ID does not parse: %q", c.ID)
		}
		back, err := scalar.UnmarshalCursor(marshalCursor(c))
		if err != nil || back.ID != c.ID {
			t.Fatalf("round trip of %q: %v, ID %q", s, err, back.ID)
		}
	})
}

// decode reads data as a GraphQL transport does (numbers kept as
// json.Number); ok is false for data that is not JSON.
func decode(data []byte) (v any, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return v, dec.Decode(&v) == nil
}

var jsonSeeds = []string{
	`{}`, `{"a":1}`, `{"a":{"b":[1,2,{"c":null}]}}`, `[]`, `[1,"a"]`, `"x"`, `1.5e300`, `null`, `true`,
	`{"a":"\u0000"}`, `{"\u0000":1}`, `[[[[[[[[[["deep"]]]]]]]]]]`, `{"k":"é","ü":"\ud83d\ude00"}`,
}

// FuzzUnmarshalMap feeds arbitrary JSON to the Map scalar: objects without
// NUL characters are accepted, everything else is refused with a
// *scalar.Error, never a panic.
func FuzzUnmarshalMap(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, ok := decode(data)
		if !ok {
			return
		}
		m, err := scalar.UnmarshalMap(v)
		_, isObject := v.(map[string]any)
		switch {
		case err != nil:
			mustInvalid(t, err)
			if isObject && !hasNUL(t, v) {
				t.Fatalf("refused an object without NUL: %s: %v", data, err)
			}
		case !isObject:
			t.Fatalf("accepted %T: %s", v, data)
		case hasNUL(t, m):
			t.Fatalf("accepted a NUL character: %s", data)
		}
	})
}

// FuzzUnmarshalJSON feeds arbitrary JSON to the JSON scalar: any value
// without NUL characters is accepted and written back as equivalent JSON.
func FuzzUnmarshalJSON(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, ok := decode(data)
		if !ok {
			return
		}
		raw, err := scalar.UnmarshalJSON(v)
		if err != nil {
			mustInvalid(t, err)
			if !hasNUL(t, v) {
				t.Fatalf("refused JSON without NUL: %s: %v", data, err)
			}
			return
		}
		// The written JSON holds no NUL once decoded (its text may hold
		// an escaped backslash followed by "u0000", which is no NUL).
		back, ok := decode(raw)
		if !ok || hasNUL(t, back) {
			t.Fatalf("wrote %s for %s", raw, data)
		}
	})
}

// FuzzUnmarshalTime feeds arbitrary strings to the Time scalar: accepted
// times round-trip, the rest is refused with a *scalar.Error.
func FuzzUnmarshalTime(f *testing.F) {
	for _, s := range []string{"2025-01-31T09:30:00Z", "2025-01-31T10:30:00.123456789+01:00", "yesterday", "", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := scalar.UnmarshalTime(s)
		if err != nil {
			mustInvalid(t, err)
			return
		}
		var b bytes.Buffer
		scalar.MarshalTime(tm).MarshalGQL(&b)
		if tm.IsZero() {
			return // written as null
		}
		back, err := scalar.UnmarshalTime(strings.Trim(b.String(), `"`))
		if err != nil || !back.Equal(tm) {
			t.Fatalf("round trip of %q via %s: %v", s, b.String(), err)
		}
	})
}

// hasNUL reports whether a key or string of v holds a NUL character. It
// walks the value: the JSON text of a string may hold an escaped backslash
// followed by "u0000", which is no NUL.
func hasNUL(t *testing.T, v any) bool {
	t.Helper()
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, 0)
	case []any:
		for _, e := range v {
			if hasNUL(t, e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) || hasNUL(t, e) {
				return true
			}
		}
	}
	return false
}
