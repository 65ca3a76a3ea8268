package scalar_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/graph/scalar"
	"github.com/cf/identity/pulid"
)

// mustInvalid fails unless err is a *scalar.Error matching ErrInvalid.
func mustInvalid(t *testing.T, err error) {
	t.Helper()
	var serr *scalar.Error
	if !errors.As(err, &serr) || !errors.Is(err, scalar.ErrInvalid) {
		t.Fatalf("error = %v (%T), want a *scalar.Error", err, err)
	}
	if len(serr.Error()) > 400 {
		t.Fatalf("message of %d bytes: %.80s…", len(serr.Error()), serr.Error())
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	valid := marshalCursor(scalar.Cursor{ID: pulid.New("usr")})
	cases := []struct {
		name string
		fn   func(any) error
		in   any
		ok   bool
	}{
		{"time RFC 3339", timeFn, "2025-01-31T09:30:00Z", true},
		{"time with offset and fraction", timeFn, "2025-01-31T10:30:00.5+01:00", true},
		{"time words", timeFn, "yesterday", false},
		{"time without offset", timeFn, "2025-01-31T09:30:00", false},
		{"time number", timeFn, int64(12), false},
		{"map object", mapFn, map[string]any{"a": []any{"b", map[string]any{"c": nil}}}, true},
		{"map list", mapFn, []any{1}, false},
		{"map string", mapFn, "{}", false},
		{"map null", mapFn, nil, false},
		{"map NUL in nested string", mapFn, map[string]any{"a": []any{map[string]any{"b": "x\x00"}}}, false},
		{"map NUL in key", mapFn, map[string]any{"\x00": 1}, false},
		{"json any value", jsonFn, []any{"a", json.Number("1")}, true},
		{"json NUL", jsonFn, []any{"a\x00"}, false},
		{"string", stringFn, "hello", true},
		{"string NUL", stringFn, "a\x00b", false},
		{"string object", stringFn, map[string]any{}, false},
		{"cursor of the server", cursorFn, valid, true},
		{"cursor garbage", cursorFn, "nope", false},
		{"cursor base64 of garbage", cursorFn, "Z2FyYmFnZQ", false},
		{"cursor number", cursorFn, int64(5), false},
		{"cursor too long", cursorFn, strings.Repeat("A", scalar.MaxCursorLength+1), false},
		{"cursor with a bad ID", cursorFn, marshalCursor(scalar.Cursor{ID: "x"}), false},
		{"cursor with an object value", cursorFn, marshalCursor(scalar.Cursor{ID: pulid.New("usr"), Value: map[string]any{"a": 1}}), false},
		{"cursor with a time value", cursorFn, marshalCursor(scalar.Cursor{ID: pulid.New("usr"), Value: time.Now()}), true},
		{"cursor with several values", cursorFn, marshalCursor(scalar.Cursor{ID: pulid.New("usr"), Value: []any{"a", int64(1)}}), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.fn(tc.in)
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			mustInvalid(t, err)
		})
	}
}

func timeFn(v any) error   { _, err := scalar.UnmarshalTime(v); return err }
func mapFn(v any) error    { _, err := scalar.UnmarshalMap(v); return err }
func jsonFn(v any) error   { _, err := scalar.UnmarshalJSON(v); return err }
func stringFn(v any) error { _, err := scalar.UnmarshalString(v); return err }
func cursorFn(v any) error { _, err := scalar.UnmarshalCursor(v); return err }

// marshalCursor returns c as the GraphQL string the server sends.
func marshalCursor(c scalar.Cursor) string {
	var b bytes.Buffer
	scalar.MarshalCursor(c).MarshalGQL(&b)
	s, err := strconv.Unquote(b.String())
	if err != nil {
		panic(err)
	}
	return s
}
