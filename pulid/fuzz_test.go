package pulid

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every refusal is a
// *ParseError wrapping ErrInvalid, and that what it accepts is a
// well-formed ID whose prefix and time read back.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		string(New("usr")), string(New("org")), "usr_01JD3Q6X6S4W7N9ZKX2C1V0B8E", "", "_", "usr_",
		"USR_01JD3Q6X6S4W7N9ZKX2C1V0B8E", "usr-01JD3Q6X6S4W7N9ZKX2C1V0B8E", "usr_81JD3Q6X6S4W7N9ZKX2C1V0B8E",
		"u_01JD3Q6X6S4W7N9ZKX2C1V0B8E", "usrxx_01JD3Q6X6S4W7N9ZKX2C1V0B8E", "usr_01JD3Q6X6S4W7N9ZKX2C1V0B8", "ü_01JD3Q6X6S4W7N9ZKX2C1V0B8E",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) = %v (%T), want a *ParseError wrapping ErrInvalid", s, err, err)
			}
			if id != "" {
				t.Fatalf("Parse(%q) returned %q with an error", s, id)
			}
			if len(err.Error()) > 400 { // 64 bytes of input, each quoted as up to 4
				t.Fatalf("error message of %d bytes: the input is not truncated", len(err.Error()))
			}
			var u ID
			if err := u.UnmarshalGQL(s); !errors.Is(err, ErrInvalid) {
				t.Fatalf("UnmarshalGQL(%q) = %v, want ErrInvalid", s, err)
			}
			return
		}
		if string(id) != s {
			t.Fatalf("Parse(%q) = %q", s, id)
		}
		p := id.Prefix()
		if p == "" || !strings.HasPrefix(s, p+"_") || strings.ToLower(p) != p {
			t.Fatalf("Prefix(%q) = %q", s, p)
		}
		if id.Time().IsZero() {
			t.Fatalf("Time(%q) is zero for an accepted ID", s)
		}
		var u ID
		if err := u.UnmarshalGQL(s); err != nil || u != id {
			t.Fatalf("UnmarshalGQL(%q) = %q, %v", s, u, err)
		}
	})
}
