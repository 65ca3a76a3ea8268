package main

import (
	"ariga.io/atlas/sql/migrate"

	"github.com/cf/identity/migrations"
)

func embeddedDir(d string) (migrate.Dir, error) { return migrations.Dir(d) }
