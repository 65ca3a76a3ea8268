package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/migration"
)

// ErrBehind is wrapped by the error of Check when the database lacks
// embedded migrations: the schema is older than the binary expects.
var ErrBehind = errors.New("migrations: database schema is behind")

// Pending returns the versions of the embedded migrations of dialect d
// (dialect.SQLite or dialect.Postgres) that are not applied to db, oldest
// first; all of them when db has no revision table. It only reads: it
// creates nothing and takes no lock, so it is safe for readiness probes.
// A database error is returned wrapped.
func Pending(ctx context.Context, db *sql.DB, d string) ([]string, error) {
	dir, err := Dir(d)
	if err != nil {
		return nil, err
	}
	files, err := dir.Files()
	if err != nil {
		return nil, fmt.Errorf("migrations: reading directory: %w", err)
	}
	applied, err := appliedVersions(ctx, db, d)
	if err != nil {
		return nil, err
	}
	var pending []string
	for _, f := range files {
		if !applied[f.Version()] {
			pending = append(pending, f.Version())
		}
	}
	return pending, nil
}

// Check returns nil when every embedded migration of dialect d is applied
// to db, an error wrapping ErrBehind that names the pending versions when
// some are not, and the database error (wrapped) when db cannot be read.
func Check(ctx context.Context, db *sql.DB, d string) error {
	pending, err := Pending(ctx, db, d)
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		return fmt.Errorf("%w: %d migration(s) not applied (%s); run `identity migrate`", ErrBehind, len(pending), strings.Join(pending, ", "))
	}
	return nil
}

// appliedVersions reads the versions recorded as fully applied in the
// revision table of db; none when the table does not exist.
func appliedVersions(ctx context.Context, db *sql.DB, d string) (map[string]bool, error) {
	var exists bool
	var err error
	switch d {
	case dialect.SQLite:
		err = db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)", migration.RevisionTable).Scan(&exists)
	case dialect.Postgres:
		err = db.QueryRowContext(ctx, "SELECT to_regclass($1) IS NOT NULL", migration.RevisionTable).Scan(&exists)
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q", d)
	}
	if err != nil {
		return nil, fmt.Errorf("migrations: looking for %s: %w", migration.RevisionTable, err)
	}
	applied := map[string]bool{}
	if !exists {
		return applied, nil
	}
	const query = "SELECT version FROM " + migration.RevisionTable + " WHERE error = '' AND applied = total"
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("migrations: reading %s: %w", migration.RevisionTable, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("migrations: reading %s: %w", migration.RevisionTable, err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrations: reading %s: %w", migration.RevisionTable, err)
	}
	return applied, nil
}
