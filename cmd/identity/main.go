// Command identity runs and maintains the cf identity service.
//
//	identity serve                 serve the GraphQL admin API
//	identity bootstrap --email E   create a platform superadmin and print an API key
//	identity migrate SUBCOMMAND    plan, apply and check schema migrations
//
// Every flag can also be set through the environment variable named in its
// help; a flag on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const defaultDatabaseURL = "sqlite://identity.db"

// errUsage marks errors caused by how the command was called (exit code 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serveCmd(ctx, args[1:], stdout, stderr)
	case "bootstrap":
		err = bootstrapCmd(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = migrateCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "identity: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "identity: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "identity: %v\n", err)
		return 1
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `identity runs the cf identity service: the identity and access model of a
multi-tenant SaaS, served as a GraphQL admin API.

Usage:
  identity serve [flags]              serve /graphql, GraphiQL at /, /healthz, /readyz
  identity bootstrap --email E        create or promote a platform superadmin and
                                      print a new personal API key on stdout
  identity migrate diff NAME          plan the next migration for both dialects
  identity migrate apply              apply pending migrations
  identity migrate status             list applied and pending migrations
  identity migrate validate           check atlas.sum and the applied history
  identity migrate drift              compare a database with the ent schema
  identity migrate check              review a schema change (CI): atlas.sum, drift
                                      on both dialects, lint of new migration files,
                                      GraphQL breaking changes; --report FILE writes
                                      a Markdown review
  identity migrate schema             print the SQL of the ent schema
  identity migrate hash               rewrite atlas.sum after an intended edit

Run "identity COMMAND -h" for the flags of a command.
`)
}

// flagSet returns a FlagSet whose usage lists each flag with its variable.
func flagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: identity %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// env returns the value of the environment variable name, or def.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

type commonFlags struct {
	databaseURL string
	logFormat   string
	logLevel    string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.databaseURL, "database-url", env("IDENTITY_DATABASE_URL", defaultDatabaseURL),
		"database to use: sqlite://PATH (file created if missing) or postgres://USER:PASS@HOST:PORT/DB (env IDENTITY_DATABASE_URL)")
	fs.StringVar(&c.logFormat, "log-format", env("IDENTITY_LOG_FORMAT", "text"),
		"log format on stderr: text or json (env IDENTITY_LOG_FORMAT)")
	fs.StringVar(&c.logLevel, "log-level", env("IDENTITY_LOG_LEVEL", "info"),
		"lowest log level: debug, info, warn or error (env IDENTITY_LOG_LEVEL)")
}

func (c *commonFlags) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(c.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want text or json", errUsage, c.logFormat)
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}
