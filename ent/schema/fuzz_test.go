package schema

import (
	"errors"
	"testing"

	"github.com/cf/identity/validation"
)

// FuzzSlug checks that validateSlug never panics, refuses with a
// *validation.Error for field slug, and accepts only 2-63 lower-case
// letters, digits and inner single hyphens.
func FuzzSlug(f *testing.F) {
	for _, s := range []string{"acme", "acme-corp", "a", "-acme", "acme-", "ac--me", "Acme", "ácme", "a1", "", "x\x00y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := validateSlug(s)
		if err != nil {
			var ve *validation.Error
			if !errors.As(err, &ve) || ve.Field != "slug" || !errors.Is(err, validation.ErrInvalid) {
				t.Fatalf("validateSlug(%q) = %v (%T), want a *validation.Error for field slug", s, err, err)
			}
			return
		}
		if len(s) < 2 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
			t.Fatalf("validateSlug accepted %q", s)
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' && s[i-1] != '-'
			if !ok {
				t.Fatalf("validateSlug accepted %q (byte %d)", s, i)
			}
		}
	})
}

// FuzzEmailField checks the email validator of the User schema: it never
// panics and refuses only with a *validation.Error.
func FuzzEmailField(f *testing.F) {
	for _, s := range []string{"root@example.com", "rооt@example.com", "user@[127.0.0.1]", "not-an-email"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := validateEmail(s); err != nil && !errors.Is(err, validation.ErrInvalid) {
			t.Fatalf("validateEmail(%q) = %v (%T), want a *validation.Error", s, err, err)
		}
	})
}
