package migration

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/postgres"
	"ariga.io/atlas/sql/schema"
	"ariga.io/atlas/sql/sqlite"
	"entgo.io/ent/dialect"
	entschema "entgo.io/ent/dialect/sql/schema"

	entmigrate "github.com/cf/identity/ent/migrate"
)

// RevisionTable is the table in which applied migrations are recorded.
const RevisionTable = "cf_schema_revisions"

// Migrator applies a migration directory to one database.
type Migrator struct {
	db      *sql.DB
	dialect string
	dir     migrate.Dir
	schema  string // PostgreSQL schema holding the revision table
	// allowForeign lets Apply migrate a database that is not ours.
	allowForeign bool
}

// NewMigrator returns a Migrator of dir for db, a database of dialect d.
// For SQLite, db should allow a single open connection: foreign-key checks
// are switched off around each migration transaction, per connection.
func NewMigrator(db *sql.DB, d string, dir migrate.Dir, opts ...Option) (*Migrator, error) {
	if _, err := DirName(d); err != nil {
		return nil, err
	}
	if db == nil || dir == nil {
		return nil, errors.New("migration: NewMigrator needs a database and a directory")
	}
	m := &Migrator{db: db, dialect: d, dir: dir}
	for _, o := range opts {
		o(m)
	}
	return m, nil
}

// ApplyError reports the migration file that failed. Its transaction was
// rolled back: nothing of the file is left in the database.
type ApplyError struct {
	Version string
	File    string
	Err     error
}

func (e *ApplyError) Error() string {
	return fmt.Sprintf("migration: applying %s failed and was rolled back: %v", e.File, e.Err)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Applied describes one migration applied by Apply.
type Applied struct {
	Version     string
	Description string
	Statements  int
	Took        time.Duration
}

// Apply applies every pending migration file in order, each in its own
// transaction, and returns what it applied (nothing when the database is up
// to date). A directory that does not match its atlas.sum applies nothing.
// A database that is not ours (see CheckOwned) applies nothing and returns
// a *ForeignDatabaseError, unless the option AllowForeignTables is given.
func (m *Migrator) Apply(ctx context.Context) ([]Applied, error) {
	if err := ValidateDir(m.dir); err != nil {
		return nil, err
	}
	if !m.allowForeign {
		if err := m.CheckOwned(ctx); err != nil {
			return nil, err
		}
	}
	if err := m.ensureRevisionTable(ctx); err != nil {
		return nil, err
	}
	unlock, err := m.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	pending, err := m.pending(ctx)
	if err != nil {
		return nil, err
	}
	var done []Applied
	for _, f := range pending {
		start := time.Now()
		n, err := m.applyFile(ctx, f)
		if err != nil {
			return done, &ApplyError{Version: f.Version(), File: f.Name(), Err: err}
		}
		done = append(done, Applied{Version: f.Version(), Description: f.Desc(), Statements: n, Took: time.Since(start)})
	}
	return done, nil
}

func (m *Migrator) pending(ctx context.Context) ([]migrate.File, error) {
	drv, err := atlasDriver(m.dialect, m.db)
	if err != nil {
		return nil, err
	}
	ex, err := migrate.NewExecutor(drv, m.dir, m.revisions(m.db), migrate.WithAllowDirty(m.allowForeign))
	if err != nil {
		return nil, fmt.Errorf("migration: %w", err)
	}
	files, err := ex.Pending(ctx)
	switch {
	case errors.Is(err, migrate.ErrNoPendingFiles):
		return nil, nil
	case err != nil:
		var nc *migrate.NotCleanError
		if errors.As(err, &nc) {
			return nil, fmt.Errorf("migration: the database has tables but no %s history (%s); apply to an empty database", RevisionTable, nc.Reason)
		}
		return nil, fmt.Errorf("migration: %w", err)
	}
	return files, nil
}

type txer interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	Commit() error
	Rollback() error
}

func (m *Migrator) begin(ctx context.Context) (txer, error) {
	if m.dialect == dialect.SQLite {
		return sqlite.OpenTx(ctx, m.db, nil)
	}
	return m.db.BeginTx(ctx, nil)
}

func (m *Migrator) applyFile(ctx context.Context, f migrate.File) (int, error) {
	tx, err := m.begin(ctx)
	if err != nil {
		return 0, err
	}
	drv, err := atlasDriver(m.dialect, tx)
	if err != nil {
		_ = tx.Rollback()
		return 0, err
	}
	ex, err := migrate.NewExecutor(drv, m.dir, m.revisions(tx),
		migrate.WithOperatorVersion("cf-identity"), migrate.WithAllowDirty(true))
	if err != nil {
		_ = tx.Rollback()
		return 0, err
	}
	if err := ex.Execute(ctx, f); err != nil {
		_ = tx.Rollback()
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	stmts, _ := f.Stmts()
	return len(stmts), nil
}

func (m *Migrator) lock(ctx context.Context) (func(), error) {
	if m.dialect != dialect.Postgres {
		return func() {}, nil
	}
	drv, err := atlasDriver(m.dialect, m.db)
	if err != nil {
		return nil, err
	}
	l, ok := drv.(schema.Locker)
	if !ok {
		return func() {}, nil
	}
	unlock, err := l.Lock(ctx, "cf_identity_migrate", time.Minute)
	if err != nil {
		return nil, fmt.Errorf("migration: another migration holds the lock: %w", err)
	}
	return func() { _ = unlock() }, nil
}

// Status describes the migration state of a database.
type Status struct {
	// Current is the version of the last applied file, "" when none.
	Current string
	// Applied lists applied versions, oldest first.
	Applied []string
	// Pending lists files not yet applied, in order.
	Pending []string
}

// Status reports which files are applied and which are pending.
func (m *Migrator) Status(ctx context.Context) (*Status, error) {
	if err := ValidateDir(m.dir); err != nil {
		return nil, err
	}
	if err := m.ensureRevisionTable(ctx); err != nil {
		return nil, err
	}
	revs, err := m.revisions(m.db).ReadRevisions(ctx)
	if err != nil {
		return nil, err
	}
	s := &Status{}
	for _, r := range revs {
		s.Applied = append(s.Applied, r.Version)
		s.Current = r.Version
	}
	pending, err := m.pending(ctx)
	if err != nil {
		return nil, err
	}
	for _, f := range pending {
		s.Pending = append(s.Pending, f.Name())
	}
	return s, nil
}

// Validate checks the directory against its atlas.sum and every applied
// revision against the file it came from: an applied file that was edited
// since returns an error wrapping ErrHistoryChanged.
func (m *Migrator) Validate(ctx context.Context) error {
	if err := ValidateDir(m.dir); err != nil {
		return err
	}
	if err := m.ensureRevisionTable(ctx); err != nil {
		return err
	}
	revs, err := m.revisions(m.db).ReadRevisions(ctx)
	if err != nil {
		return err
	}
	sum, err := m.dir.Checksum()
	if err != nil {
		return fmt.Errorf("migration: hashing directory: %w", err)
	}
	files, err := m.dir.Files()
	if err != nil {
		return err
	}
	byVersion := map[string]migrate.File{}
	for _, f := range files {
		byVersion[f.Version()] = f
	}
	for _, r := range revs {
		f, ok := byVersion[r.Version]
		if !ok {
			return fmt.Errorf("%w: version %s is applied but its file is missing", ErrHistoryChanged, r.Version)
		}
		h, err := sum.SumByName(f.Name())
		if err != nil {
			return err
		}
		if h != r.Hash {
			return fmt.Errorf("%w: %s was edited after it was applied", ErrHistoryChanged, f.Name())
		}
	}
	return nil
}

// Drift compares the database with the ent schema and returns a *DriftError
// holding the SQL that is missing, or nil when they match.
func (m *Migrator) Drift(ctx context.Context) error {
	mem := migrate.OpenMemDir(fmt.Sprintf("cf-drift-%p", m))
	defer mem.Close()
	if err := migrate.WriteSumFile(mem, migrate.HashFile{}); err != nil {
		return err
	}
	var opts []entschema.MigrateOption
	if m.dialect == dialect.Postgres {
		// The inspected database holds expressions as PostgreSQL rewrote
		// them (an index predicate scope = 'system' reads back as
		// ((scope)::text = 'system'::text)); compare it with the ent schema
		// rewritten the same way, or every such index reads as drift.
		opts = append(opts, entschema.WithDiffHook(func(next entschema.Differ) entschema.Differ {
			return entschema.DiffFunc(func(current, desired *schema.Schema) ([]schema.Change, error) {
				n, err := normalizePostgres(ctx, m.db, desired)
				if err != nil {
					return nil, fmt.Errorf("migration: normalizing the ent schema: %w", err)
				}
				return next.Diff(current, n)
			})
		}))
	}
	a, err := entMigrate(m.db, m.dialect, mem, entschema.ModeInspect, opts...)
	if err != nil {
		return err
	}
	if err := a.NamedDiff(ctx, "drift", entmigrate.Tables...); err != nil {
		return fmt.Errorf("migration: comparing %s database: %w", m.dialect, err)
	}
	return driftFrom(mem, nil, m.dialect, "database")
}

// normalizePostgres returns desired as PostgreSQL stores it: it creates its
// tables in a scratch schema, inside a transaction that is rolled back, and
// inspects them.
func normalizePostgres(ctx context.Context, db *sql.DB, desired *schema.Schema) (*schema.Schema, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	var b [6]byte
	_, _ = rand.Read(b[:])
	scratch := "cf_drift_" + hex.EncodeToString(b[:])
	if _, err := tx.ExecContext(ctx, "CREATE SCHEMA "+scratch); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, "SET LOCAL search_path TO "+scratch); err != nil {
		return nil, err
	}
	drv, err := postgres.Open(tx)
	if err != nil {
		return nil, err
	}
	changes := make([]schema.Change, 0, len(desired.Tables))
	for _, t := range desired.Tables {
		changes = append(changes, &schema.AddTable{T: t})
	}
	if err := drv.ApplyChanges(ctx, changes, func(o *migrate.PlanOptions) {
		noQualifier := ""
		o.SchemaQualifier = &noQualifier
		o.Mode = migrate.PlanModeInPlace
	}); err != nil {
		return nil, err
	}
	n, err := drv.InspectSchema(ctx, "", nil)
	if err != nil {
		return nil, err
	}
	n.Name, n.Attrs = desired.Name, desired.Attrs
	return n, nil
}
