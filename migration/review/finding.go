package review

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Codes of the findings this package adds to the ones of the atlas sqlcheck
// analyzers (DS1xx destructive, MF1xx and LT101 data-dependent, BC1xx
// backward-incompatible, CD101 constraint dropped).
const (
	// CodeEditedFile: a migration file that exists on the base was edited.
	// Databases that applied it keep the old version. Never allowed.
	CodeEditedFile = "CF101"
	// CodeRemovedFile: a migration file that exists on the base was
	// deleted. Never allowed.
	CodeRemovedFile = "CF102"
	// CodeOutOfOrder: a new file sorts before a file of the base;
	// databases already past it refuse the directory. Never allowed.
	CodeOutOfOrder = "CF103"
	// CodeStmtFails: a statement fails on a clean database. Never allowed.
	CodeStmtFails = "CF104"
	// CodeBadAllow: an allow comment without a reason or malformed.
	CodeBadAllow = "CF105"
)

// A Finding is one problem of a migration file.
type Finding struct {
	// Dialect is sqlite3 or postgres.
	Dialect string
	// File is the path of the migration file as shown to a reviewer.
	File string
	// Line is the 1-based line of the statement (or of the comment) the
	// finding is about; 0 for the whole file.
	Line int
	// Code names the check, e.g. DS103; see the README for the list.
	Code string
	// Message is a sentence a reviewer understands: what the statement
	// does and why it is dangerous.
	Message string
	// Statement is the start of the SQL statement, when there is one.
	Statement string
	// Allowed is true when an allow comment accepts the finding; Reason is
	// its reason.
	Allowed bool
	Reason  string
}

// Where returns "file:line" (or "file" without a line).
func (f Finding) Where() string {
	if f.Line == 0 {
		return f.File
	}
	return fmt.Sprintf("%s:%d", f.File, f.Line)
}

// String returns "file:line: CODE: message".
func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: %s", f.Where(), f.Code, f.Message)
}

// allowable reports whether an allow comment may accept findings of code.
func allowable(code string) bool {
	switch code {
	case CodeEditedFile, CodeRemovedFile, CodeOutOfOrder, CodeStmtFails, CodeBadAllow:
		return false
	}
	return true
}

// consequences explains, per atlas code, what goes wrong and what to do.
var consequences = map[string]string{
	"DS101": "every table of the schema is deleted with its rows",
	"DS102": "the table is deleted with all of its rows, and servers still running the previous release fail when they use it",
	"DS103": "the column's data is deleted, and servers still running the previous release fail when they read or write it",
	"CD101": "the database stops enforcing the relation, so rows may start pointing at rows that do not exist",
	"MF101": "the migration fails on every database whose existing rows hold duplicates; remove them first, in this file or an earlier one",
	"MF102": "the migration fails on every database whose existing rows hold duplicates; remove them first, in this file or an earlier one",
	"MF103": "the migration fails on every database where the table has rows; give the column a default, or add it nullable, backfill it and then make it NOT NULL",
	"MF104": "the migration fails on every database where the column holds NULLs; backfill it first",
	"LT101": "the migration fails on every database where the column holds NULLs; backfill it first",
	"BC101": "servers still running the previous release use the old name and fail until they are replaced",
	"BC102": "servers still running the previous release use the old name and fail until they are replaced",
}

// message builds the reviewer's sentence of an atlas diagnostic.
func message(code, text, table string) string {
	if table != "" && !containsQuoted(text, table) {
		text += fmt.Sprintf(" of table %q", table)
	}
	if c, ok := consequences[code]; ok {
		return text + ": " + c + "."
	}
	return text + "."
}

func containsQuoted(s, name string) bool {
	return strings.Contains(s, strconv.Quote(name))
}

func display(dir, name string) string {
	if dir == "" {
		return name
	}
	return path.Join(dir, name)
}
