package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ErrPrivilegedRole is returned by CreateAppRole for an existing role that
// is a superuser or has BYPASSRLS: row-level security would not apply to
// it.
var ErrPrivilegedRole = errors.New("storage: the role bypasses row-level security (superuser or BYPASSRLS)")

// ErrBadRoleName is returned by CreateAppRole for a name that is not a
// plain lower-case PostgreSQL identifier.
var ErrBadRoleName = errors.New("storage: bad role name; want lower-case letters, digits and _")

var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CreateAppRole creates (or, when it exists, updates the grants of) the
// PostgreSQL role the application connects as, on the database db is
// connected to, which must hold the migrated cf_ tables. db connects as
// their owner (the role that runs the migrations) or a superuser.
//
// The role can log in, with password when it is not empty, and is neither
// a superuser nor BYPASSRLS, and owns nothing: row-level security applies
// to it (it does not to superusers and BYPASSRLS roles, and applies to an
// owner only because the migration FORCEs it, which the owner could turn
// off). It gets SELECT, INSERT, UPDATE and DELETE on the cf_ tables
// (SELECT only on cf_schema_revisions, which the server reads at start),
// the same on tables the connected role creates later (ALTER DEFAULT
// PRIVILEGES), and USAGE on the schema; no CREATE, so it cannot change the
// schema or its policies. An existing role that bypasses row-level
// security is refused with ErrPrivilegedRole.
func CreateAppRole(ctx context.Context, db *sql.DB, name, password string) error {
	if !roleName.MatchString(name) {
		return fmt.Errorf("%w: %q", ErrBadRoleName, name)
	}
	var super, bypass sql.NullBool
	err := db.QueryRowContext(ctx, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", name).Scan(&super, &bypass)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// The name is a checked identifier, quoted; the password a quoted
		// literal: DDL takes no placeholders.
		q := "CREATE ROLE " + quoteIdent(name) + " LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT" //nolint:gosec // G202: see above
		if password != "" {
			q += " PASSWORD " + quoteLiteral(password)
		}
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("storage: creating role %s: %w", name, err)
		}
	case err != nil:
		return fmt.Errorf("storage: looking up role %s: %w", name, err)
	case super.Bool || bypass.Bool:
		return fmt.Errorf("%w: %s", ErrPrivilegedRole, name)
	case password != "":
		if _, err := db.ExecContext(ctx, "ALTER ROLE "+quoteIdent(name)+" PASSWORD "+quoteLiteral(password)); err != nil {
			return fmt.Errorf("storage: setting the password of role %s: %w", name, err)
		}
	}
	tables, err := cfTables(ctx, db)
	if err != nil {
		return err
	}
	if len(tables) == 0 {
		return fmt.Errorf("storage: no cf_ table in the current schema: apply the migrations first (identity migrate apply)")
	}
	var database, schema string
	if err := db.QueryRowContext(ctx, "SELECT current_database(), current_schema()").Scan(&database, &schema); err != nil {
		return fmt.Errorf("storage: reading the current database and schema: %w", err)
	}
	r := quoteIdent(name)
	stmts := []string{
		"GRANT CONNECT ON DATABASE " + quoteIdent(database) + " TO " + r,
		"GRANT USAGE ON SCHEMA " + quoteIdent(schema) + " TO " + r,
		"ALTER DEFAULT PRIVILEGES IN SCHEMA " + quoteIdent(schema) + " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + r,
	}
	for _, t := range tables {
		if t == "cf_schema_revisions" {
			stmts = append(stmts, "GRANT SELECT ON "+quoteIdent(t)+" TO "+r)
			continue
		}
		stmts = append(stmts, "GRANT SELECT, INSERT, UPDATE, DELETE ON "+quoteIdent(t)+" TO "+r)
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("storage: %s: %w", q, err)
		}
	}
	return nil
}

// quoteLiteral quotes a PostgreSQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// cfTables lists the cf_ tables of the current schema.
func cfTables(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'cf\\_%' ORDER BY tablename")
	if err != nil {
		return nil, fmt.Errorf("storage: listing the cf_ tables: %w", err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, fmt.Errorf("storage: listing the cf_ tables: %w", err)
		}
		tables = append(tables, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: listing the cf_ tables: %w", err)
	}
	return tables, nil
}
