package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/cf/identity/migration"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/storage"
	"github.com/cf/identity/validation"
)

// migrateFlag registers --migrate: create the tables of cf identity in a
// database that is not ours.
func migrateFlag(f *flags) *bool {
	return f.Bool("migrate", "IDENTITY_MIGRATE", false,
		"also create the tables of cf identity in a database that holds tables of another application (and no cf_schema_revisions), or in PostgreSQL's maintenance database")
}

// foreignHint adds to a *migration.ForeignDatabaseError how to go on.
func foreignHint(err error) error {
	if errors.Is(err, migration.ErrForeignDatabase) {
		return fmt.Errorf("%w; name a database of its own (a missing PostgreSQL database is created), or pass --migrate (IDENTITY_MIGRATE=true) to create the tables in this one", err)
	}
	return err
}

// prepareDatabase creates the PostgreSQL database of databaseURL when
// missing, calling created, then applies the embedded migrations.
func prepareDatabase(ctx context.Context, databaseURL string, allowForeign bool, created func()) ([]migration.Applied, error) {
	made, err := storage.CreateDatabase(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	if made {
		created()
	}
	applied, err := migrations.ApplyWith(ctx, databaseURL, migrations.ApplyOptions{AllowForeignTables: allowForeign})
	return applied, foreignHint(err)
}

// emailFlags are the email rules of package validation.
type emailFlags struct {
	mixedScripts, ipLiterals *bool
}

func (e *emailFlags) register(f *flags) {
	e.mixedScripts = f.Bool("email-allow-mixed-scripts", "IDENTITY_EMAIL_ALLOW_MIXED_SCRIPTS", false,
		"accept email addresses whose local part or a domain label mixes Unicode scripts (like a Cyrillic о among Latin letters)")
	e.ipLiterals = f.Bool("email-allow-ip-literals", "IDENTITY_EMAIL_ALLOW_IP_LITERALS", false,
		"accept email addresses whose domain is an IP address, like user@[127.0.0.1]")
}

func (e *emailFlags) apply() {
	validation.SetEmailRules(validation.EmailRules{AllowMixedScripts: *e.mixedScripts, AllowIPLiterals: *e.ipLiterals})
}
