// Package devdb makes throw-away databases: in-memory SQLite databases and
// scratch PostgreSQL databases created on a server and dropped after use.
// The migration planner uses them as dev databases, and tests as their
// per-run databases.
package devdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"

	"github.com/cf/identity/storage"
)

// SQLite opens a new private in-memory SQLite database on a single
// connection (which keeps it alive); closing db drops it.
func SQLite(ctx context.Context) (*sql.DB, error) {
	db, _, err := storage.OpenDB(ctx, "sqlite://:memory:")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Postgres creates a database with a random name on the server of serverURL
// and returns a handle to it, its URL, and a drop function that closes the
// handle and drops the database.
func Postgres(ctx context.Context, serverURL, prefix string) (db *sql.DB, rawURL string, drop func() error, err error) {
	admin, _, err := storage.OpenDB(ctx, serverURL)
	if err != nil {
		return nil, "", nil, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := prefix + "_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return nil, "", nil, fmt.Errorf("devdb: creating database %s: %w", name, err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		admin.Close()
		return nil, "", nil, err
	}
	u.Path = "/" + name
	rawURL = u.String()
	db, _, err = storage.OpenDB(ctx, rawURL)
	if err != nil {
		_, _ = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name)
		admin.Close()
		return nil, "", nil, err
	}
	// drop runs at cleanup, often after ctx is done: it keeps ctx's values,
	// not its cancellation.
	dropCtx := context.WithoutCancel(ctx)
	drop = func() error {
		db.Close()
		defer admin.Close()
		_, err := admin.ExecContext(dropCtx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return err
	}
	return db, rawURL, drop, nil
}
