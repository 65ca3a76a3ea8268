package review

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	_ "ariga.io/atlas/sql/postgres/postgrescheck" // registers the PostgreSQL analyzers
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlcheck"
	"ariga.io/atlas/sql/sqlclient"
	"ariga.io/atlas/sql/sqlite"
	_ "ariga.io/atlas/sql/sqlite/sqlitecheck" // registers the SQLite analyzers
	"entgo.io/ent/dialect"

	"github.com/cf/identity/migration"
)

// LintOptions tells Lint which files are new.
type LintOptions struct {
	// Base holds the migration files of the base revision (their names and
	// contents). Files of the directory that Base does not have are new and
	// are linted; a Base file that is missing or differs is a finding. A
	// nil Base means there is no base: every file is new.
	Base map[string][]byte
	// Path is the folder of the files as shown in findings, like
	// "migrations/sqlite".
	Path string
}

// LintResult is what Lint found in one migration directory.
type LintResult struct {
	Dialect string
	// New lists the names of the files added since the base, in order.
	New []string
	// Findings lists every finding, allowed ones included, by file and line.
	Findings []Finding
	// UnusedAllows lists allow comments (as findings with code CF105 and
	// Allowed set) that accept no finding, so a reviewer can spot a typo.
	UnusedAllows []Finding
	// Changes are the schema changes of the new files together: from the
	// state before the first new file to the state after the last file.
	Changes schema.Changes
}

// Failed returns the findings that no allow comment accepts.
func (r *LintResult) Failed() []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if !f.Allowed {
			out = append(out, f)
		}
	}
	return out
}

// Lint replays the migration directory dir of dialect d on dev, an empty
// database Lint may use as scratch space, and runs the atlas sqlcheck
// analyzers of the dialect over every statement of the files that are new
// since opts.Base: destructive changes (DS1xx, CD101), data-dependent changes
// (MF1xx, LT101) and backward-incompatible changes (BC1xx). A finding whose
// statement carries an allow comment naming its code (see AllowSyntax) is
// marked Allowed. Files of the base that were edited or removed, new files
// that sort before a base file, and statements that fail are findings too.
//
// Lint returns an error only when it cannot do its work (the dev database
// fails to inspect, …); problems of the files are findings. dev may be nil
// when no file is new.
func Lint(ctx context.Context, dev *sql.DB, d string, dir migrate.Dir, opts LintOptions) (*LintResult, error) {
	files, err := dir.Files()
	if err != nil {
		return nil, fmt.Errorf("review: reading migration directory: %w", err)
	}
	res := &LintResult{Dialect: d}
	isNew := make(map[string]bool)
	var lastBase string
	if opts.Base != nil {
		for name := range opts.Base {
			if v := version(name); v > lastBase {
				lastBase = v
			}
		}
	}
	head := make(map[string]bool, len(files))
	for _, f := range files {
		head[f.Name()] = true
		old, ok := opts.Base[f.Name()]
		switch {
		case opts.Base == nil || !ok:
			isNew[f.Name()] = true
			res.New = append(res.New, f.Name())
			if opts.Base != nil && f.Version() < lastBase {
				res.Findings = append(res.Findings, Finding{Dialect: d, File: display(opts.Path, f.Name()), Code: CodeOutOfOrder,
					Message: fmt.Sprintf("New file sorts before %s, which is already on the base: databases that applied it refuse or skip this file; plan it again (identity migrate diff) so it gets a newer version.", lastBaseName(opts.Base))})
			}
		case !bytes.Equal(old, f.Bytes()):
			res.Findings = append(res.Findings, Finding{Dialect: d, File: display(opts.Path, f.Name()), Code: CodeEditedFile,
				Message: "Migration file already on the base was edited: databases that applied it keep the old version and `migrate validate` reports it; restore it and put the change in a new migration file."})
		}
	}
	var removed []string
	for name := range opts.Base {
		if !head[name] {
			removed = append(removed, name)
		}
	}
	sort.Strings(removed)
	for _, name := range removed {
		res.Findings = append(res.Findings, Finding{Dialect: d, File: display(opts.Path, name), Code: CodeRemovedFile,
			Message: "Migration file already on the base was removed: databases that applied it no longer match the directory; restore it and undo its change in a new migration file."})
	}
	if len(res.New) > 0 {
		if dev == nil {
			return nil, errors.New("review: linting new files needs a dev database")
		}
		if err := lintFiles(ctx, dev, d, files, isNew, opts.Path, res); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(res.Findings, func(i, j int) bool {
		a, b := res.Findings[i], res.Findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return res, nil
}

func version(name string) string {
	if i := strings.IndexByte(name, '_'); i > 0 {
		return name[:i]
	}
	return strings.TrimSuffix(name, ".sql")
}

func lastBaseName(base map[string][]byte) string {
	var last string
	for name := range base {
		if strings.HasSuffix(name, ".sql") && name > last {
			last = name
		}
	}
	return last
}

// devDriver opens the atlas driver of dialect d on db.
func devDriver(d string, db *sql.DB) (migrate.Driver, string, error) {
	switch d {
	case dialect.SQLite:
		drv, err := sqlite.Open(db)
		return drv, sqlite.DriverName, err
	case dialect.Postgres:
		drv, err := postgres.Open(db)
		return drv, postgres.DriverName, err
	}
	return nil, "", fmt.Errorf("%w: %q", migration.ErrUnknownDialect, d)
}

func inspect(ctx context.Context, drv migrate.Driver) (*schema.Realm, error) {
	s, err := drv.InspectSchema(ctx, "", nil)
	if err != nil {
		return nil, fmt.Errorf("review: inspecting the dev database: %w", err)
	}
	return schema.NewRealm(s), nil
}

func lineOf(content []byte, pos int) int {
	if pos > len(content) {
		pos = len(content)
	}
	for pos < len(content) && (content[pos] == ' ' || content[pos] == '\n' || content[pos] == '\t' || content[pos] == '\r') {
		pos++
	}
	return bytes.Count(content[:pos], []byte("\n")) + 1
}

func firstLine(stmt string) string {
	s := strings.TrimSpace(stmt)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if r := []rune(s); len(r) > 120 {
		s = string(r[:119]) + "…"
	}
	return s
}

func lintFiles(ctx context.Context, dev *sql.DB, d string, files []migrate.File, isNew map[string]bool, path string, res *LintResult) error {
	drv, name, err := devDriver(d, dev)
	if err != nil {
		return err
	}
	analyzers, err := sqlcheck.AnalyzerFor(name, nil)
	if err != nil {
		return fmt.Errorf("review: loading the %s analyzers: %w", d, err)
	}
	client := &sqlclient.Client{Name: name, DB: dev, Driver: drv}
	current, err := inspect(ctx, drv)
	if err != nil {
		return err
	}
	var before *schema.Realm
	for _, f := range files {
		stmts, err := migrate.FileStmtDecls(drv, f)
		if err != nil {
			res.Findings = append(res.Findings, Finding{Dialect: d, File: display(path, f.Name()), Code: CodeStmtFails,
				Message: fmt.Sprintf("The file cannot be split into statements: %v.", err)})
			return nil
		}
		content := f.Bytes()
		if !isNew[f.Name()] {
			for _, s := range stmts {
				if _, err := dev.ExecContext(ctx, s.Text); err != nil {
					res.Findings = append(res.Findings, failed(d, path, f, content, s, err))
					return nil
				}
			}
			if current, err = inspect(ctx, drv); err != nil {
				return err
			}
			continue
		}
		if before == nil {
			before = current
		}
		sf := &sqlcheck.File{File: f, From: current}
		for _, s := range stmts {
			if _, err := dev.ExecContext(ctx, s.Text); err != nil {
				res.Findings = append(res.Findings, failed(d, path, f, content, s, err))
				return nil
			}
			target, err := inspect(ctx, drv)
			if err != nil {
				return err
			}
			changes, err := drv.RealmDiff(current, target)
			if err != nil {
				return fmt.Errorf("review: comparing states of %s: %w", f.Name(), err)
			}
			sf.Changes = append(sf.Changes, &sqlcheck.Change{Stmt: s, Changes: fixRenames(s.Text, changes)})
			current = target
		}
		sf.To = current
		if sf.Sum, err = drv.RealmDiff(sf.From, sf.To); err != nil {
			return fmt.Errorf("review: comparing states of %s: %w", f.Name(), err)
		}
		if err := analyze(ctx, client, analyzers, sf, stmts, d, path, res); err != nil {
			return err
		}
	}
	if before != nil {
		if res.Changes, err = drv.RealmDiff(before, current); err != nil {
			return fmt.Errorf("review: comparing states: %w", err)
		}
	}
	return nil
}

func failed(d, path string, f migrate.File, content []byte, s *migrate.Stmt, err error) Finding {
	return Finding{Dialect: d, File: display(path, f.Name()), Line: lineOf(content, s.Pos), Code: CodeStmtFails,
		Statement: firstLine(s.Text),
		Message:   fmt.Sprintf("The statement fails on a clean %s database replaying the directory: %v.", dialectTitle(d), err)}
}

// analyze runs the analyzers on one file and turns their diagnostics into
// findings, applying the file's allow comments.
func analyze(ctx context.Context, client *sqlclient.Client, analyzers []sqlcheck.Analyzer, sf *sqlcheck.File, stmts []*migrate.Stmt, d, path string, res *LintResult) error {
	var diags []sqlcheck.Diagnostic
	pass := &sqlcheck.Pass{File: sf, Dev: client, Reporter: sqlcheck.ReportWriterFunc(func(r sqlcheck.Report) {
		diags = append(diags, r.Diagnostics...)
	})}
	for _, az := range analyzers {
		n := len(diags)
		// An analyzer returns an error after reporting a finding (its
		// "error" option); only an error without a report is a failure.
		if err := az.Analyze(ctx, pass); err != nil && len(diags) == n {
			return fmt.Errorf("review: analyzing %s: %w", sf.Name(), err)
		}
	}
	content := sf.Bytes()
	byPos := make(map[int]*migrate.Stmt, len(stmts))
	lines := make([]int, len(stmts))
	for i, s := range stmts {
		byPos[s.Pos] = s
		lines[i] = lineOf(content, s.Pos)
	}
	allows, bad := parseAllows(string(content), lines)
	file := display(path, sf.Name())
	for _, b := range bad {
		b.Dialect, b.File = d, file
		res.Findings = append(res.Findings, b)
	}
	for _, dg := range diags {
		f := Finding{Dialect: d, File: file, Line: lineOf(content, dg.Pos), Code: dg.Code,
			Message: message(dg.Code, dg.Text, tableOf(sf, dg.Pos))}
		if s := byPos[dg.Pos]; s != nil {
			f.Statement = firstLine(s.Text)
		}
		if a := allowFor(allows, f.Line, f.Code); a != nil && allowable(f.Code) {
			f.Allowed, f.Reason = true, a.Reason
			a.used = true
		}
		res.Findings = append(res.Findings, f)
	}
	for _, a := range allows {
		if a.used {
			continue
		}
		msg := fmt.Sprintf("Allow comment for %s accepts no finding", strings.Join(a.Codes, ", "))
		if a.Stmt == 0 {
			msg += ": it is not directly above a statement (no blank line may separate them)"
		} else {
			msg += " of the statement below it"
		}
		res.UnusedAllows = append(res.UnusedAllows, Finding{Dialect: d, File: file, Line: a.Line, Code: CodeBadAllow, Message: msg + ".", Allowed: true, Reason: a.Reason})
	}
	return nil
}

// tableOf returns the table the changes of the statement at pos are about,
// when there is exactly one.
func tableOf(sf *sqlcheck.File, pos int) string {
	var name string
	for _, c := range sf.Changes {
		if c.Stmt == nil || c.Stmt.Pos != pos {
			continue
		}
		for _, ch := range c.Changes {
			var t string
			switch ch := ch.(type) {
			case *schema.ModifyTable:
				t = ch.T.Name
			case *schema.AddTable:
				t = ch.T.Name
			case *schema.DropTable:
				t = ch.T.Name
			default:
				continue
			}
			if name != "" && name != t {
				return ""
			}
			name = t
		}
	}
	return name
}
