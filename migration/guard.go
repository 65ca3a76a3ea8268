package migration

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"entgo.io/ent/dialect"

	entmigrate "github.com/cf/identity/ent/migrate"
)

// ErrForeignDatabase is wrapped by every *ForeignDatabaseError.
var ErrForeignDatabase = errors.New("migration: database belongs to another application")

// ForeignDatabaseError reports a database that Apply refused to create
// tables in, because it is not ours: it holds tables of another application
// and no revision table, or it is PostgreSQL's maintenance database. Apply
// created nothing. NewMigrator's AllowForeignTables option migrates it
// anyway.
type ForeignDatabaseError struct {
	// Database is the database name (PostgreSQL) or "" (SQLite).
	Database string
	// Maintenance is true for the PostgreSQL databases postgres, template0
	// and template1.
	Maintenance bool
	// Tables lists the tables found that are not ours, sorted.
	Tables []string
}

func (e *ForeignDatabaseError) Error() string {
	if e.Maintenance {
		return fmt.Sprintf("migration: refusing to create tables in %q, the PostgreSQL maintenance database", e.Database)
	}
	const show = 10
	list := e.Tables
	more := ""
	if len(list) > show {
		more = fmt.Sprintf(" and %d more", len(list)-show)
		list = list[:show]
	}
	where := "the database"
	if e.Database != "" {
		where = fmt.Sprintf("database %q", e.Database)
	}
	return fmt.Sprintf("migration: refusing to create tables in %s: it holds %d table(s) of another application (%s%s) and no %s",
		where, len(e.Tables), strings.Join(list, ", "), more, RevisionTable)
}

// Unwrap returns ErrForeignDatabase.
func (e *ForeignDatabaseError) Unwrap() error { return ErrForeignDatabase }

// Option configures a Migrator.
type Option func(*Migrator)

// AllowForeignTables lets Apply create the tables of cf identity in a
// database that already holds tables of another application, or in the
// PostgreSQL maintenance database.
func AllowForeignTables() Option { return func(m *Migrator) { m.allowForeign = true } }

var maintenanceDatabases = map[string]bool{"postgres": true, "template0": true, "template1": true}

// CheckOwned returns a *ForeignDatabaseError when the database is not ours
// (see ForeignDatabaseError), and nil when it records our migrations, is
// empty, or holds only tables of cf identity. It only reads.
func (m *Migrator) CheckOwned(ctx context.Context) error {
	tables, dbName, err := m.listTables(ctx)
	if err != nil {
		return err
	}
	ours := map[string]bool{RevisionTable: true}
	for _, t := range entmigrate.Tables {
		ours[t.Name] = true
	}
	var foreign []string
	for _, t := range tables {
		if t == RevisionTable {
			return nil
		}
		if !ours[t] {
			foreign = append(foreign, t)
		}
	}
	if m.dialect == dialect.Postgres && maintenanceDatabases[dbName] {
		return &ForeignDatabaseError{Database: dbName, Maintenance: true, Tables: foreign}
	}
	if len(foreign) > 0 {
		return &ForeignDatabaseError{Database: dbName, Tables: foreign}
	}
	return nil
}

// listTables returns the sorted names of the tables and views in the
// schema Apply creates tables in, and the database name (PostgreSQL).
func (m *Migrator) listTables(ctx context.Context) ([]string, string, error) {
	q := `SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`
	var dbName string
	if m.dialect == dialect.Postgres {
		if err := m.db.QueryRowContext(ctx, `SELECT current_database()`).Scan(&dbName); err != nil {
			return nil, "", fmt.Errorf("migration: reading the database name: %w", err)
		}
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`
	}
	rows, err := m.db.QueryContext(ctx, q)
	if err != nil {
		return nil, "", fmt.Errorf("migration: listing tables: %w", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, "", fmt.Errorf("migration: listing tables: %w", err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("migration: listing tables: %w", err)
	}
	return names, dbName, nil
}
