package pulid

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	fresh := New("usr")
	tests := []struct {
		name  string
		input string
		ok    bool
	}{
		{"fresh", string(fresh), true},
		{"fixed role id", "rol_00000000000000000000000001", true},
		{"empty", "", false},
		{"no prefix", "01JD3Q6X6S4W7N9ZKX2C1V0B8E", false},
		{"upper prefix", "USR_01JD3Q6X6S4W7N9ZKX2C1V0B8E", false},
		{"bad ulid char", "usr_01JD3Q6X6S4W7N9ZKX2C1V0BUI", false},
		{"short", "usr_01JD3Q6X", false},
		{"sql", "usr_' OR 1=1 --xxxxxxxxxxxxxxx", false},
		{"integer", "42", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.input)
			if tt.ok && err != nil {
				t.Fatalf("Parse(%q) = %v, want nil", tt.input, err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) = %v, want ErrInvalid", tt.input, err)
			}
		})
	}
}

func TestNewIsOrderedAndPrefixed(t *testing.T) {
	prev := New("org")
	for i := 0; i < 1000; i++ {
		next := New("org")
		if next <= prev {
			t.Fatalf("IDs not increasing: %s then %s", prev, next)
		}
		if next.Prefix() != "org" {
			t.Fatalf("Prefix() = %q", next.Prefix())
		}
		prev = next
	}
	if d := time.Since(prev.Time()); d < 0 || d > time.Minute {
		t.Fatalf("Time() = %v, not close to now", prev.Time())
	}
}

func TestUnmarshalGQL(t *testing.T) {
	var id ID
	if err := id.UnmarshalGQL(42); !errors.Is(err, ErrInvalid) {
		t.Fatalf("UnmarshalGQL(42) = %v, want ErrInvalid", err)
	}
	want := New("key")
	if err := id.UnmarshalGQL(string(want)); err != nil || id != want {
		t.Fatalf("UnmarshalGQL(%q) = %v, %q", want, err, id)
	}
}
