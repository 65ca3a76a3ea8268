package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/cf/identity/internal/devdb"
	"github.com/cf/identity/migration"
	"github.com/cf/identity/migration/review"
	"github.com/cf/identity/storage"
)

const defaultDevPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func migrateUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: identity migrate SUBCOMMAND [flags]

Subcommands:
  diff NAME   plan the next migration file of both dialects from the ent schema
  apply       apply pending migrations (creates a missing PostgreSQL database)
  status      list applied and pending migrations
  validate    check atlas.sum and the applied history
  drift       compare a database with the ent schema
  check       review a schema change as CI does (--report FILE for Markdown)
  schema      print the SQL of the ent schema
  hash        rewrite atlas.sum after an intended edit

Run "identity migrate SUBCOMMAND -h" for the flags of a subcommand.
`)
}

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: migrate needs a subcommand: diff, apply, status, validate, drift, check, schema or hash (run \"identity migrate -h\")", errUsage)
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "-h", "-help", "--help", "help":
		migrateUsage(stdout)
		return flag.ErrHelp
	}
	f, o, err := newMigrateFlags(sub, stdout)
	if err != nil {
		return err
	}
	switch sub {
	case "diff":
		names, err := f.parseInterspersed(args)
		if err != nil {
			return err
		}
		if len(names) != 1 {
			return fmt.Errorf("%w: migrate diff needs one NAME, like add_user_nickname", errUsage)
		}
		return migrateDiff(ctx, *o.dir, *o.dev, names[0], stdout)
	case "check":
		if err := f.parse(args); err != nil {
			return err
		}
		if f.NArg() > 0 {
			return fmt.Errorf("%w: migrate check takes no arguments, got %q", errUsage, f.Args())
		}
		return migrateCheck(ctx, o.check, stdout)
	case "hash":
		if err := f.parse(args); err != nil {
			return err
		}
		if f.NArg() > 0 {
			return fmt.Errorf("%w: migrate hash takes no arguments, got %q", errUsage, f.Args())
		}
		for _, d := range migration.Dialects {
			ld, err := localDir(*o.dir, d)
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
		if err := f.parse(args); err != nil {
			return err
		}
		if f.NArg() > 0 {
			return fmt.Errorf("%w: migrate schema takes no arguments, got %q", errUsage, f.Args())
		}
		db, done, err := devDatabase(ctx, *o.dialect, *o.dev)
		if err != nil {
			return err
		}
		defer done()
		s, err := migration.SchemaSQL(ctx, db, *o.dialect)
		if err != nil {
			return err
		}
		_, err = io.WriteString(stdout, s)
		return err
	}
	// apply, status, validate, drift
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%w: migrate %s takes no arguments, got %q", errUsage, sub, f.Args())
	}
	databaseURL := o.common.databaseURL
	var opts []migration.Option
	if o.allowForeign != nil {
		created, err := storage.CreateDatabase(ctx, databaseURL)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(stderr, "created database %s\n", storage.Redact(databaseURL))
		}
		if *o.allowForeign {
			opts = append(opts, migration.AllowForeignTables())
		}
	}
	return foreignHint(migrateDB(ctx, sub, databaseURL, *o.dir, stdout, opts...))
}

// migrateOptions are the flags of identity migrate SUB; those SUB does
// not take are nil.
type migrateOptions struct {
	common       commonFlags
	dir, dev     *string
	dialect      *string // schema
	allowForeign *bool   // apply
	check        checkOptions
}

// newMigrateFlags returns the flags of identity migrate SUB; help goes to
// w. An unknown SUB is a usage error.
func newMigrateFlags(sub string, w io.Writer) (*flags, *migrateOptions, error) {
	f := newFlags("migrate "+sub, "migrate "+sub+" [flags]", w)
	o := &migrateOptions{}
	dirFlag := func() *string {
		return f.String("dir", "IDENTITY_MIGRATIONS_DIR", "migrations",
			"folder holding the sqlite/ and postgres/ migration directories")
	}
	devFlag := func() *string {
		return f.String("dev-postgres-url", "IDENTITY_DEV_POSTGRES_URL", defaultDevPostgres,
			"PostgreSQL server on which a scratch database is created and dropped for planning")
	}
	switch sub {
	case "diff":
		f.Usage = func() {
			fmt.Fprintf(f.Output(), "Usage: identity migrate diff NAME [flags]\n\nWrites the next migration file of both dialects from the ent schema.\n\nFlags:\n")
			f.PrintDefaults()
		}
		o.dir, o.dev = dirFlag(), devFlag()
	case "check":
		f.Usage = func() {
			fmt.Fprintf(f.Output(), `Usage: identity migrate check [flags]

Reviews a schema change, as CI does. For each dialect: atlas.sum matches the
files; replaying every file on a clean dev database gives the ent schema
(drift); the files added since the base pass the atlas lint analyzers
(destructive, data-dependent and backward-incompatible changes) unless an
allow comment accepts a finding. The GraphQL schema is compared with the
base's: breaking changes fail unless acknowledged in graph/BREAKING.md.
Exit code 1 on any problem; --report writes a Markdown report in any case.

Flags:
`)
			f.PrintDefaults()
		}
		c := &o.check
		c.root, c.pgServer = dirFlag(), devFlag()
		f.stringVar(&c.base, "base", "IDENTITY_REVIEW_BASE", "",
			"git revision to compare with; default: the merge base of HEAD and main (or origin/main). Without git, every file is linted")
		f.stringVar(&c.report, "report", "IDENTITY_REVIEW_REPORT", "", "write the Markdown review report to this file (also when the check fails)")
		f.stringVar(&c.graphql, "graphql-dir", "IDENTITY_GRAPHQL_DIR", "", "folder of the *.graphql schema and BREAKING.md; default: graph/ beside the migrations folder, skipped when missing")
		f.stringVar(&c.dialects, "dialects", "IDENTITY_REVIEW_DIALECTS", strings.Join(migration.Dialects, ","), "comma-separated dialects to check: sqlite3, postgres")
	case "hash":
		o.dir = dirFlag()
	case "schema":
		o.dialect = f.String("dialect", "IDENTITY_SCHEMA_DIALECT", "sqlite3", "dialect of the SQL: sqlite3 or postgres")
		o.dev = devFlag()
	case "apply", "status", "validate", "drift":
		o.common.register(f)
		o.dir = f.String("dir", "IDENTITY_MIGRATIONS_DIR", "",
			"folder holding sqlite/ and postgres/ migration directories; empty uses the migrations built into the binary")
		if sub == "apply" {
			o.allowForeign = migrateFlag(f)
		}
	default:
		return nil, nil, fmt.Errorf("%w: unknown migrate subcommand %q", errUsage, sub)
	}
	return f, o, nil
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

type checkOptions struct {
	root, pgServer        *string
	base, report, graphql string
	dialects              string
}

// migrateCheck runs the review of package review and prints one line per
// check on stdout; the problems are returned as the error (stderr).
func migrateCheck(ctx context.Context, o checkOptions, stdout io.Writer) error {
	var dialects []string
	for _, d := range strings.Split(o.dialects, ",") {
		d = strings.TrimSpace(d)
		if _, err := migration.DirName(d); err != nil {
			return fmt.Errorf("%w: --dialects: unknown dialect %q: want sqlite3 or postgres", errUsage, d)
		}
		dialects = append(dialects, d)
	}
	graphqlDir, graphqlSkipped := o.graphql, ""
	if graphqlDir == "" {
		graphqlDir = filepath.Join(filepath.Dir(filepath.Clean(*o.root)), "graph")
		if st, err := os.Stat(graphqlDir); err != nil || !st.IsDir() {
			graphqlSkipped = fmt.Sprintf("no %s folder beside %s", filepath.ToSlash(graphqlDir), filepath.ToSlash(*o.root))
			graphqlDir = ""
		}
	}
	base := review.FindBase(ctx, *o.root, o.base)
	fmt.Fprintf(stdout, "base: %s\n", baseLine(base))
	rep, err := review.Run(ctx, review.Config{
		MigrationsDir: *o.root,
		Dialects:      dialects,
		GraphQLDir:    graphqlDir,
		Base:          base,
		Checker: review.Checker{Dev: func(ctx context.Context, d string) (*sql.DB, func(), error) {
			return devDatabase(ctx, d, *o.pgServer)
		}},
	})
	if err != nil {
		return err
	}
	if graphqlSkipped != "" {
		rep.GraphQL = &review.GraphQLReport{Path: "graph", Skipped: graphqlSkipped}
	}
	for _, m := range rep.Migrations {
		printDialect(stdout, m)
	}
	if g := rep.GraphQL; g != nil {
		printGraphQL(stdout, g)
	}
	if o.report != "" {
		// The review is posted on the pull request: it is meant to be read
		// and holds no secret.
		if err := os.WriteFile(o.report, []byte(rep.Markdown()), 0o644); err != nil { //nolint:gosec // a public report, see above
			return fmt.Errorf("writing the report: %w", err)
		}
		fmt.Fprintf(stdout, "report: wrote %s\n", o.report)
	}
	problems := rep.Problems()
	if len(problems) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "migrate check failed: %d problem", len(problems))
	if len(problems) > 1 {
		b.WriteString("s")
	}
	for _, p := range problems {
		b.WriteString("\n  - " + strings.ReplaceAll(p, "\n", "\n    "))
	}
	return errors.New(b.String())
}

func baseLine(b review.Base) string {
	if !b.Available() {
		return b.Note
	}
	return fmt.Sprintf("%s (%s)", b.Note, b.Short())
}

func printDialect(w io.Writer, m *review.DialectReport) {
	if m.Err != nil {
		fmt.Fprintf(w, "%s: not checked\n", m.Dialect)
		return
	}
	if m.Sum == nil {
		if m.Drift == nil {
			fmt.Fprintf(w, "%s: atlas.sum valid; replaying %s yields the ent schema\n", m.Dialect, m.Path)
		} else {
			fmt.Fprintf(w, "%s: atlas.sum valid; replaying %s does not yield the ent schema\n", m.Dialect, m.Path)
		}
	}
	if m.Lint != nil {
		failed := len(m.Lint.Failed())
		fmt.Fprintf(w, "%s: lint: %d new file(s), %d finding(s) to fix, %d allowed\n",
			m.Dialect, len(m.Lint.New), failed, len(m.Lint.Findings)-failed)
	}
}

func printGraphQL(w io.Writer, g *review.GraphQLReport) {
	switch {
	case g.Err != nil:
		fmt.Fprintln(w, "graphql: not compared")
	case g.Skipped != "":
		fmt.Fprintf(w, "graphql: not compared: %s\n", g.Skipped)
	default:
		breaking, acked, added, other := g.Counts()
		fmt.Fprintf(w, "graphql: %d breaking change(s) not acknowledged, %d acknowledged, %d addition(s), %d other change(s)\n", breaking, acked, added, other)
	}
}

func migrateDB(ctx context.Context, sub, databaseURL, root string, stdout io.Writer, opts ...migration.Option) error {
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
	m, err := migration.NewMigrator(db, cfg.Dialect, dir, opts...)
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
