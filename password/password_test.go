package password

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// strongText is a long random-looking passphrase; prefixes of it are strong.
const strongText = "violet cactus harbor 1987 drums, maple orbit lantern 42 quiet zebra; " +
	"copper fjord tundra 7 whisk ember basalt nimbus 3 quokka saffron glyph mosaic 58 kiln"

// runesOf returns the first n runes of s, failing the test if s is shorter.
func runesOf(t testing.TB, s string, n int) string {
	t.Helper()
	r := []rune(s)
	if len(r) < n {
		t.Fatalf("text has %d runes, want %d", len(r), n)
	}
	return string(r[:n])
}

func TestCheck(t *testing.T) {
	alice := []string{"alice.smith@acme.com", "Alice", "Smith", "Alice Smith"}
	short8 := Policy{MinLength: 8, MaxLength: 64}
	tests := []struct {
		name     string
		policy   Policy
		password string
		personal []string
		want     Rule // "" accepts
	}{
		// Length.
		{"11 chars at default", Default(), "Zq8$vP#wXr!", nil, RuleTooShort},
		{"11 chars at min 8", short8, "Zq8$vP#wXr!", nil, ""},
		{"7 chars at min 8", short8, "Zq8$vP#", nil, RuleTooShort},
		{"exactly 12 strong", Default(), "Zq8$vP#wXr!m", nil, ""},
		{"exactly 64 strong", Default(), runesOf(t, strongText, 64), nil, ""},
		{"exactly 64 at max 64", short8, runesOf(t, strongText, 64), nil, ""},
		{"65 at max 64", short8, runesOf(t, strongText, 65), nil, RuleTooLong},
		{"exactly 128 strong", Default(), runesOf(t, strongText, 128), nil, ""},
		{"129", Default(), runesOf(t, strongText, 129), nil, RuleTooLong},
		{"129 runes of 2 bytes", Default(), strings.Repeat("é", 129), nil, RuleTooLong},
		{"128 runes of 4 bytes, too common", Default(), strings.Repeat("🐢", 128), nil, RuleCommon},
		{"non-ASCII pair repeated", Default(), strings.Repeat("аб", 6), nil, RuleCommon},
		{"emoji pair repeated, partial", Default(), strings.Repeat("🐢🚲", 6) + "🐢", nil, RuleCommon},
		{"strong unit repeated", Default(), "Zq8$vP#w!x Zq8$vP#w!x ", nil, ""},
		{"megabyte", Default(), strings.Repeat("a", 1<<20), nil, RuleTooLong},
		{"short and common: too_short first", Default(), "letmein", nil, RuleTooShort},
		{"empty", Default(), "", nil, RuleTooShort},
		{"zero policy applies floors", Policy{}, "Zq8$vP#wXr", nil, ""},
		{"zero policy, 7 chars", Policy{}, "Zq8$vP#", nil, RuleTooShort},

		// Characters: all printable ones, spaces included; no composition rules.
		{"tab", Default(), "violet cactus\tharbor 1987", nil, RuleInvalidCharacter},
		{"line break", Default(), "violet cactus\nharbor 1987", nil, RuleInvalidCharacter},
		{"NUL", Default(), "violet cactus\x00harbor 1987", nil, RuleInvalidCharacter},
		{"invalid UTF-8", Default(), "violet cactus \xff harbor 1987", nil, RuleInvalidCharacter},
		{"passphrase", Default(), "violet cactus harbor 1987 drums", nil, ""},
		{"lowercase words only", Default(), "correct horse battery staple", nil, ""},
		{"leading and trailing spaces", Default(), "  violet cactus harbor 1987  ", nil, ""},
		{"unicode passphrase", Default(), "čaj s mlékem a medvědí tlapa", nil, ""},
		{"non-latin passphrase", Default(), "кошка спит на тёплом окне", nil, ""},
		{"emoji passphrase", Default(), "🐢 tortoise 🚲 bicycle 🌵 cactus", nil, ""},

		// Common and easy to guess.
		{"password1234", Default(), "password1234", nil, RuleCommon},
		{"123456789012", Default(), "123456789012", nil, RuleCommon},
		{"qwertyuiopas", Default(), "qwertyuiopas", nil, RuleCommon},
		{"aaaaaaaaaaaa", Default(), "aaaaaaaaaaaa", nil, RuleCommon},
		{"abcdefghijkl", Default(), "abcdefghijkl", nil, RuleCommon},
		{"iloveyou2024", Default(), "iloveyou2024", nil, RuleCommon},
		{"P@ssw0rd2024", Default(), "P@ssw0rd2024", nil, RuleCommon},
		{"1q2w3e4r5t6y", Default(), "1q2w3e4r5t6y", nil, RuleCommon},
		{"Welcome@2024", Default(), "Welcome@2024", nil, RuleCommon},
		{"8 random chars at min 8 are guessable", short8, "Zq8$vP#w", nil, RuleCommon},

		// Personal data.
		{"name with year and word", Default(), "alice-2024-password!", alice, RulePersonal},
		{"name with year and word, capitals", Default(), "ALICE-2024-Password!", alice, RulePersonal},
		{"full name", Default(), "AliceSmith2024!!", alice, RulePersonal},
		{"email local part", Default(), "alice.smith#1987", alice, RulePersonal},
		{"email local part only in email", Default(), "jdoe1987-secret!", []string{"jdoe1987@example.org"}, RulePersonal},
		{"email local part repeated", Default(), "jdoe1987jdoe1987", []string{"jdoe1987@example.org"}, RulePersonal},
		{"domain label", Default(), "acmewidgets2024!", []string{"bob@acmewidgets.com"}, RulePersonal},
		{"domain label under co.uk", Default(), "acmewidgets2024!", []string{"bob@mail.acmewidgets.co.uk"}, RulePersonal},
		{"3-letter name with digits", Default(), "tom123456789", []string{"tom@example.com", "Tom"}, RulePersonal},
		{"display name with diacritics", Default(), "Zoë Müller 2024", []string{"Zoë Müller"}, RulePersonal},
		{"reversed name: zxcvbn user input", Default(), "htimsecila2024", alice, RuleCommon},
		{"reversed name without personal data", Default(), "htimsecila2024", nil, ""},
		{"name in a long passphrase", Default(), "alice likes violet cactus harbor drums", alice, ""},
		{"3-letter name in a long passphrase", Default(), "tom likes violet cactus harbor drums", []string{"Tom"}, ""},
		{"3-letter name inside words", Default(), "smart cart party lantern", []string{"Art"}, ""},
		{"generic mail domain", Default(), "gmail-violet-cactus-harbor", []string{"zz@gmail.com"}, ""},
		{"empty personal entries", Default(), "violet cactus harbor 1987 drums", []string{"", "  ", "@", "a@"}, ""},
		{"short personal entries ignored", Default(), "violet cactus harbor 1987 drums", []string{"Al", "V", "jo@x.io"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(tt.password, tt.personal...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tt.password, err)
				}
				return
			}
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("Check(%q) = %v, want a *RuleError with rule %q", tt.password, err, tt.want)
			}
			if re.Rule != tt.want {
				t.Fatalf("Check(%q) rule = %q (%v), want %q", tt.password, re.Rule, err, tt.want)
			}
			if !errors.Is(err, ErrRejected) {
				t.Errorf("errors.Is(%v, ErrRejected) = false", err)
			}
			if !strings.HasPrefix(err.Error(), "password: ") || re.Message == "" {
				t.Errorf("Error() = %q, want \"password: \" and a message", err)
			}
			if utf8.RuneCountInString(tt.password) >= 4 && strings.Contains(err.Error(), tt.password) {
				t.Errorf("Error() = %q contains the password", err)
			}
		})
	}
}

func TestCheckMessages(t *testing.T) {
	tests := []struct {
		policy   Policy
		password string
		personal []string
		want     string
	}{
		{Default(), "short", nil, "password: use at least 12 characters"},
		{Policy{MinLength: 10, MaxLength: 64}, "short", nil, "password: use at least 10 characters"},
		{Default(), strings.Repeat("x", 129), nil, "password: use at most 128 characters"},
		{Default(), "password1234", nil, "password: this password is too common or too easy to guess"},
		{Default(), "alice-2024-password!", []string{"Alice"}, "password: do not build the password from your email address or name"},
	}
	for _, tt := range tests {
		err := tt.policy.Check(tt.password, tt.personal...)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Check(%q) = %v, want %q", tt.password, err, tt.want)
		}
	}
}

func TestRuleErrorIs(t *testing.T) {
	err := error(&RuleError{Rule: RuleCommon, Message: "m"})
	if !errors.Is(err, ErrRejected) {
		t.Error("errors.Is(RuleError, ErrRejected) = false")
	}
	if errors.Is(err, ErrInvalidPolicy) {
		t.Error("errors.Is(RuleError, ErrInvalidPolicy) = true")
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name   string
		p      Policy
		naming string // "" valid; else a word of the error
	}{
		{"default", Default(), ""},
		{"floors", Policy{MinLength: 8, MaxLength: 64}, ""},
		{"equal", Policy{MinLength: 64, MaxLength: 64}, ""},
		{"large", Policy{MinLength: 20, MaxLength: 1024}, ""},
		{"zero", Policy{}, "minimum length 0"},
		{"min 7", Policy{MinLength: 7, MaxLength: 128}, "minimum length 7 is below 8"},
		{"negative min", Policy{MinLength: -1, MaxLength: 128}, "minimum length -1"},
		{"max 63", Policy{MinLength: 12, MaxLength: 63}, "maximum length 63 is below 64"},
		{"min above max", Policy{MinLength: 100, MaxLength: 64}, "minimum length 100 is above maximum length 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.naming == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tt.p, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidPolicy) || !strings.Contains(err.Error(), tt.naming) {
				t.Fatalf("Validate(%+v) = %v, want ErrInvalidPolicy naming %q", tt.p, err, tt.naming)
			}
		})
	}
}

func TestRuns(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"Bob.Smith2024", "bob smith 2024"},
		{"Jean-Luc Picard", "jean luc picard"},
		{"Zoë", "zoë"},
		{"Zoe\u0308!", "zoe\u0308"},
		{"--", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(runs(tt.in), " "); got != tt.want {
			t.Errorf("runs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	personal := []string{"alice.smith@acme.com", "Alice", "Smith", "Alice Smith"}
	for _, bc := range []struct {
		name     string
		password string
	}{
		{"passphrase", "violet cactus harbor 1987 drums"},
		{"common", "password1234"},
		{"personal", "alice-2024-password!"},
		{"64 runes", runesOf(b, strongText, 64)},
		{"128 runes", runesOf(b, strongText, 128)},
		{"too long", strings.Repeat("a", 1<<20)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := Default()
			for b.Loop() {
				_ = p.Check(bc.password, personal...)
			}
		})
	}
}
