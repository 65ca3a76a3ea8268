// Command identity runs and maintains the cf identity service.
//
//	identity serve                 serve the GraphQL admin API
//	identity bootstrap --email E   create a platform superadmin and print an API key
//	identity migrate SUBCOMMAND    plan, apply and check schema migrations
//	identity user create --email E [--password-stdin]   create a user who can sign in
//	identity keys rotate           add a new signing key and re-seal secrets under the current master key
//	identity keys status           count the sealed values per master key
//	identity activity verify       check the hash chains of the activity trail (or an export)
//	identity activity export       write an organization's trail as JSON Lines with its hashes
//	identity activity prune        delete activities older than a retention period
//	identity version               print the version of the binary
//
// Every flag but those of activity verify and export can also be set
// through the environment variable named in its help; a flag on the
// command line wins. Boolean variables take true or
// false (also 1, 0, t, f); a malformed value is a usage error.
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
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const defaultDatabaseURL = "sqlite://identity.db"

// stdin is where --password-stdin reads; tests replace it.
var stdin io.Reader = os.Stdin

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
	case "user":
		err = userCmd(ctx, args[1:], stdin, stdout, stderr)
	case "keys":
		err = keysCmd(ctx, args[1:], stdout, stderr)
	case "activity":
		err = activityCmd(ctx, args[1:], stdout, stderr)
	case "db":
		err = dbCmd(ctx, args[1:], stdin, stdout)
	case "version":
		err = versionCmd(args[1:], stdout)
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
  identity serve [flags]              serve /graphql, GraphiQL at /, /auth/* (sign-in),
                                      /.well-known/jwks.json, /healthz, /readyz
  identity bootstrap --email E        create or promote a platform superadmin and
                                      print a new personal API key on stdout
  identity user create --email E      create an (active) user; --password-stdin reads
                                      its initial password from stdin
  identity keys rotate                add a new access-token signing key (the old
                                      ones verify until their tokens expire) and
                                      re-seal every secret under the current master
                                      key; --reseal-only skips the signing key
  identity keys status                count the sealed values per master key
  identity activity verify            check the hash chains of the activity trail and
                                      name the first altered, missing or reordered
                                      row; --organization ID, --file EXPORT
  identity activity export            --organization ID [--since TIME]: the trail as
                                      JSON Lines with its hashes, for verify --file
  identity activity prune             --older-than DURATION: delete old activities in
                                      batches; the chains stay verifiable
  identity db create-role             create the PostgreSQL role the server connects
                                      as, subject to row-level security (--name,
                                      --password-stdin); run as the tables' owner
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
  identity version                    print the version and VCS revision of the binary

Run "identity COMMAND -h" for the flags of a command.
`)
}

// flags is a FlagSet whose every flag has an environment variable: the
// variable, when set and not empty, gives the default; a flag on the
// command line wins. Help (-h) goes to the writer given to newFlags;
// errors are returned, once, never printed by the flag package.
type flags struct {
	*flag.FlagSet
	// envErrs holds the malformed variables, by flag name.
	envErrs map[string]error
	// env and meaning hold each flag's variable ("" for none) and its
	// help without the variable, by flag name (for the configuration
	// reference).
	env, meaning map[string]string
}

// newFlags returns the flags of "identity SYNOPSIS"; help goes to w.
func newFlags(name, synopsis string, w io.Writer) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: identity %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return &flags{FlagSet: fs, envErrs: map[string]error{}, env: map[string]string{}, meaning: map[string]string{}}
}

// lookup returns the value of the environment variable name when set and
// not empty.
func lookup(name string) (string, bool) {
	v, ok := os.LookupEnv(name)
	return v, ok && v != ""
}

// describe records the variable and meaning of flag name and returns its
// help: the meaning, then the variable when it has one.
func (f *flags) describe(name, envName, usage string) string {
	f.env[name], f.meaning[name] = envName, usage
	if envName == "" {
		return usage
	}
	return usage + " (env " + envName + ")"
}

// String defines a string flag whose default comes from envName.
func (f *flags) String(name, envName, def, usage string) *string {
	p := new(string)
	f.stringVar(p, name, envName, def, usage)
	return p
}

func (f *flags) stringVar(p *string, name, envName, def, usage string) {
	if v, ok := lookup(envName); ok {
		def = v
	}
	f.FlagSet.StringVar(p, name, def, f.describe(name, envName, usage))
}

// Bool defines a boolean flag whose default comes from envName, parsed by
// strconv.ParseBool (1, t, true, 0, f, false, ...).
func (f *flags) Bool(name, envName string, def bool, usage string) *bool {
	if v, ok := lookup(envName); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.envErrs[name] = fmt.Errorf("%w: %s=%q: want true or false (also 1, 0, t, f)", errUsage, envName, v)
		} else {
			def = b
		}
	}
	return f.FlagSet.Bool(name, def, f.describe(name, envName, usage))
}

// Duration defines a duration flag (like 15s or 2m) whose default comes
// from envName.
func (f *flags) Duration(name, envName string, def time.Duration, usage string) *time.Duration {
	if v, ok := lookup(envName); ok {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			f.envErrs[name] = fmt.Errorf("%w: %s=%q: want a duration like 15s or 2m", errUsage, envName, v)
		} else {
			def = d
		}
	}
	return f.FlagSet.Duration(name, def, f.describe(name, envName, usage))
}

// Int defines an integer flag whose default comes from envName.
func (f *flags) Int(name, envName string, def int, usage string) *int {
	if v, ok := lookup(envName); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			f.envErrs[name] = fmt.Errorf("%w: %s=%q: want an integer", errUsage, envName, v)
		} else {
			def = n
		}
	}
	return f.FlagSet.Int(name, def, f.describe(name, envName, usage))
}

// parse parses args. -h prints the help and returns flag.ErrHelp; a bad
// flag, or a malformed variable of a flag not given on the command line,
// returns an error wrapping errUsage.
func (f *flags) parse(args []string) error {
	out := f.Output()
	f.SetOutput(io.Discard)
	err := f.Parse(args)
	f.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		f.Usage()
		return err
	case err != nil:
		return fmt.Errorf("%w: %v (run \"identity %s -h\" for the flags)", errUsage, err, f.Name())
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var names []string
	for name := range f.envErrs {
		if !set[name] {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		sort.Strings(names)
		return f.envErrs[names[0]]
	}
	return nil
}

// parseInterspersed parses args in which flags may follow the positional
// arguments, and returns the positional arguments.
func (f *flags) parseInterspersed(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.parse(args); err != nil {
			return nil, err
		}
		if f.NArg() == 0 {
			return pos, nil
		}
		rest := f.Args()
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

type commonFlags struct {
	databaseURL string
	logFormat   string
	logLevel    string
}

func (c *commonFlags) register(f *flags) {
	f.stringVar(&c.databaseURL, "database-url", "IDENTITY_DATABASE_URL", defaultDatabaseURL,
		"database to use: sqlite://PATH (file created if missing) or postgres://USER:PASS@HOST:PORT/DB (PostgreSQL database created if missing by serve, bootstrap and migrate apply)")
	f.stringVar(&c.logFormat, "log-format", "IDENTITY_LOG_FORMAT", "text", "log format on stderr: text or json")
	f.stringVar(&c.logLevel, "log-level", "IDENTITY_LOG_LEVEL", "info", "lowest log level: debug, info, warn or error")
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
