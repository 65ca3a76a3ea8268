package main

import (
	"context"
	"fmt"
	"io"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/storage"
)

// dbRoleOptions are the flags of identity db create-role.
type dbRoleOptions struct {
	common    commonFlags
	name      *string
	fromStdin *bool
}

// newDBRoleFlags returns the flags of identity db create-role; help goes
// to w.
func newDBRoleFlags(w io.Writer) (*flags, *dbRoleOptions) {
	f := newFlags("db create-role", "db create-role --database-url postgres://OWNER@HOST/DB [--name ROLE] [--password-stdin]", w)
	o := &dbRoleOptions{}
	o.common.register(f)
	o.name = f.String("name", "IDENTITY_DB_ROLE", "identity_app", "the PostgreSQL role the server connects as: created when missing, granted what it needs on the cf_ tables")
	o.fromStdin = f.Bool("password-stdin", "IDENTITY_DB_ROLE_PASSWORD_STDIN", false, "read the role's password from the first line of stdin (without it, a new role has no password: trust or certificate authentication)")
	return f, o
}

// dbCmd runs identity db create-role: the application role of the second
// tenant boundary (storage.CreateAppRole), on a migrated PostgreSQL
// database, connected as the tables' owner.
func dbCmd(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create-role" {
		return fmt.Errorf("%w: want identity db create-role --database-url postgres://OWNER@HOST/DB [--name ROLE] [--password-stdin]", errUsage)
	}
	f, o := newDBRoleFlags(stdout)
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%w: db create-role takes no arguments, got %q", errUsage, f.Args())
	}
	cfg, err := storage.ParseURL(o.common.databaseURL)
	if err != nil {
		return err
	}
	if cfg.Dialect != dialect.Postgres {
		return fmt.Errorf("%w: db create-role needs a PostgreSQL --database-url (SQLite has no roles nor row-level security)", errUsage)
	}
	var password string
	if *o.fromStdin {
		if password, err = readPassword(stdin); err != nil {
			return err
		}
	}
	db, _, err := storage.OpenDB(ctx, o.common.databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := storage.CreateAppRole(ctx, db, *o.name, password); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "role %s may connect to %s: row-level security applies to it (not a superuser, no BYPASSRLS, owns nothing); serve with --database-url naming it\n", *o.name, cfg.Redacted)
	return nil
}
