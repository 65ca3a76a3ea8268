package main

import (
	"context"
	"database/sql"
	"errors"
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
		fs.Usage = func() {
			fmt.Fprintf(stderr, `Usage: identity migrate check [flags]

Reviews a schema change, as CI does. For each dialect: atlas.sum matches the
files; replaying every file on a clean dev database gives the ent schema
(drift); the files added since the base pass the atlas lint analyzers
(destructive, data-dependent and backward-incompatible changes) unless an
allow comment accepts a finding. The GraphQL schema is compared with the
base's: breaking changes fail unless acknowledged in graph/BREAKING.md.
Exit code 1 on any problem; --report writes a Markdown report in any case.

Flags:
`)
			fs.PrintDefaults()
		}
		var o checkOptions
		o.root, o.pgServer = dirFlag(), devFlag()
		fs.StringVar(&o.base, "base", env("IDENTITY_REVIEW_BASE", ""),
			"git revision to compare with; default: the merge base of HEAD and main (or origin/main). Without git, every file is linted (env IDENTITY_REVIEW_BASE)")
		fs.StringVar(&o.report, "report", "", "write the Markdown review report to this file (also when the check fails)")
		fs.StringVar(&o.graphql, "graphql-dir", "", "folder of the *.graphql schema and BREAKING.md; default: graph/ beside the migrations folder, skipped when missing")
		fs.StringVar(&o.dialects, "dialects", strings.Join(migration.Dialects, ","), "comma-separated dialects to check: sqlite3, postgres")
		if err := parse(fs, args); err != nil {
			return err
		}
		return migrateCheck(ctx, o, stdout)
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
		if err := os.WriteFile(o.report, []byte(rep.Markdown()), 0o644); err != nil {
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
