package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"entgo.io/ent/dialect"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNoDatabase is wrapped by every *MissingDatabaseError.
var ErrNoDatabase = errors.New("storage: database does not exist")

// MissingDatabaseError reports a PostgreSQL server that answers but has no
// database of the name in the URL. URL has any password removed.
type MissingDatabaseError struct {
	Database string
	URL      string
}

func (e *MissingDatabaseError) Error() string {
	return fmt.Sprintf("storage: database %q does not exist on %s: create it (createdb %s, or CREATE DATABASE), or let `identity migrate apply`, `identity serve` or `identity bootstrap` create it",
		e.Database, e.URL, e.Database)
}

// Unwrap returns ErrNoDatabase.
func (e *MissingDatabaseError) Unwrap() error { return ErrNoDatabase }

// missingDatabase returns a *MissingDatabaseError when err is PostgreSQL's
// invalid_catalog_name (3D000) for the database of c, else nil.
func missingDatabase(c Config, err error) error {
	var pg *pgconn.PgError
	if c.Dialect != dialect.Postgres || !errors.As(err, &pg) || pg.Code != "3D000" {
		return nil
	}
	return &MissingDatabaseError{Database: databaseName(c.DSN), URL: c.Redacted}
}

// databaseName returns the database named by a postgres:// URL: its path,
// or the user name when the path is empty (as libpq does).
func databaseName(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if db := u.Query().Get("dbname"); db != "" {
		return db
	}
	if name := strings.TrimPrefix(u.Path, "/"); name != "" {
		return name
	}
	if u.User != nil && u.User.Username() != "" {
		return u.User.Username()
	}
	return ""
}

// maintenanceDatabases are tried, in order, to create a missing database.
var maintenanceDatabases = []string{"postgres", "template1"}

// CreateDatabase creates the PostgreSQL database of raw when the server
// answers that it does not exist, and reports whether it did. It connects
// to the server's maintenance database (postgres, else template1) with the
// same user, who needs the CREATEDB privilege. For an SQLite URL, or a
// database that exists, it does nothing. A database created at the same
// moment by someone else counts as existing.
func CreateDatabase(ctx context.Context, raw string) (created bool, err error) {
	c, err := ParseURL(raw)
	if err != nil {
		return false, err
	}
	if c.Dialect != dialect.Postgres {
		return false, nil
	}
	db, _, err := OpenDB(ctx, raw)
	if err == nil {
		db.Close()
		return false, nil
	}
	var missing *MissingDatabaseError
	if !errors.As(err, &missing) {
		return false, err
	}
	if missing.Database == "" {
		return false, err
	}
	u, perr := url.Parse(raw)
	if perr != nil {
		return false, &URLError{URL: c.Redacted, Reason: "malformed URL"}
	}
	q := u.Query()
	q.Del("dbname")
	u.RawQuery = q.Encode()
	var last error
	for _, m := range maintenanceDatabases {
		if m == missing.Database {
			continue
		}
		u.Path = "/" + m
		admin, _, err := OpenDB(ctx, u.String())
		if err != nil {
			last = err
			continue
		}
		_, err = admin.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(missing.Database))
		admin.Close()
		var pg *pgconn.PgError
		switch {
		case err == nil:
			return true, nil
		case errors.As(err, &pg) && pg.Code == "42P04": // duplicate_database
			return false, nil
		case errors.As(err, &pg):
			return false, fmt.Errorf("storage: creating database %q on %s: %s (SQLSTATE %s)", missing.Database, c.Redacted, pg.Message, pg.Code)
		default:
			return false, fmt.Errorf("storage: creating database %q on %s: %w", missing.Database, c.Redacted, err)
		}
	}
	return false, fmt.Errorf("storage: creating database %q: no maintenance database to connect to: %w", missing.Database, last)
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
