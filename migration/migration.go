// Package migration plans, checks and applies the versioned migrations of
// cf identity with the Atlas Go library.
//
// Migrations live in migrations/sqlite and migrations/postgres, each with an
// atlas.sum that guards the directory against edits. Plan writes the next
// file of a directory from the ent schema; Migrator applies pending files to
// a database, one transaction per file, and records them in the
// cf_schema_revisions table; Drift and CheckDir prove that a database or a
// directory yields exactly the ent schema.
package migration

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	entschema "entgo.io/ent/dialect/sql/schema"

	entmigrate "github.com/cf/identity/ent/migrate"
)

// Sentinel errors. Typed errors below wrap them.
var (
	// ErrDirTampered is returned when a migration directory does not match
	// its atlas.sum: a file was added, removed or edited by hand.
	ErrDirTampered = errors.New("migration: directory does not match atlas.sum")
	// ErrDrift is returned when a database or a migration directory does
	// not match the ent schema.
	ErrDrift = errors.New("migration: schema drift")
	// ErrUnknownDialect is returned for a dialect other than sqlite3 and
	// postgres.
	ErrUnknownDialect = errors.New("migration: unknown dialect")
	// ErrHistoryChanged is returned when an applied migration file was
	// edited after it was applied.
	ErrHistoryChanged = errors.New("migration: applied migration changed")
)

// Dialects lists the dialects migrations are kept for, in directory order.
var Dialects = []string{dialect.SQLite, dialect.Postgres}

// DirName returns the directory name of a dialect under migrations/.
func DirName(d string) (string, error) {
	switch d {
	case dialect.SQLite:
		return "sqlite", nil
	case dialect.Postgres:
		return "postgres", nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnknownDialect, d)
}

// DriftError reports the SQL that would bring the schema in line with ent.
type DriftError struct {
	Dialect string
	// What was compared: "database" or "migration directory".
	Subject string
	// SQL holds the statements that are missing.
	SQL string
}

func (e *DriftError) Error() string {
	return fmt.Sprintf("migration: %s %s differs from the ent schema; missing:\n%s", e.Dialect, e.Subject, e.SQL)
}

// Unwrap returns ErrDrift.
func (e *DriftError) Unwrap() error { return ErrDrift }

// ValidateDir checks dir against its atlas.sum.
func ValidateDir(dir migrate.Dir) error {
	if err := migrate.Validate(dir); err != nil {
		if errors.Is(err, migrate.ErrChecksumMismatch) || errors.Is(err, migrate.ErrChecksumNotFound) || errors.Is(err, migrate.ErrChecksumFormat) {
			return fmt.Errorf("%w: %v; if the edit is intended, regenerate the sum with `identity migrate hash`", ErrDirTampered, err)
		}
		return fmt.Errorf("migration: validating directory: %w", err)
	}
	return nil
}

// Rehash rewrites the atlas.sum of dir from its files.
func Rehash(dir migrate.Dir) error {
	sum, err := dir.Checksum()
	if err != nil {
		return fmt.Errorf("migration: hashing directory: %w", err)
	}
	return migrate.WriteSumFile(dir, sum)
}

func atlasDriver(d string, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (migrate.Driver, error) {
	switch d {
	case dialect.SQLite:
		return sqlite.Open(db)
	case dialect.Postgres:
		return postgres.Open(db)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownDialect, d)
}

func entMigrate(db *sql.DB, d string, dir migrate.Dir, mode entschema.Mode, extra ...entschema.MigrateOption) (*entschema.Atlas, error) {
	if _, err := DirName(d); err != nil {
		return nil, err
	}
	return entschema.NewMigrate(entsql.OpenDB(d, db), append([]entschema.MigrateOption{
		entschema.WithDir(dir),
		entschema.WithMigrationMode(mode),
		entschema.WithDialect(d),
		entschema.WithFormatter(migrate.DefaultFormatter),
		entschema.WithDropColumn(true),
		entschema.WithDropIndex(true),
		entschema.WithForeignKeys(true),
	}, extra...)...)
}

// Plan writes the next migration file, named name, into dir: the changes
// that turn the state of the existing files into the ent schema. dev must be
// an empty database of dialect d that Plan may use as scratch space (an
// in-memory SQLite database, or a scratch PostgreSQL database). Plan returns
// the name of the new file, or "" when there is nothing to change. The very
// first file of a directory also inserts the built-in roles.
func Plan(ctx context.Context, dev *sql.DB, d string, dir migrate.Dir, name string) (string, error) {
	if err := ValidateDir(dir); err != nil {
		return "", err
	}
	before, err := dir.Files()
	if err != nil {
		return "", fmt.Errorf("migration: reading directory: %w", err)
	}
	m, err := entMigrate(dev, d, dir, entschema.ModeReplay)
	if err != nil {
		return "", err
	}
	if err := m.NamedDiff(ctx, name, entmigrate.Tables...); err != nil {
		return "", fmt.Errorf("migration: planning %s: %w", d, err)
	}
	after, err := dir.Files()
	if err != nil {
		return "", fmt.Errorf("migration: reading directory: %w", err)
	}
	had := map[string]bool{}
	for _, b := range before {
		had[b.Name()] = true
	}
	var f migrate.File
	for _, a := range after {
		if !had[a.Name()] {
			f = a
		}
	}
	if f == nil {
		return "", nil
	}
	if len(before) == 0 {
		seed, err := BuiltinRolesSQL(d)
		if err != nil {
			return "", err
		}
		content := append(bytes.TrimRight(f.Bytes(), "\n"), []byte("\n"+seed)...)
		if err := dir.WriteFile(f.Name(), content); err != nil {
			return "", fmt.Errorf("migration: writing %s: %w", f.Name(), err)
		}
		if err := Rehash(dir); err != nil {
			return "", err
		}
	}
	return f.Name(), nil
}

// CheckDir replays every file of dir on the empty database dev and compares
// the result with the ent schema. It returns a *DriftError naming the
// missing SQL when they differ.
func CheckDir(ctx context.Context, dev *sql.DB, d string, dir migrate.Dir) error {
	if err := ValidateDir(dir); err != nil {
		return err
	}
	mem := migrate.OpenMemDir(fmt.Sprintf("cf-check-%p", dev))
	defer mem.Close()
	if err := copyDir(dir, mem); err != nil {
		return err
	}
	m, err := entMigrate(dev, d, mem, entschema.ModeReplay)
	if err != nil {
		return err
	}
	if err := m.NamedDiff(ctx, "drift", entmigrate.Tables...); err != nil {
		return fmt.Errorf("migration: replaying %s directory: %w", d, err)
	}
	return driftFrom(mem, dir, d, "migration directory")
}

// SchemaSQL returns the SQL that creates the ent schema on an empty database
// of dialect d, using dev as scratch space.
func SchemaSQL(ctx context.Context, dev *sql.DB, d string) (string, error) {
	mem := migrate.OpenMemDir(fmt.Sprintf("cf-schema-%p", dev))
	defer mem.Close()
	m, err := entMigrate(dev, d, mem, entschema.ModeReplay)
	if err != nil {
		return "", err
	}
	if err := m.NamedDiff(ctx, "schema", entmigrate.Tables...); err != nil {
		return "", fmt.Errorf("migration: planning %s schema: %w", d, err)
	}
	files, err := mem.Files()
	if err != nil || len(files) == 0 {
		return "", fmt.Errorf("migration: planning %s schema produced nothing", d)
	}
	return string(files[0].Bytes()), nil
}

func copyDir(from, to migrate.Dir) error {
	files, err := from.Files()
	if err != nil {
		return fmt.Errorf("migration: reading directory: %w", err)
	}
	for _, f := range files {
		if err := to.WriteFile(f.Name(), f.Bytes()); err != nil {
			return err
		}
	}
	sum, err := from.Checksum()
	if err != nil {
		return fmt.Errorf("migration: hashing directory: %w", err)
	}
	return migrate.WriteSumFile(to, sum)
}

// driftFrom returns a *DriftError when planning wrote a file into mem that
// the original directory orig (nil: an empty one) does not have. Files are
// matched by name, not position: a planned file may sort before existing
// ones whose versions lie in the future.
func driftFrom(mem, orig migrate.Dir, d, subject string) error {
	got, err := mem.Files()
	if err != nil {
		return err
	}
	have := map[string]bool{}
	if orig != nil {
		fs, err := orig.Files()
		if err != nil {
			return err
		}
		for _, f := range fs {
			have[f.Name()] = true
		}
	}
	var b strings.Builder
	for _, f := range got {
		if !have[f.Name()] {
			b.Write(f.Bytes())
		}
	}
	if b.Len() == 0 {
		return nil
	}
	return &DriftError{Dialect: d, Subject: subject, SQL: b.String()}
}
