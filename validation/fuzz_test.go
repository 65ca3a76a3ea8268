package validation_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cf/identity/validation"
)

// FuzzEmail checks that Check never panics, that every refusal is a
// *validation.Error for field email, that relaxing the rules never refuses
// more, and that an accepted address is valid UTF-8 with one @ domain.
func FuzzEmail(f *testing.F) {
	for _, s := range []string{
		"root@example.com", "rооt@example.com", "user@пример.рф", "user@xn--e1afmkfd.xn--p1ai", "josé@example.com",
		"user@[127.0.0.1]", "user@127.0.0.1", "Admin <admin@example.com>", "\"quoted local\"@example.com", "a@b", "@", "",
		"user@xn--.com", "user@xn--zz.com", "user@xn--99999999999999.com", "やまだ太郎@example.jp", "a@b.c\xff",
	} {
		f.Add(s)
	}
	strict := validation.EmailRules{}
	relaxed := validation.EmailRules{AllowMixedScripts: true, AllowIPLiterals: true}
	f.Fuzz(func(t *testing.T, s string) {
		errStrict := strict.Check(s)
		errRelaxed := relaxed.Check(s)
		for _, err := range []error{errStrict, errRelaxed} {
			if err == nil {
				continue
			}
			var ve *validation.Error
			if !errors.As(err, &ve) || ve.Field != "email" || !errors.Is(err, validation.ErrInvalid) {
				t.Fatalf("Check(%q) = %v (%T), want a *validation.Error for field email", s, err, err)
			}
		}
		if errStrict == nil && errRelaxed != nil {
			t.Fatalf("Check(%q): the strict rules accept what the relaxed refuse: %v", s, errRelaxed)
		}
		if errRelaxed == nil {
			if !utf8.ValidString(s) || len(s) > validation.MaxEmailLength || !strings.Contains(s, "@") {
				t.Fatalf("Check(%q) accepted an address that is not one", s)
			}
		}
	})
}
