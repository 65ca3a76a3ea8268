// Package review checks a schema change the way a reviewer needs it checked
// in CI, and writes what it found as a Markdown report for the pull request.
//
// For each dialect's migration directory it checks atlas.sum, replays every
// file on a clean dev database and compares the result with the ent schema
// (drift), and lints the files added since a base revision with the atlas
// sqlcheck analyzers (see Lint). It compares the GraphQL schema with the
// base's and fails on unacknowledged breaking changes (see package
// graph/schemadiff). Report.Problems lists what fails the check;
// Report.Markdown renders everything for a pull-request comment.
//
// Run gathers the inputs from disk and git; Checker.Migrations and
// CompareGraphQL do the work on inputs given directly.
package review

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"ariga.io/atlas/sql/migrate"

	"github.com/cf/identity/graph/schemadiff"
	"github.com/cf/identity/migration"
)

// DevFunc returns an empty scratch database of dialect d and a function that
// drops it.
type DevFunc func(ctx context.Context, d string) (*sql.DB, func(), error)

// DriftFunc replays dir on the empty database dev and compares the result
// with the desired schema; migration.CheckDir is the one used by default.
type DriftFunc func(ctx context.Context, dev *sql.DB, d string, dir migrate.Dir) error

// Checker checks migration directories.
type Checker struct {
	// Dev makes the scratch databases (one for the drift check, one for
	// lint). Required.
	Dev DevFunc
	// Drift compares a directory with the ent schema; nil uses
	// migration.CheckDir.
	Drift DriftFunc
}

// DialectInput is one migration directory to check.
type DialectInput struct {
	Dialect string
	// Path is the folder as shown to a reviewer, e.g. "migrations/sqlite".
	Path string
	Dir  migrate.Dir
	// Base holds the .sql files of the folder at the base revision, by
	// name; nil when there is no base (every file is new).
	Base map[string][]byte
}

// DialectReport is the outcome of the checks of one migration directory.
type DialectReport struct {
	Dialect string
	Path    string
	// Err is set when the directory could not be checked at all (it does
	// not exist, no dev database, …).
	Err error
	// Sum is set when the directory does not match its atlas.sum.
	Sum error
	// Drift is a *migration.DriftError holding the missing SQL when the
	// replayed directory differs from the ent schema, another error when
	// the comparison failed, nil when they match.
	Drift error
	// Lint holds the lint result; LintErr is set when linting failed.
	Lint    *LintResult
	LintErr error
}

// Migrations checks one migration directory: atlas.sum, drift and lint.
// Problems of the directory are recorded in the report, never returned.
func (c Checker) Migrations(ctx context.Context, in DialectInput) *DialectReport {
	r := &DialectReport{Dialect: in.Dialect, Path: in.Path}
	if c.Dev == nil {
		r.Err = errors.New("review: no dev database configured")
		return r
	}
	r.Sum = migration.ValidateDir(in.Dir)
	// The drift check runs on a copy with a fresh atlas.sum, so that a
	// stale sum does not hide a drift.
	fresh, err := withFreshSum(in.Dir)
	if err != nil {
		r.Err = err
		return r
	}
	drift := c.Drift
	if drift == nil {
		drift = migration.CheckDir
	}
	dev, done, err := c.Dev(ctx, in.Dialect)
	if err != nil {
		r.Err = err
		return r
	}
	r.Drift = drift(ctx, dev, in.Dialect, fresh)
	done()
	// Lint needs a dev database only when there are new files.
	var lintDev *sql.DB
	if hasNew(in) {
		if lintDev, done, err = c.Dev(ctx, in.Dialect); err != nil {
			r.Err = err
			return r
		}
		defer done()
	}
	r.Lint, r.LintErr = Lint(ctx, lintDev, in.Dialect, in.Dir, LintOptions{Base: in.Base, Path: in.Path})
	return r
}

func hasNew(in DialectInput) bool {
	if in.Base == nil {
		return true
	}
	files, err := in.Dir.Files()
	if err != nil {
		return true // Lint reports the error
	}
	for _, f := range files {
		if _, ok := in.Base[f.Name()]; !ok {
			return true
		}
	}
	return false
}

func withFreshSum(dir migrate.Dir) (migrate.Dir, error) {
	files, err := dir.Files()
	if err != nil {
		return nil, fmt.Errorf("review: reading migration directory: %w", err)
	}
	mem := &migrate.MemDir{}
	for i, f := range files {
		// Versions 1, 2, … keep the order and sort before the file the
		// drift check plans (versioned now), whatever dates the files
		// carry: migration.CheckDir takes the files sorted after the
		// directory's as the missing SQL.
		if err := mem.WriteFile(fmt.Sprintf("%014d_%s", i+1, f.Name()), f.Bytes()); err != nil {
			return nil, err
		}
	}
	sum, err := mem.Checksum()
	if err != nil {
		return nil, fmt.Errorf("review: hashing migration directory: %w", err)
	}
	if err := migrate.WriteSumFile(mem, sum); err != nil {
		return nil, err
	}
	return mem, nil
}

// Problems lists what fails the check of the directory, one line each.
func (r *DialectReport) Problems() []string {
	var out []string
	if r.Err != nil {
		out = append(out, fmt.Sprintf("%s: %v", r.Dialect, r.Err))
	}
	if r.Sum != nil {
		out = append(out, fmt.Sprintf("%s: %v", r.Dialect, r.Sum))
	}
	var de *migration.DriftError
	switch {
	case errors.As(r.Drift, &de):
		out = append(out, strings.TrimRight(de.Error(), "\n"))
	case r.Drift != nil:
		out = append(out, fmt.Sprintf("%s: drift check: %v", r.Dialect, r.Drift))
	}
	if r.LintErr != nil {
		out = append(out, fmt.Sprintf("%s: lint: %v", r.Dialect, r.LintErr))
	}
	if r.Lint != nil {
		for _, f := range r.Lint.Failed() {
			s := fmt.Sprintf("%s: %s", r.Dialect, f)
			if allowable(f.Code) {
				s += fmt.Sprintf(" If this is intended, put `-- cf:allow %s reason: WHY` directly above the statement.", f.Code)
			}
			out = append(out, s)
		}
	}
	return out
}

// Report is the outcome of a review.
type Report struct {
	Base       Base
	Migrations []*DialectReport
	// GraphQL is nil when the GraphQL schema was not looked at.
	GraphQL *GraphQLReport
}

// Problems lists everything that fails the check, one entry each.
func (r *Report) Problems() []string {
	var out []string
	for _, m := range r.Migrations {
		out = append(out, m.Problems()...)
	}
	if r.GraphQL != nil {
		out = append(out, r.GraphQL.Problems()...)
	}
	return out
}

// Failed reports whether the change must not be merged as it is.
func (r *Report) Failed() bool { return len(r.Problems()) > 0 }

// Config configures Run.
type Config struct {
	// MigrationsDir holds one folder per dialect (sqlite/, postgres/).
	MigrationsDir string
	// Dialects to check; migration.Dialects when empty.
	Dialects []string
	// GraphQLDir holds the *.graphql files and the acknowledgement file
	// (schemadiff.AckFile); "" skips the GraphQL comparison.
	GraphQLDir string
	// Base is the revision to compare with (see FindBase).
	Base    Base
	Checker Checker
}

// Run checks the migration directories and the GraphQL schema on disk
// against cfg.Base. It returns an error only for a configuration error;
// problems are in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	dialects := cfg.Dialects
	if len(dialects) == 0 {
		dialects = migration.Dialects
	}
	rep := &Report{Base: cfg.Base}
	for _, d := range dialects {
		name, err := migration.DirName(d)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(cfg.MigrationsDir, name)
		in := DialectInput{Dialect: d, Path: filepath.ToSlash(path)}
		ld, err := migrate.NewLocalDir(path)
		if err != nil {
			rep.Migrations = append(rep.Migrations, &DialectReport{Dialect: d, Path: in.Path, Err: fmt.Errorf("opening migration directory: %w", err)})
			continue
		}
		in.Dir = ld
		if cfg.Base.Available() {
			if in.Base, err = cfg.Base.ReadDir(ctx, path, ".sql"); err != nil {
				rep.Migrations = append(rep.Migrations, &DialectReport{Dialect: d, Path: in.Path, Err: fmt.Errorf("reading the base's migrations: %w", err)})
				continue
			}
		}
		rep.Migrations = append(rep.Migrations, cfg.Checker.Migrations(ctx, in))
	}
	if cfg.GraphQLDir != "" {
		rep.GraphQL = graphQLFromDisk(ctx, cfg.GraphQLDir, cfg.Base)
	}
	return rep, nil
}

func graphQLFromDisk(ctx context.Context, dir string, base Base) *GraphQLReport {
	show := filepath.ToSlash(dir)
	r := &GraphQLReport{Path: show, AckFile: filepath.ToSlash(filepath.Join(dir, schemadiff.AckFile))}
	matches, err := filepath.Glob(filepath.Join(dir, "*.graphql"))
	if err != nil || len(matches) == 0 {
		r.Err = fmt.Errorf("no *.graphql files in %s", show)
		return r
	}
	sort.Strings(matches)
	var head []schemadiff.Source
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			r.Err = err
			return r
		}
		head = append(head, schemadiff.Source{Name: filepath.Base(m), Input: string(b)})
	}
	headAcks, err := os.ReadFile(filepath.Join(dir, schemadiff.AckFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		r.Err = err
		return r
	}
	if !base.Available() {
		r.Skipped = base.Note
		return r
	}
	files, err := base.ReadDir(ctx, dir, ".graphql")
	if err != nil {
		r.Err = fmt.Errorf("reading the base's GraphQL schema: %w", err)
		return r
	}
	if len(files) == 0 {
		r.Skipped = fmt.Sprintf("the base has no GraphQL schema in %s", show)
		return r
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	old := make([]schemadiff.Source, len(names))
	for i, n := range names {
		old[i] = schemadiff.Source{Name: n, Input: string(files[n])}
	}
	baseAcks, _, err := base.ReadFile(ctx, filepath.Join(dir, schemadiff.AckFile))
	if err != nil {
		r.Err = fmt.Errorf("reading the base's %s: %w", schemadiff.AckFile, err)
		return r
	}
	g := CompareGraphQL(old, head, baseAcks, headAcks)
	g.Path, g.AckFile = r.Path, r.AckFile
	return g
}
