package review

import (
	"regexp"
	"strings"
)

// An allow comment accepts named lint findings of the statement right below
// it, for a stated reason:
//
//	-- cf:allow DS103 reason: nickname was unused since v1.4 and copied to display_name in 20261201000000
//	ALTER TABLE `cf_users` DROP COLUMN `nickname`;
//
// Several codes are separated by commas ("cf:allow DS103,MF103 reason: …").
// The comment must be in the comment block directly above the statement:
// only comment lines may stand between it and the statement, no blank line.
// The reason is required; an allow comment without one allows nothing and
// is itself a finding (CF105).
type allow struct {
	Line   int
	Codes  []string
	Reason string
	// Stmt is the line of the statement the comment is attached to, 0 when
	// it is attached to none.
	Stmt int
	used bool
}

var (
	allowPrefix = regexp.MustCompile(`^--\s*cf:allow\b`)
	allowFull   = regexp.MustCompile(`^--\s*cf:allow\s+([A-Z]{2}[0-9]{3}(?:\s*,\s*[A-Z]{2}[0-9]{3})*)(?:\s+reason:(.*))?\s*$`)
)

// AllowSyntax is the form of an allow comment, for messages.
const AllowSyntax = "-- cf:allow CODE reason: WHY"

// parseAllows returns the allow comments of a migration file, attached to
// the statements that start at stmtLines (1-based), and a finding for each
// malformed one.
func parseAllows(content string, stmtLines []int) ([]*allow, []Finding) {
	lines := strings.Split(content, "\n")
	starts := make(map[int]bool, len(stmtLines))
	for _, l := range stmtLines {
		starts[l] = true
	}
	var (
		allows []*allow
		bad    []Finding
	)
	for i, raw := range lines {
		line := strings.TrimSpace(raw)
		if !allowPrefix.MatchString(line) {
			continue
		}
		m := allowFull.FindStringSubmatch(line)
		if m == nil {
			bad = append(bad, Finding{Line: i + 1, Code: CodeBadAllow,
				Message: "Malformed allow comment: write `" + AllowSyntax + "`, naming lint codes like DS103 and the reason the change is safe."})
			continue
		}
		reason := strings.TrimSpace(m[2])
		if reason == "" {
			bad = append(bad, Finding{Line: i + 1, Code: CodeBadAllow,
				Message: "Allow comment without a reason: say why the change is safe after `reason:`; it allows nothing until then."})
			continue
		}
		a := &allow{Line: i + 1, Reason: reason}
		for _, c := range strings.Split(m[1], ",") {
			a.Codes = append(a.Codes, strings.TrimSpace(c))
		}
		// Walk down over the comment block to the statement.
		for j := i + 1; j < len(lines); j++ {
			if starts[j+1] {
				a.Stmt = j + 1
				break
			}
			if !strings.HasPrefix(strings.TrimSpace(lines[j]), "--") {
				break
			}
		}
		allows = append(allows, a)
	}
	return allows, bad
}

// allowFor returns the allow comment of the statement at line stmt that
// names code, or nil.
func allowFor(allows []*allow, stmt int, code string) *allow {
	for _, a := range allows {
		if a.Stmt != stmt {
			continue
		}
		for _, c := range a.Codes {
			if c == code {
				return a
			}
		}
	}
	return nil
}
