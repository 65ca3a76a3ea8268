// Package migrations embeds the versioned migration directories of cf
// identity: sqlite/ and postgres/, each with its atlas.sum. The files are
// planned by `identity migrate diff`; never edit an applied file.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/cf/identity/migration"
)

//go:embed sqlite/*.sql sqlite/atlas.sum postgres/*.sql postgres/atlas.sum
var files embed.FS

// Dir returns the embedded migration directory of dialect d (dialect.SQLite
// or dialect.Postgres) as a read-only atlas directory.
func Dir(d string) (migrate.Dir, error) {
	var name string
	switch d {
	case dialect.SQLite:
		name = "sqlite"
	case dialect.Postgres:
		name = "postgres"
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q", d)
	}
	entries, err := fs.ReadDir(files, name)
	if err != nil {
		return nil, err
	}
	// A private directory per call: migrate.OpenMemDir would hand every
	// caller the same process-wide, unsynchronized directory.
	dir := &migrate.MemDir{}
	for _, e := range entries {
		b, err := fs.ReadFile(files, name+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		if err := dir.WriteFile(e.Name(), b); err != nil {
			return nil, err
		}
	}
	return dir, nil
}

// Apply applies the pending embedded migrations to the database of
// databaseURL (see package storage for URL forms) and returns what it
// applied. It opens its own connection and closes it before returning. A
// database that holds tables of another application (or PostgreSQL's
// maintenance database) is left untouched: see ApplyWith.
func Apply(ctx context.Context, databaseURL string) ([]migration.Applied, error) {
	return ApplyWith(ctx, databaseURL, ApplyOptions{})
}
