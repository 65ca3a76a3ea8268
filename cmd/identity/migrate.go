package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/cf/identity/internal/devdb"
	"github.com/cf/identity/migration"
	"github.com/cf/identity/storage"
)

const defaultDevPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: migrate needs a subcommand: diff, apply, status, validate, drift, check, schema or hash", errUsage)
	}
	sub, args := args[0], args[1:]
	fs := flagSet("migrate "+sub, "migrate "+sub+" [flags]", stderr)
	var c commonFlags
	dirFlag := func() *string {
		return fs.String("dir", env("IDENTITY_MIGRATIONS_DIR", "migrations"),
			"folder holding the sqlite/ and postgres/ migration directories (env IDENTITY_MIGRATIONS_DIR)")
	}
	devFlag := func() *string {
		return fs.String("dev-postgres-url", env("IDENTITY_DEV_POSTGRES_URL", defaultDevPostgres),
			"PostgreSQL server on which a scratch database is created and dropped for planning (env IDENTITY_DEV_POSTGRES_URL)")
	}
	switch sub {
	case "diff":
		fs.Usage = func() {
			fmt.Fprintf(stderr, "Usage: identity migrate diff NAME [flags]\n\nWrites the next migration file of both dialects from the ent schema.\n\nFlags:\n")
			fs.PrintDefaults()
		}
		dir, dev := dirFlag(), devFlag()
		if err := parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: migrate diff needs one NAME, like add_user_nickname", errUsage)
		}
		return migrateDiff(ctx, *dir, *dev, fs.Arg(0), stdout)
	case "check":
		dir, dev := dirFlag(), devFlag()
		if err := parse(fs, args); err != nil {
			return err
		}
		return migrateCheck(ctx, *dir, *dev, stdout)
	case "hash":
		dir := dirFlag()
		if err := parse(fs, args); err != nil {
			return err
		}
		for _, d := range migration.Dialects {
			ld, err := localDir(*dir, d)
			if err != nil {
				return err
			}
			if err := migration.Rehash(ld); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "rewrote %s\n", filepath.Join(ld.Path(), migrate.HashFileName))
		}
		return nil
	case "schema":
		d := fs.String("dialect", "sqlite3", "dialect of the SQL: sqlite3 or postgres")
		dev := devFlag()
		if err := parse(fs, args); err != nil {
			return err
		}
		db, done, err := devDatabase(ctx, *d, *dev)
		if err != nil {
			return err
		}
		defer done()
		s, err := migration.SchemaSQL(ctx, db, *d)
		if err != nil {
			return err
		}
		_, err = io.WriteString(stdout, s)
		return err
	case "apply", "status", "validate", "drift":
		c.register(fs)
		dir := fs.String("dir", env("IDENTITY_MIGRATIONS_DIR", ""),
			"folder holding sqlite/ and postgres/ migration directories; empty uses the migrations built into the binary (env IDENTITY_MIGRATIONS_DIR)")
		if err := parse(fs, args); err != nil {
			return err
		}
		return migrateDB(ctx, sub, c.databaseURL, *dir, stdout)
	default:
		return fmt.Errorf("%w: unknown migrate subcommand %q", errUsage, sub)
	}
}

func localDir(root, d string) (*migrate.LocalDir, error) {
	name, err := migration.DirName(d)
	if err != nil {
		return nil, err
	}
	ld, err := migrate.NewLocalDir(filepath.Join(root, name))
	if err != nil {
		return nil, fmt.Errorf("opening migration directory: %w", err)
	}
	return ld, nil
}

// devDatabase returns an empty database of dialect d for planning.
func devDatabase(ctx context.Context, d, pgServer string) (*sql.DB, func(), error) {
	switch d {
	case dialect.SQLite:
		db, err := devdb.SQLite(ctx)
		if err != nil {
			return nil, nil, err
		}
		return db, func() { db.Close() }, nil
	case dialect.Postgres:
		db, _, drop, err := devdb.Postgres(ctx, pgServer, "cf_identity_dev")
		if err != nil {
			return nil, nil, fmt.Errorf("creating a scratch PostgreSQL database (set --dev-postgres-url): %w", err)
		}
		return db, func() { _ = drop() }, nil
	}
	return nil, nil, fmt.Errorf("%w: unknown dialect %q: want sqlite3 or postgres", errUsage, d)
}

func migrateDiff(ctx context.Context, root, pgServer, name string, stdout io.Writer) error {
	for _, d := range migration.Dialects {
		ld, err := localDir(root, d)
		if err != nil {
			return err
		}
		db, done, err := devDatabase(ctx, d, pgServer)
		if err != nil {
			return err
		}
		file, err := migration.Plan(ctx, db, d, ld, name)
		done()
		if err != nil {
			return err
		}
		if file == "" {
			fmt.Fprintf(stdout, "%s: no changes\n", d)
			continue
		}
		fmt.Fprintf(stdout, "%s: wrote %s\n", d, filepath.Join(ld.Path(), file))
	}
	return nil
}

func migrateCheck(ctx context.Context, root, pgServer string, stdout io.Writer) error {
	var errs []error
	for _, d := range migration.Dialects {
		ld, err := localDir(root, d)
		if err != nil {
			return err
		}
		db, done, err := devDatabase(ctx, d, pgServer)
		if err != nil {
			return err
		}
		err = migration.CheckDir(ctx, db, d, ld)
		done()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: atlas.sum valid; replaying %s yields the ent schema\n", d, ld.Path())
	}
	return errors.Join(errs...)
}

func migrateDB(ctx context.Context, sub, databaseURL, root string, stdout io.Writer) error {
	db, cfg, err := storage.OpenDB(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.Dialect == dialect.SQLite {
		db.SetMaxOpenConns(1)
	}
	var dir migrate.Dir
	if root == "" {
		dir, err = embeddedDir(cfg.Dialect)
	} else {
		dir, err = localDir(root, cfg.Dialect)
	}
	if err != nil {
		return err
	}
	m, err := migration.NewMigrator(db, cfg.Dialect, dir)
	if err != nil {
		return err
	}
	switch sub {
	case "apply":
		applied, err := m.Apply(ctx)
		for _, a := range applied {
			fmt.Fprintf(stdout, "applied %s %s (%d statements, %s)\n", a.Version, a.Description, a.Statements, a.Took.Round(1e6))
		}
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintln(stdout, "database is up to date")
		}
	case "status":
		s, err := m.Status(ctx)
		if err != nil {
			return err
		}
		cur := s.Current
		if cur == "" {
			cur = "none"
		}
		fmt.Fprintf(stdout, "database: %s\ncurrent version: %s\napplied: %d\npending: %d\n", cfg.Redacted, cur, len(s.Applied), len(s.Pending))
		for _, p := range s.Pending {
			fmt.Fprintf(stdout, "  pending %s\n", p)
		}
	case "validate":
		if err := m.Validate(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "migration directory matches atlas.sum; applied history matches the files")
	case "drift":
		if err := m.Drift(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "database matches the ent schema")
	}
	return nil
}
