// Package storage opens the database of cf identity from a URL and returns
// an ent client that enforces the model's privacy policies and hooks.
//
// Two URL forms are accepted:
//
//	sqlite://PATH              an SQLite file (created if missing)
//	sqlite://:memory:          a private in-memory SQLite database
//	postgres://USER@HOST/DB    PostgreSQL through pgx (postgresql:// too)
//
// Import this package (or ent/runtime) in any program that uses the ent
// client: it wires the policies, hooks and defaults into the client.
package storage

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "github.com/mattn/go-sqlite3"    // registers the "sqlite3" driver

	"github.com/cf/identity/ent"
	_ "github.com/cf/identity/ent/runtime" // policies, hooks and defaults
	"github.com/cf/identity/telemetry"
)

// ErrBadURL is wrapped by every *URLError.
var ErrBadURL = errors.New("storage: bad database URL")

// ErrUnreachable is returned (wrapped) when the database does not answer.
var ErrUnreachable = errors.New("storage: database unreachable")

// URLError reports a database URL that cannot be used. URL has any password
// removed.
type URLError struct {
	URL    string
	Reason string
}

func (e *URLError) Error() string {
	return fmt.Sprintf("storage: bad database URL %q: %s", e.URL, e.Reason)
}

// Unwrap returns ErrBadURL.
func (e *URLError) Unwrap() error { return ErrBadURL }

// Config is a parsed database URL.
type Config struct {
	// Dialect is dialect.SQLite or dialect.Postgres.
	Dialect string
	// DriverName is the database/sql driver: "sqlite3" or "pgx".
	DriverName string
	// DSN is what the driver is opened with.
	DSN string
	// Redacted is the URL with any password hidden, for logs and errors.
	Redacted string
	// Memory is true for an in-memory SQLite database.
	Memory bool
	// Path is the file of an SQLite database ("" for PostgreSQL and memory).
	Path string
}

// ParseURL checks a database URL and returns how to open it.
func ParseURL(raw string) (Config, error) {
	red := Redact(raw)
	if strings.TrimSpace(raw) == "" {
		return Config{}, &URLError{URL: red, Reason: "empty; want sqlite://PATH or postgres://USER@HOST:PORT/DB"}
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return Config{}, &URLError{URL: red, Reason: "no scheme; want sqlite://PATH or postgres://USER@HOST:PORT/DB"}
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		path, query, _ := strings.Cut(rest, "?")
		if path == "" {
			return Config{}, &URLError{URL: red, Reason: "no file path; want sqlite://PATH, for example sqlite://identity.db"}
		}
		params, err := url.ParseQuery(query)
		if err != nil {
			return Config{}, &URLError{URL: red, Reason: "malformed query string"}
		}
		params.Set("_fk", "1")
		if params.Get("_busy_timeout") == "" {
			params.Set("_busy_timeout", "10000")
		}
		// Write transactions take the lock when they begin, so that two
		// concurrent writers wait instead of failing half-way.
		params.Set("_txlock", "immediate")
		c := Config{Dialect: dialect.SQLite, DriverName: "sqlite3", Redacted: red}
		if path == ":memory:" {
			var b [8]byte
			_, _ = rand.Read(b[:])
			params.Set("mode", "memory")
			params.Set("cache", "shared")
			c.Memory = true
			c.DSN = "file:cfid_" + hex.EncodeToString(b[:]) + "?" + params.Encode()
			return c, nil
		}
		if params.Get("_journal_mode") == "" {
			params.Set("_journal_mode", "WAL")
		}
		c.DSN = "file:" + path + "?" + params.Encode()
		c.Path = path
		return c, nil
	case "postgres", "postgresql":
		u, err := url.Parse(raw)
		if err != nil {
			return Config{}, &URLError{URL: red, Reason: "malformed URL"}
		}
		if u.Host == "" {
			return Config{}, &URLError{URL: red, Reason: "no host; want postgres://USER@HOST:PORT/DB"}
		}
		return Config{Dialect: dialect.Postgres, DriverName: "pgx", DSN: raw, Redacted: red}, nil
	default:
		return Config{}, &URLError{URL: red, Reason: fmt.Sprintf("unsupported scheme %q; want sqlite or postgres", scheme)}
	}
}

// Redact returns raw with any password replaced by "xxxxx".
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// OpenDB opens and pings the database of raw. The caller closes it. A
// server that answers without the database returns a *MissingDatabaseError
// (see CreateDatabase); one that does not answer, an error wrapping
// ErrUnreachable.
func OpenDB(ctx context.Context, raw string) (*sql.DB, Config, error) {
	c, err := ParseURL(raw)
	if err != nil {
		return nil, Config{}, err
	}
	db, err := sql.Open(c.DriverName, c.DSN)
	if err != nil {
		return nil, Config{}, &URLError{URL: c.Redacted, Reason: err.Error()}
	}
	if c.Memory {
		// A shared-cache memory database lives while one connection is open.
		db.SetMaxIdleConns(4)
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
	}
	if c.Dialect == dialect.Postgres {
		// Keep connections open between bursts instead of reopening them
		// (database/sql keeps only 2 idle connections by default).
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(16)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		if m := missingDatabase(c, err); m != nil {
			return nil, Config{}, m
		}
		if perr := sqliteFileError(c); perr != nil {
			// SQLite says "no such file or directory" for most causes;
			// name the real one.
			return nil, Config{}, fmt.Errorf("%w: %s: %w", ErrUnreachable, c.Redacted, perr)
		}
		return nil, Config{}, fmt.Errorf("%w: %s: %s", ErrUnreachable, c.Redacted, pingReason(err))
	}
	if c.Dialect == dialect.SQLite {
		var fk int
		if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
			db.Close()
			return nil, Config{}, fmt.Errorf("storage: %s: foreign keys are not enabled", c.Redacted)
		}
	}
	return db, c, nil
}

// sqliteFileError returns why the SQLite file of c cannot be opened for
// reading and writing (an *fs.PathError naming the path: permission
// denied, not a directory, no such folder...), or nil when it can. It
// creates nothing that was not there: a file it had to create is removed.
func sqliteFileError(c Config) error {
	if c.Dialect != dialect.SQLite || c.Memory || c.Path == "" {
		return nil
	}
	_, statErr := os.Stat(c.Path)
	// A probe: a file it creates is removed again below, so its mode is
	// never kept.
	f, err := os.OpenFile(c.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	_ = f.Close() // nothing was written
	if errors.Is(statErr, fs.ErrNotExist) {
		_ = os.Remove(c.Path)
	}
	return nil
}

// pingReason shortens a driver error to what a person can act on.
func pingReason(err error) string {
	s := err.Error()
	if i := strings.Index(s, "failed to connect to"); i >= 0 {
		return s[i:]
	}
	return s
}

// Open opens the database of raw and returns an ent client on it, and the
// *sql.DB under it; closing the client closes the *sql.DB. It does not
// migrate: see package migrations.
func Open(ctx context.Context, raw string, opts ...ent.Option) (*ent.Client, *sql.DB, Config, error) {
	db, c, err := OpenDB(ctx, raw)
	if err != nil {
		return nil, nil, Config{}, err
	}
	return NewClient(db, c.Dialect, opts...), db, c, nil
}

// NewClient returns an ent client on an open database of the given dialect.
// Its driver is telemetry.Driver: statements are counted per request and
// traced when the context carries a span. On PostgreSQL it also writes the
// settings of row-level security from the actor on each statement's
// context, when the connected role is subject to it (see RowSecuritySettings
// and the README's "Two tenant boundaries").
func NewClient(db *sql.DB, dialectName string, opts ...ent.Option) *ent.Client {
	drv := telemetry.Driver(entsql.OpenDB(dialectName, db))
	if dialectName == dialect.Postgres {
		drv = WithRowSecurity(drv)
	}
	return ent.NewClient(append([]ent.Option{ent.Driver(drv)}, opts...)...)
}
