// Package password decides which passwords people may choose, following the
// rules of NIST SP 800-63B (section 3.1.1.2, memorized secrets): a minimum
// length, a generous maximum, every printable character allowed (spaces and
// any Unicode letter or symbol included), no composition rules ("one digit, one
// capital"), and a refusal of passwords that are common, easy to guess or
// built from the person's own email address or name.
//
// Checking is local: the common-password lists are those compiled into
// github.com/trustelem/zxcvbn; nothing is fetched at run time. Hashing is
// package github.com/cf/identity/secret's.
package password

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
)

// Length limits, in Unicode code points.
const (
	DefaultMinLength = 12  // MinLength of Default()
	DefaultMaxLength = 128 // MaxLength of Default()
	LowestMinLength  = 8   // smallest MinLength Validate accepts (NIST's minimum)
	LowestMaxLength  = 64  // smallest MaxLength Validate accepts (NIST: allow at least 64)
)

// minScore is the lowest zxcvbn score accepted, by the common rule for the
// whole password and by the personal rule for what remains without the
// personal data. Score 3 means an estimated 10^8 guesses or more; score 2
// (10^6 to 10^8) is zxcvbn's "protection from unthrottled online attacks"
// only. 10^8 guesses is far beyond what rate-limited sign-in lets an online
// attacker try, and against a stolen database it costs, at secret.MinArgon2
// (about 27 ms per guess on one core), about a core-month per account.
// Score 4 (10^10) would refuse memorable passphrases of three common words.
const minScore = 3

var (
	// ErrRejected is matched, with errors.Is, by every *RuleError.
	ErrRejected = errors.New("password: rejected")
	// ErrInvalidPolicy is wrapped by Policy.Validate.
	ErrInvalidPolicy = errors.New("password: invalid policy")
)

// Policy says which passwords are accepted. The zero value is not valid; use
// Default() and change what the configuration says.
type Policy struct {
	// MinLength is the fewest code points a password may have: default 12,
	// at least 8.
	MinLength int
	// MaxLength is the most code points a password may have: default 128,
	// at least 64. It also bounds the cost of the strength estimate.
	MaxLength int
}

// Default returns the policy with MinLength 12 and MaxLength 128.
func Default() Policy {
	return Policy{MinLength: DefaultMinLength, MaxLength: DefaultMaxLength}
}

// Validate returns nil for a usable policy, or an error wrapping
// ErrInvalidPolicy that names the problem: MinLength below 8, MaxLength below
// 64, or MinLength above MaxLength.
func (p Policy) Validate() error {
	switch {
	case p.MinLength < LowestMinLength:
		return fmt.Errorf("%w: minimum length %d is below %d", ErrInvalidPolicy, p.MinLength, LowestMinLength)
	case p.MaxLength < LowestMaxLength:
		return fmt.Errorf("%w: maximum length %d is below %d", ErrInvalidPolicy, p.MaxLength, LowestMaxLength)
	case p.MinLength > p.MaxLength:
		return fmt.Errorf("%w: minimum length %d is above maximum length %d", ErrInvalidPolicy, p.MinLength, p.MaxLength)
	}
	return nil
}

// Rule names the rule a password failed. Its values are stable and may be
// shown to clients (for example as a GraphQL error extension).
type Rule string

// The rules, in the order Check applies them.
const (
	RuleTooLong Rule = "too_long" // more than MaxLength code points
	// RuleInvalidCharacter: invalid UTF-8, or a control character (tab,
	// line break, NUL, ...), which no one can type reliably into a password
	// field.
	RuleInvalidCharacter Rule = "invalid_character"
	RuleTooShort         Rule = "too_short" // fewer than MinLength code points
	RulePersonal         Rule = "personal"  // built from the user's email or name
	RuleCommon           Rule = "common"    // common, breached-style or easy to guess
)

// RuleError is the refusal of a password. errors.Is(err, ErrRejected) holds.
// Message is meant for the person choosing the password and never contains
// the password.
type RuleError struct {
	Rule    Rule
	Message string
}

// Error returns "password: " and the message.
func (e *RuleError) Error() string { return "password: " + e.Message }

// Is reports whether target is ErrRejected.
func (e *RuleError) Is(target error) bool { return target == ErrRejected }

// Check returns nil when password is acceptable under p, or a *RuleError
// saying which rule it failed, checked in this order: too long, invalid
// character, too short, personal, common. The cheap length rules come first,
// and the length cap also caps the cost of the strength estimate, which grows
// faster than the length: on the development machine about 1 ms for a
// 30-character passphrase, 7 ms at 64 code points, 45 ms at 128.
//
// Lengths are counted in Unicode code points (runes), without normalisation:
// "é" typed as e plus a combining accent counts two. The password is checked
// as given, spaces included; nothing is trimmed, so hash exactly what was
// checked. Any printable character is allowed; only invalid UTF-8 and control
// characters are refused. A policy that fails Validate is checked with the
// floors applied (a minimum of at least 8, a maximum of at least 64).
//
// personal lists the user's own data: email address, first name, last name,
// display name. Empty entries are ignored. From each entry Check takes, when
// at least 3 code points long, the whole entry and each run of letters or
// digits, lowercased (so "Jean-Luc Picard" gives "jeanlucpicard", "jean",
// "luc" and "picard"); from an email address it takes the local part and its
// runs, and the labels of the domain except the last (the "acme" of
// a@acme.com), skipping providers and generic labels that say nothing about
// the person (gmail, outlook, hotmail, yahoo, icloud, proton, example, mail,
// com, ...).
//
// The personal rule refuses a password that contains one of these parts when
// what remains without them is weak: the password is reduced to its letters
// and digits, lowercased; parts of 4 or more code points are removed wherever
// they occur, parts of exactly 3 only where they are a whole run of letters
// or digits (so the name "Art" is not found in "smart"); the password is
// refused when something was removed and the remainder has a zxcvbn score
// below 3. So "Alice-2024-password!" is refused for Alice, while a long
// passphrase that happens to contain her name passes. The common rule then
// refuses a zxcvbn score below 3 for the whole password, with the personal
// data given to zxcvbn as user inputs, so that it also looks for reversed
// and l33t spellings of them. A password that is a shorter unit repeated is
// judged by its unit. zxcvbn's lists are English (passwords, words, names,
// film and television); passwords in other scripts are estimated mostly by
// length.
func (p Policy) Check(password string, personal ...string) error {
	minLen, maxLen := max(p.MinLength, LowestMinLength), max(p.MaxLength, LowestMaxLength)
	// A string of at most maxLen runes has at most 4*maxLen bytes.
	if len(password) > 4*maxLen || utf8.RuneCountInString(password) > maxLen {
		return &RuleError{Rule: RuleTooLong, Message: fmt.Sprintf("use at most %d characters", maxLen)}
	}
	if !printable(password) {
		return &RuleError{Rule: RuleInvalidCharacter, Message: "use only printable characters; control characters such as tabs and line breaks are not allowed"}
	}
	if utf8.RuneCountInString(password) < minLen {
		return &RuleError{Rule: RuleTooShort, Message: fmt.Sprintf("use at least %d characters", minLen)}
	}
	parts := personalParts(personal)
	if parts.builds(password) {
		return &RuleError{Rule: RulePersonal, Message: "do not build the password from your email address or name"}
	}
	if zxcvbn.PasswordStrength(password, parts.inputs).Score < minScore || weakRepeat(password, parts.inputs) {
		return &RuleError{Rule: RuleCommon, Message: "this password is too common or too easy to guess; try a longer passphrase of several unrelated words"}
	}
	return nil
}

// weakRepeat reports whether password is a shorter unit repeated (a partial
// last repetition allowed) and that unit alone scores below minScore. zxcvbn
// finds repeats itself, but only in ASCII: its repeat matcher misses
// "🐢🐢🐢…" or "абабаб…", which it then estimates by brute force.
func weakRepeat(password string, inputs []string) bool {
	rs := []rune(password)
	for k := 1; k <= len(rs)/2; k++ {
		periodic := true
		for i := k; i < len(rs); i++ {
			if rs[i] != rs[i%k] {
				periodic = false
				break
			}
		}
		if periodic {
			return zxcvbn.PasswordStrength(string(rs[:k]), inputs).Score < minScore
		}
	}
	return false
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// minPart is the fewest code points a personal part must have to count;
// shorter ones occur by chance in too many passwords.
const minPart = 3

// genericLabels are domain labels that say nothing about the person.
var genericLabels = map[string]bool{
	"gmail": true, "googlemail": true, "outlook": true, "hotmail": true, "live": true,
	"msn": true, "yahoo": true, "ymail": true, "aol": true, "icloud": true, "mac": true,
	"proton": true, "protonmail": true, "gmx": true, "web": true, "yandex": true,
	"zoho": true, "fastmail": true, "mail": true, "email": true, "example": true,
	"test": true, "localhost": true, "invalid": true,
	"com": true, "net": true, "org": true, "edu": true, "gov": true,
}

// parts is the personal data of one Check.
type parts struct {
	long   []string        // parts of more than minPart runes, longest first
	words  map[string]bool // parts of exactly minPart runes
	inputs []string        // zxcvbn user inputs
}

// personalParts extracts the parts described in Check's documentation.
func personalParts(entries []string) parts {
	var ps parts
	seen := map[string]bool{}
	add := func(s string) {
		if utf8.RuneCountInString(s) < minPart || seen[s] {
			return
		}
		seen[s] = true
		ps.inputs = append(ps.inputs, s)
		if utf8.RuneCountInString(s) == minPart {
			if ps.words == nil {
				ps.words = map[string]bool{}
			}
			ps.words[s] = true
		} else {
			ps.long = append(ps.long, s)
		}
	}
	addAll := func(s string) {
		rs := runs(s)
		add(strings.Join(rs, ""))
		for _, r := range rs {
			add(r)
		}
	}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		ps.inputs = append(ps.inputs, strings.ToLower(e))
		local, domain, isEmail := cutLast(e, "@")
		if !isEmail || local == "" {
			addAll(e)
			continue
		}
		addAll(local)
		labels := strings.Split(domain, ".")
		if len(labels) > 1 {
			labels = labels[:len(labels)-1] // the top-level domain
		}
		for _, l := range labels {
			if l = strings.Join(runs(l), ""); !genericLabels[l] {
				add(l)
			}
		}
	}
	sort.SliceStable(ps.long, func(i, j int) bool { return len(ps.long[i]) > len(ps.long[j]) })
	return ps
}

// builds reports whether password contains a personal part and is weak
// without it (see Check).
func (ps parts) builds(password string) bool {
	if len(ps.long) == 0 && len(ps.words) == 0 {
		return false
	}
	found := false
	var b strings.Builder
	for _, r := range runs(password) {
		if ps.words[r] {
			found = true
			continue
		}
		b.WriteString(r)
	}
	rest := b.String()
	for _, part := range ps.long {
		for strings.Contains(rest, part) {
			found = true
			rest = strings.ReplaceAll(rest, part, "")
		}
	}
	return found && (rest == "" || zxcvbn.PasswordStrength(rest, ps.inputs).Score < minScore)
}

// runs returns the maximal runs of letters and of digits in s, lowercased;
// everything else separates runs. "Bob.Smith2024" gives "bob", "smith",
// "2024".
func runs(s string) []string {
	var out []string
	start, kind := -1, 0 // kind: 1 letter, 2 digit
	for i, r := range s {
		k := 0
		switch {
		case unicode.IsLetter(r) || unicode.Is(unicode.Mn, r):
			k = 1
		case unicode.IsDigit(r):
			k = 2
		}
		if k != kind && start >= 0 {
			out = append(out, strings.ToLower(s[start:i]))
			start = -1
		}
		if k != 0 && start < 0 {
			start = i
		}
		kind = k
	}
	if start >= 0 {
		out = append(out, strings.ToLower(s[start:]))
	}
	return out
}

// cutLast is strings.Cut at the last occurrence of sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
