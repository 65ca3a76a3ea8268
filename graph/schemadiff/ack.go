package schemadiff

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// AckFile is the conventional name of the file, next to the schema, in
// which breaking changes are acknowledged.
const AckFile = "BREAKING.md"

// An Ack acknowledges the breaking changes at or under a schema coordinate.
// It is one Markdown list item of the acknowledgement file (see AckFile):
//
//   - `User.nickname` removed: no client reads it since v2.3 (#142)
//
// The item starts with the coordinate in backquotes; the rest of the line,
// after an optional ":" or dash, is the reason, which must not be empty.
// An Ack of a type ("User") covers every change under it ("User.email",
// "User.posts(first:)"); an Ack of a field covers its arguments; "*" is a
// wildcard ("UserWhereInput.phone*"). Lines inside fenced code blocks are
// examples and are ignored.
type Ack struct {
	Coordinate string
	Reason     string
	// Line is the 1-based line of the item in its file.
	Line int
	// Text is the whole line, trimmed.
	Text string
}

// AckError reports an acknowledgement line that cannot be used.
type AckError struct {
	Line int
	Text string
	Msg  string
}

func (e *AckError) Error() string {
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Msg, e.Text)
}

var ackLine = regexp.MustCompile("^\\s*[-*+]\\s+`([^`]+)`\\s*(.*)$")

// ParseAcks returns the acknowledgements of the file content b, and an
// *AckError for each item that names a coordinate without a reason.
func ParseAcks(b []byte) ([]Ack, []error) {
	var (
		acks  []Ack
		errs  []error
		fence bool
	)
	for i, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		m := ackLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		coord := strings.TrimSpace(m[1])
		reason := strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(m[2]), ":-–—"))
		if reason == "" {
			errs = append(errs, &AckError{Line: i + 1, Text: trimmed, Msg: fmt.Sprintf("acknowledgement of %s gives no reason", coord)})
			continue
		}
		acks = append(acks, Ack{Coordinate: coord, Reason: reason, Line: i + 1, Text: trimmed})
	}
	return acks, errs
}

// NewAcks returns the acknowledgements of head that base does not have
// (compared line by line): the ones made by the change under review. An
// acknowledgement merged earlier does not accept later breaking changes.
func NewAcks(base, head []byte) ([]Ack, []error) {
	oldAcks, oldErrs := ParseAcks(base)
	seen := make(map[string]bool, len(oldAcks)+len(oldErrs))
	for _, a := range oldAcks {
		seen[a.Text] = true
	}
	for _, e := range oldErrs {
		var ae *AckError
		if errors.As(e, &ae) {
			seen[ae.Text] = true
		}
	}
	acks, errs := ParseAcks(head)
	var (
		out     []Ack
		newErrs []error
	)
	for _, a := range acks {
		if !seen[a.Text] {
			out = append(out, a)
		}
	}
	for _, e := range errs {
		var ae *AckError
		if errors.As(e, &ae) && !seen[ae.Text] {
			newErrs = append(newErrs, e)
		}
	}
	return out, newErrs
}

// Covers reports whether the acknowledgement accepts a change at coord: the
// coordinate itself, what is under it, or, when the Ack's coordinate holds
// a wildcard, what matches it as a path.Match pattern ("*" matches any run
// of characters): "UserWhereInput.phone*" covers phoneNEQ, phoneIn, …, and
// "*.phone" the field phone of every type.
func (a Ack) Covers(coord string) bool {
	if strings.ContainsAny(a.Coordinate, "*?[") {
		ok, err := path.Match(a.Coordinate, coord)
		return err == nil && ok
	}
	return coord == a.Coordinate ||
		strings.HasPrefix(coord, a.Coordinate+".") ||
		strings.HasPrefix(coord, a.Coordinate+"(")
}

// Acknowledge sets the Ack of every breaking change that one of acks
// covers, and returns the acknowledgements that cover no breaking change.
func Acknowledge(changes []Change, acks []Ack) (unused []Ack) {
	used := make([]bool, len(acks))
	for i := range changes {
		if !changes[i].Breaking {
			continue
		}
		for j := range acks {
			if acks[j].Covers(changes[i].Coordinate) {
				a := acks[j]
				changes[i].Ack = &a
				used[j] = true
				break
			}
		}
	}
	for j, a := range acks {
		if !used[j] {
			unused = append(unused, a)
		}
	}
	return unused
}

// Unacknowledged returns the breaking changes of changes without an Ack.
func Unacknowledged(changes []Change) []Change {
	var out []Change
	for _, c := range changes {
		if c.Breaking && c.Ack == nil {
			out = append(out, c)
		}
	}
	return out
}
