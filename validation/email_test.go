package validation_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cf/identity/validation"
)

func TestEmail(t *testing.T) {
	tests := []struct {
		addr string
		// rules are the rules checked; zero is the default.
		rules validation.EmailRules
		// want is "" for an accepted address, else a part of the reason.
		want string
	}{
		{addr: "root@example.com"},
		{addr: "first.last+tag@sub.example.co.uk"},
		{addr: "josé@example.com"},
		{addr: "Straße@müller.de"},
		{addr: "user@пример.рф"},
		{addr: "пользователь@пример.рф"},
		{addr: "user@xn--e1afmkfd.xn--p1ai"}, // пример.рф as A-labels
		{addr: "δοκιμή@παράδειγμα.δοκιμή"},
		{addr: "用户@例子.广告"},
		{addr: "やまだ太郎@example.jp"},     // Hiragana + Han: Japanese
		{addr: "taroやまだ@example.jp"},   // Latin + Hiragana: Japanese
		{addr: "홍길동abc@example.kr"},    // Hangul + Latin: Korean
		{addr: "user1234@example.com"}, // digits are of no script
		{addr: "o'brien@example.com"},
		{addr: "rооt@example.com", want: "local part mixes letters of the Latin and Cyrillic scripts"},
		{addr: "раypal@example.com", want: "local part mixes letters of the Cyrillic and Latin scripts"},
		{addr: "root@exаmple.com", want: `domain label "exаmple" mixes letters of the Latin and Cyrillic scripts`},
		{addr: "root@xn--exmple-4nf.com", want: `domain label "xn--exmple-4nf" mixes`}, // exаmple as an A-label
		{addr: "root@xn--zz.com", want: "not valid punycode"},
		{addr: "αlpha@example.com", want: "Greek and Latin"},
		{addr: "hello@пример.com"}, // each label on its own
		{addr: "rооt@example.com", rules: validation.EmailRules{AllowMixedScripts: true}},
		{addr: "user@[127.0.0.1]", want: "the domain is an IP address"},
		{addr: "user@[IPv6:::1]", want: "is not a valid email address"},
		{addr: "user@127.0.0.1", want: "the domain is an IP address"},
		{addr: "user@127.1", want: "the domain is an IP address"},
		{addr: "user@0x7f.0.0.1", want: "the domain is an IP address"},
		{addr: "user@1.0x7f", want: "the domain is an IP address"},
		{addr: "user@example.0x", want: "the domain is an IP address"},
		{addr: "user@mail.example123.com"},
		{addr: "user@127.1", rules: validation.EmailRules{AllowIPLiterals: true}},
		{addr: "user@[127.0.0.1]", rules: validation.EmailRules{AllowIPLiterals: true}},
		{addr: "user@127.0.0.1", rules: validation.EmailRules{AllowIPLiterals: true}},
		{addr: "user@[127.0.0.1]", rules: validation.EmailRules{AllowMixedScripts: true}, want: "IP address"},
		{addr: "not-an-email", want: `"not-an-email" is not a valid email address`},
		{addr: "admin@localhost", want: "the domain needs a dot"},
		{addr: "Admin <admin@example.com>", want: "is not a valid email address"},
		{addr: "admin@example.com (comment)", want: "is not a valid email address"},
		{addr: "", want: "is not a valid email address"},
		{addr: "a@b.c\xff", want: "not valid UTF-8"},
		{addr: strings.Repeat("a", 250) + "@x.io", want: "longer than 254"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := tt.rules.Check(tt.addr)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check(%q) = %v, want nil", tt.addr, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Check(%q) = nil, want an error containing %q", tt.addr, tt.want)
			}
			var verr *validation.Error
			if !errors.As(err, &verr) || verr.Field != "email" || !errors.Is(err, validation.ErrInvalid) {
				t.Errorf("Check(%q) = %#v, want a *validation.Error for field email", tt.addr, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check(%q) = %q, want it to contain %q", tt.addr, err, tt.want)
			}
		})
	}
}

func TestSetEmailRules(t *testing.T) {
	t.Cleanup(func() { validation.SetEmailRules(validation.EmailRules{}) })
	if err := validation.Email("rооt@example.com"); err == nil {
		t.Fatal("the default rules accept a mixed-script address")
	}
	validation.SetEmailRules(validation.EmailRules{AllowMixedScripts: true, AllowIPLiterals: true})
	if got := validation.CurrentEmailRules(); !got.AllowMixedScripts || !got.AllowIPLiterals {
		t.Fatalf("CurrentEmailRules() = %+v after SetEmailRules", got)
	}
	for _, a := range []string{"rооt@example.com", "user@[127.0.0.1]"} {
		if err := validation.Email(a); err != nil {
			t.Errorf("Email(%q) = %v with both rules relaxed", a, err)
		}
	}
}
