package migrations

import (
	"context"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/migration"
	"github.com/cf/identity/storage"
)

// ApplyOptions change what ApplyWith does.
type ApplyOptions struct {
	// AllowForeignTables migrates a database that holds tables of another
	// application, or the PostgreSQL maintenance database; without it such
	// a database is left untouched and a *migration.ForeignDatabaseError is
	// returned. See migration.AllowForeignTables.
	AllowForeignTables bool
}

// ApplyWith applies the pending embedded migrations to the database of
// databaseURL, as Apply does, with the options o.
func ApplyWith(ctx context.Context, databaseURL string, o ApplyOptions) ([]migration.Applied, error) {
	db, c, err := storage.OpenDB(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if c.Dialect == dialect.SQLite {
		db.SetMaxOpenConns(1)
	}
	dir, err := Dir(c.Dialect)
	if err != nil {
		return nil, err
	}
	var opts []migration.Option
	if o.AllowForeignTables {
		opts = append(opts, migration.AllowForeignTables())
	}
	m, err := migration.NewMigrator(db, c.Dialect, dir, opts...)
	if err != nil {
		return nil, err
	}
	return m.Apply(ctx)
}
