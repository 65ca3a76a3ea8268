package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cf/identity/graph"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/storage"
)

// defaultMaxHeaderBytes caps the request line and headers (net/http's own
// default is 1 MiB).
const defaultMaxHeaderBytes = 64 << 10

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f := newFlags("serve", "serve [flags]", stdout)
	var c commonFlags
	c.register(f)
	addr := f.String("addr", "IDENTITY_ADDR", "127.0.0.1:8080", "address to listen on")
	noMigrate := f.Bool("no-migrate", "IDENTITY_NO_MIGRATE", false, "do not apply pending migrations (nor create a missing database) at start")
	allowForeign := migrateFlag(f)
	grace := f.Duration("shutdown-timeout", "IDENTITY_SHUTDOWN_TIMEOUT", 15*time.Second, "how long in-flight requests may finish after SIGINT/SIGTERM")
	maxHeader := f.Int("max-header-bytes", "IDENTITY_MAX_HEADER_BYTES", defaultMaxHeaderBytes, "largest request line and headers accepted, in bytes")
	var email emailFlags
	email.register(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, f.Args())
	}
	if *maxHeader <= 0 {
		return fmt.Errorf("%w: --max-header-bytes %d: want a positive number", errUsage, *maxHeader)
	}
	if *noMigrate && *allowForeign {
		return fmt.Errorf("%w: --no-migrate and --migrate contradict each other", errUsage)
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	log.Info("starting identity", readVersion().logArgs()...)
	email.apply()
	// Bind first: a port in use fails before anything touches the database.
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	defer ln.Close()
	if !*noMigrate {
		applied, err := prepareDatabase(ctx, c.databaseURL, *allowForeign, func() {
			log.Info("created database", "database", storage.Redact(c.databaseURL))
		})
		if err != nil {
			return err
		}
		for _, a := range applied {
			log.Info("migration applied", "version", a.Version, "description", a.Description, "statements", a.Statements, "took", a.Took)
		}
	}
	client, db, cfg, err := storage.Open(ctx, c.databaseURL)
	if err != nil {
		return err
	}
	defer client.Close()
	h := graph.NewHandler(client, graph.Options{
		Logger: log,
		Ready: func(ctx context.Context) error {
			if err := db.PingContext(ctx); err != nil {
				return err
			}
			return migrations.Check(ctx, db, cfg.Dialect)
		},
	})
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    *maxHeader,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving", "addr", "http://"+ln.Addr().String(), "graphql", "http://"+ln.Addr().String()+"/graphql", "database", cfg.Redacted)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}
