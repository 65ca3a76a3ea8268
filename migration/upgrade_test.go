package migration_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"

	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/migration"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/storage"
)

// TestUpgradeSafety upgrades a database version by version through the
// committed migrations, with rows in every table at each version: no row may
// be lost, and the final schema must have no drift.
func TestUpgradeSafety(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		dir, err := migrations.Dir(target.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		files, err := dir.Files()
		if err != nil {
			t.Fatal(err)
		}
		if err := upgradeStepByStep(t, target, files); err != nil {
			t.Errorf("Drift after the last version: %v", err)
		}
	})
}

// TestUpgradeSafetyFixture runs the same upgrade on the committed
// migrations plus the files of testdata/upgrade (a later version adding a
// nullable column), so that the version-by-version path runs over more than
// one file whatever the committed directory holds. The extra column is not
// in the ent schema: Drift must name it, and nothing else.
func TestUpgradeSafetyFixture(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		dir, err := migrations.Dir(target.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		files, err := dir.Files()
		if err != nil {
			t.Fatal(err)
		}
		name, _ := migration.DirName(target.Dialect)
		extra, err := migrate.NewLocalDir(filepath.Join("testdata", "upgrade", name))
		if err != nil {
			t.Fatal(err)
		}
		more, err := extra.Files()
		if err != nil || len(more) == 0 {
			t.Fatalf("no fixture files in testdata/upgrade/%s: %v", name, err)
		}
		files = append(files, more...)
		err = upgradeStepByStep(t, target, files)
		var de *migration.DriftError
		if !errors.As(err, &de) {
			t.Fatalf("Drift = %v, want a *DriftError about the fixture's column", err)
		}
		// PostgreSQL drops the column; SQLite rebuilds cf_users without it.
		// Either way, only cf_users may be touched.
		names := regexp.MustCompile("(?:TABLE|ON) [`\"]([a-z_]+)[`\"]").FindAllStringSubmatch(de.SQL, -1)
		if len(names) == 0 {
			t.Errorf("drift SQL names no table:\n%s", de.SQL)
		}
		for _, n := range names {
			if n[1] != "cf_users" && n[1] != "new_cf_users" {
				t.Errorf("drift SQL touches %s, want only cf_users:\n%s", n[1], de.SQL)
			}
		}
		if target.Dialect == dialect.Postgres && !strings.Contains(de.SQL, `DROP COLUMN "nickname"`) {
			t.Errorf("drift SQL does not drop nickname:\n%s", de.SQL)
		}
	})
}

// upgradeStepByStep applies files one at a time to the empty database of
// target (each time through a Migrator of the directory cut after the next
// file), inserts a row in every cf_ table after each version, checks that
// every row inserted so far survives each later version, and returns the
// Drift of the final database.
func upgradeStepByStep(t *testing.T, target testdb.Target, files []migrate.File) error {
	t.Helper()
	ctx := context.Background()
	db, _, err := storage.OpenDB(ctx, target.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if target.Dialect == dialect.SQLite {
		db.SetMaxOpenConns(1)
	}
	var (
		m        *migration.Migrator
		inserted []upgRow
	)
	for k := range files {
		dir := &migrate.MemDir{}
		for _, f := range files[:k+1] {
			if err := dir.WriteFile(f.Name(), f.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		if err := migration.Rehash(dir); err != nil {
			t.Fatal(err)
		}
		if m, err = migration.NewMigrator(db, target.Dialect, dir); err != nil {
			t.Fatal(err)
		}
		before := upgCounts(t, db, target.Dialect)
		applied, err := m.Apply(ctx)
		if err != nil {
			t.Fatalf("applying %s over %d rows: %v", files[k].Name(), len(inserted), err)
		}
		if len(applied) != 1 || applied[0].Version != files[k].Version() {
			t.Fatalf("Apply at version %d applied %+v, want only %s", k+1, applied, files[k].Name())
		}
		after := upgCounts(t, db, target.Dialect)
		for table, n := range before {
			if got, ok := after[table]; !ok || got < n {
				t.Errorf("%s: table %s had %d rows before, %d after (exists: %v)", files[k].Name(), table, n, got, ok)
			}
		}
		for _, r := range inserted {
			if !r.exists(t, db, target.Dialect) {
				t.Errorf("%s lost the row %s inserted at version %d", files[k].Name(), r, r.version)
			}
		}
		inserted = append(inserted, upgInsertEverywhere(t, db, target.Dialect, k+1)...)
	}
	if len(inserted) == 0 {
		t.Fatal("no row was inserted")
	}
	t.Logf("%d versions, %d rows inserted along the way", len(files), len(inserted))
	return m.Drift(ctx)
}

type upgRow struct {
	table   string
	version int
	pk      []string
	vals    []any
}

func (r upgRow) String() string { return fmt.Sprintf("%s%v", r.table, r.vals) }

func upgPh(d string, n int) string {
	if d == dialect.Postgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}

func (r upgRow) exists(t *testing.T, db *sql.DB, d string) bool {
	t.Helper()
	conds := make([]string, len(r.pk))
	for i, c := range r.pk {
		conds[i] = fmt.Sprintf("%q = %s", c, upgPh(d, i+1))
	}
	var n int
	q := fmt.Sprintf("SELECT count(*) FROM %q WHERE %s", r.table, strings.Join(conds, " AND "))
	if err := db.QueryRow(q, r.vals...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n == 1
}

func upgInspect(t *testing.T, db *sql.DB, d string) *schema.Schema {
	t.Helper()
	var (
		drv migrate.Driver
		err error
	)
	if d == dialect.Postgres {
		drv, err = postgres.Open(db)
	} else {
		drv, err = sqlite.Open(db)
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := drv.InspectSchema(context.Background(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// upgTables returns the cf_ tables of the database, parents before the
// tables whose NOT NULL foreign keys reference them.
func upgTables(t *testing.T, s *schema.Schema) []*schema.Table {
	t.Helper()
	var tables []*schema.Table
	for _, tb := range s.Tables {
		if strings.HasPrefix(tb.Name, "cf_") && tb.Name != migration.RevisionTable {
			tables = append(tables, tb)
		}
	}
	sort.Slice(tables, func(i, j int) bool { return tables[i].Name < tables[j].Name })
	var (
		out  []*schema.Table
		done = map[string]bool{}
	)
	for len(out) < len(tables) {
		progress := false
		for _, tb := range tables {
			if done[tb.Name] {
				continue
			}
			ready := true
			for _, fk := range tb.ForeignKeys {
				if fk.RefTable != nil && fk.RefTable.Name != tb.Name && !done[fk.RefTable.Name] && upgRequired(fk) {
					ready = false
				}
			}
			if ready {
				out = append(out, tb)
				done[tb.Name] = true
				progress = true
			}
		}
		if !progress {
			t.Fatalf("cycle of NOT NULL foreign keys among %v", tables)
		}
	}
	return out
}

func upgRequired(fk *schema.ForeignKey) bool {
	for _, c := range fk.Columns {
		if !c.Type.Null {
			return true
		}
	}
	return false
}

func upgCounts(t *testing.T, db *sql.DB, d string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, tb := range upgTables(t, upgInspect(t, db, d)) {
		var n int
		if err := db.QueryRow(fmt.Sprintf("SELECT count(*) FROM %q", tb.Name)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		counts[tb.Name] = n
	}
	return counts
}

// upgInsertEverywhere inserts one row in every cf_ table, with a value in
// every column: unique per version and table, within the column's size, and
// referencing a row of the same version (or, for a table referencing
// itself, of an earlier one) through foreign keys.
func upgInsertEverywhere(t *testing.T, db *sql.DB, d string, version int) []upgRow {
	t.Helper()
	var (
		rows   []upgRow
		pkOf   = map[string]map[string]any{} // table → column → value of this version's row
		tables = upgTables(t, upgInspect(t, db, d))
	)
	for ti, tb := range tables {
		vals := map[string]any{}
		fkOf := map[string]*schema.ForeignKey{}
		for _, fk := range tb.ForeignKeys {
			for _, c := range fk.Columns {
				fkOf[c.Name] = fk
			}
		}
		var (
			cols []string
			args []any
		)
		for ci, c := range tb.Columns {
			var v any
			if fk, ok := fkOf[c.Name]; ok {
				v = upgRef(t, db, d, fk, c, pkOf)
			} else {
				v = upgValue(c, version, ti, ci)
			}
			vals[c.Name] = v
			cols = append(cols, fmt.Sprintf("%q", c.Name))
			args = append(args, v)
		}
		phs := make([]string, len(args))
		for i := range phs {
			phs[i] = upgPh(d, i+1)
		}
		q := fmt.Sprintf("INSERT INTO %q (%s) VALUES (%s)", tb.Name, strings.Join(cols, ", "), strings.Join(phs, ", "))
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("version %d: %s %v: %v", version, q, args, err)
		}
		pkOf[tb.Name] = vals
		if tb.PrimaryKey == nil {
			continue
		}
		r := upgRow{table: tb.Name, version: version}
		for _, p := range tb.PrimaryKey.Parts {
			r.pk = append(r.pk, p.C.Name)
			r.vals = append(r.vals, vals[p.C.Name])
		}
		rows = append(rows, r)
	}
	return rows
}

// upgRef returns the value of column c, part of foreign key fk: the
// referenced column of this version's row of the referenced table, else of
// any existing row, else NULL.
func upgRef(t *testing.T, db *sql.DB, d string, fk *schema.ForeignKey, c *schema.Column, pkOf map[string]map[string]any) any {
	t.Helper()
	ref := fk.RefColumns[0].Name
	for i, fc := range fk.Columns {
		if fc.Name == c.Name {
			ref = fk.RefColumns[i].Name
		}
	}
	if row, ok := pkOf[fk.RefTable.Name]; ok {
		return row[ref]
	}
	var v any
	err := db.QueryRow(fmt.Sprintf("SELECT %q FROM %q ORDER BY %q LIMIT 1", ref, fk.RefTable.Name, ref)).Scan(&v)
	switch {
	case err == nil:
		return v
	case errors.Is(err, sql.ErrNoRows) && c.Type.Null:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		t.Fatalf("%s references %s, which has no row yet", c.Name, fk.RefTable.Name)
	default:
		t.Fatal(err)
	}
	return nil
}

// upgValue returns a value for column c, unique per version and table.
func upgValue(c *schema.Column, version, table, column int) any {
	tag := fmt.Sprintf("v%dt%dc%d", version, table, column)
	switch ct := c.Type.Type.(type) {
	case *schema.StringType:
		if ct.Size > 0 && len(tag) > ct.Size {
			return tag[len(tag)-ct.Size:]
		}
		return tag
	case *schema.IntegerType, *schema.DecimalType, *schema.FloatType:
		return version
	case *schema.BoolType:
		return true
	case *schema.TimeType:
		return time.Date(2026, 1, version, 12, 0, 0, 0, time.UTC)
	case *schema.JSONType:
		return `["` + tag + `"]`
	case *schema.BinaryType:
		return []byte(tag)
	case *schema.UUIDType:
		return fmt.Sprintf("00000000-0000-0000-%04d-%012d", table, version)
	case *schema.EnumType:
		return ct.Values[0]
	}
	if c.Type.Null {
		return nil
	}
	return tag
}
