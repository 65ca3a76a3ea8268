package validation

import (
	"fmt"
	"net/mail"
	"net/netip"
	"strings"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
)

// EmailRules are the rules an email address must follow beyond its syntax.
// The zero value is the strict default: single-script parts and a domain
// name, no IP literal.
type EmailRules struct {
	// AllowMixedScripts accepts a local part or a domain label whose letters
	// come from more than one Unicode script, like "rооt" with a Cyrillic
	// "о" among Latin letters. Off by default: such an address looks like
	// another one (a homograph) and is refused.
	AllowMixedScripts bool
	// AllowIPLiterals accepts an IP address as the domain, like
	// user@[127.0.0.1] or user@127.0.0.1. Off by default.
	AllowIPLiterals bool
}

var emailRules atomic.Pointer[EmailRules]

// SetEmailRules sets the rules Email applies, for the whole process. Call
// it once at start, before serving requests; it is safe for concurrent use.
func SetEmailRules(r EmailRules) { emailRules.Store(&r) }

// CurrentEmailRules returns the rules Email applies.
func CurrentEmailRules() EmailRules {
	if r := emailRules.Load(); r != nil {
		return *r
	}
	return EmailRules{}
}

// MaxEmailLength is the longest address Email accepts, in bytes.
const MaxEmailLength = 254

// Email checks an email address with the rules of SetEmailRules; see
// EmailRules.Check.
func Email(s string) error { return CurrentEmailRules().Check(s) }

// Check reports whether s is a bare address (no display name, no comment)
// of at most MaxEmailLength bytes whose domain has a dot, and follows r. A
// failure is an *Error for field "email".
//
// With the default rules, the letters of the local part, and those of each
// label of the domain (an xn-- label is decoded first), must belong to one
// Unicode script, or to one of the combinations a language writes in
// (Latin with Han, Hiragana and Katakana; Latin with Han and Bopomofo; Latin
// with Han and Hangul), as the "highly restrictive" level of Unicode's UTS
// #39 asks. Digits, punctuation and combining marks belong to no script
// here. So "josé@example.com" and "user@пример.рф" are accepted and
// "rооt@example.com" (Cyrillic о) is not.
func (r EmailRules) Check(s string) error {
	if len(s) > MaxEmailLength {
		return &Error{Field: "email", Reason: fmt.Sprintf("email is longer than %d characters", MaxEmailLength)}
	}
	if !utf8.ValidString(s) {
		return &Error{Field: "email", Reason: "the address is not valid UTF-8"}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return &Error{Field: "email", Reason: fmt.Sprintf("%q is not a valid email address", s)}
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 {
		return &Error{Field: "email", Reason: fmt.Sprintf("%q is not a valid email address", s)}
	}
	local, domain := s[:at], s[at+1:]
	if isIPDomain(domain) {
		if !r.AllowIPLiterals {
			return &Error{Field: "email", Reason: fmt.Sprintf("%q is not a valid email address: the domain is an IP address, not a name", s)}
		}
		return nil
	}
	if strings.HasPrefix(domain, "[") || !strings.Contains(domain, ".") {
		return &Error{Field: "email", Reason: fmt.Sprintf("%q is not a valid email address: the domain needs a dot", s)}
	}
	if r.AllowMixedScripts {
		return nil
	}
	if scripts, ok := singleScript(local); !ok {
		return &Error{Field: "email", Reason: fmt.Sprintf("%q is not a valid email address: its local part mixes letters of the %s scripts", s, scripts)}
	}
	for label := range strings.SplitSeq(domain, ".") {
		text := label
		if len(label) > 4 && strings.EqualFold(label[:4], "xn--") {
			u, err := decodePunycode(label[4:])
			if err != nil {
				return &Error{Field: "email", Reason: fmt.Sprintf("%q is not a valid email address: domain label %q is not valid punycode", s, label)}
			}
			text = u
		}
		if scripts, ok := singleScript(text); !ok {
			return &Error{Field: "email", Reason: fmt.Sprintf("%q is not a valid email address: domain label %q mixes letters of the %s scripts", s, label, scripts)}
		}
	}
	return nil
}

// isIPDomain reports whether domain is an address literal ([...]) or an IP
// address written as a domain, the shorthand and hexadecimal IPv4 forms
// that resolvers accept included (127.1, 0x7f.0.0.1): a domain whose last
// label is a number. Top-level domains are never numeric (RFC 3696).
func isIPDomain(domain string) bool {
	if strings.HasPrefix(domain, "[") && strings.HasSuffix(domain, "]") {
		return true
	}
	if _, err := netip.ParseAddr(domain); err == nil {
		return true
	}
	last := strings.ToLower(domain[strings.LastIndexByte(domain, '.')+1:])
	if h, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(h, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// scriptOrder lists the scripts checked first; any other script of
// unicode.Scripts is found by the slower search after them.
var scriptOrder = []string{
	"Latin", "Cyrillic", "Greek", "Armenian", "Georgian", "Hebrew", "Arabic",
	"Han", "Hiragana", "Katakana", "Hangul", "Bopomofo", "Thai", "Devanagari",
	"Bengali", "Tamil", "Ethiopic", "Cherokee", "Coptic",
}

func scriptOf(c rune) string {
	for _, name := range scriptOrder {
		if unicode.Is(unicode.Scripts[name], c) {
			return name
		}
	}
	for name, t := range unicode.Scripts {
		if name == "Common" || name == "Inherited" {
			continue
		}
		if unicode.Is(t, c) {
			return name
		}
	}
	return ""
}

// allowedCombinations are the script sets of UTS #39 "highly restrictive"
// beyond a single script.
var allowedCombinations = [][]string{
	{"Latin", "Han", "Hiragana", "Katakana"},
	{"Latin", "Han", "Bopomofo"},
	{"Latin", "Han", "Hangul"},
}

// singleScript reports whether the letters of s come from one script (or an
// allowed combination); when not, it returns the scripts it found, joined
// for a message.
func singleScript(s string) (string, bool) {
	var found []string
	for _, c := range s {
		if c < utf8.RuneSelf && !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			continue
		}
		if !unicode.IsLetter(c) {
			continue
		}
		name := scriptOf(c)
		if name == "" {
			continue
		}
		seen := false
		for _, f := range found {
			if f == name {
				seen = true
				break
			}
		}
		if !seen {
			found = append(found, name)
		}
	}
	if len(found) <= 1 {
		return "", true
	}
	for _, combo := range allowedCombinations {
		if subset(found, combo) {
			return "", true
		}
	}
	return joinAnd(found), false
}

func subset(a, b []string) bool {
	for _, x := range a {
		in := false
		for _, y := range b {
			if x == y {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return true
}

func joinAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// decodePunycode decodes the part of an IDNA A-label after "xn--" (RFC 3492).
func decodePunycode(s string) (string, error) {
	const (
		base, tmin, tmax, skew, damp = 36, 1, 26, 38, 700
		initialBias, initialN        = 72, 128
		maxRunes                     = 256
	)
	errBad := fmt.Errorf("bad punycode %q", s)
	var out []rune
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		for _, c := range s[:i] {
			if c >= utf8.RuneSelf {
				return "", errBad
			}
			out = append(out, c)
		}
		s = s[i+1:]
	}
	n, bias, i := initialN, initialBias, 0
	for pos := 0; pos < len(s); {
		oldi, w := i, 1
		for k := base; ; k += base {
			if pos >= len(s) {
				return "", errBad
			}
			c := s[pos]
			pos++
			var digit int
			switch {
			case 'a' <= c && c <= 'z':
				digit = int(c - 'a')
			case 'A' <= c && c <= 'Z':
				digit = int(c - 'A')
			case '0' <= c && c <= '9':
				digit = int(c-'0') + 26
			default:
				return "", errBad
			}
			if digit > (1<<30-i)/w {
				return "", errBad
			}
			i += digit * w
			t := k - bias
			if t < tmin {
				t = tmin
			} else if t > tmax {
				t = tmax
			}
			if digit < t {
				break
			}
			if w > (1<<30)/(base-t) {
				return "", errBad
			}
			w *= base - t
		}
		count := len(out) + 1
		// adapt
		delta := i - oldi
		if oldi == 0 {
			delta /= damp
		} else {
			delta /= 2
		}
		delta += delta / count
		k := 0
		for delta > ((base-tmin)*tmax)/2 {
			delta /= base - tmin
			k += base
		}
		bias = k + (base-tmin+1)*delta/(delta+skew)
		if i/count > 1<<30-n {
			return "", errBad
		}
		n += i / count
		i %= count
		if n > utf8.MaxRune || len(out) >= maxRunes {
			return "", errBad
		}
		out = append(out, 0)
		copy(out[i+1:], out[i:])
		out[i] = rune(n) //nolint:gosec // n <= utf8.MaxRune, checked above
		i++
	}
	return string(out), nil
}

// NormalEmail returns s trimmed and lower-case, the form in which addresses
// are stored and compared, after checking it with Email; an empty s is an
// *Error "required" for field "email".
func NormalEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	if e == "" {
		return "", Errorf("email", "required")
	}
	if err := Email(e); err != nil {
		return "", err
	}
	return e, nil
}
