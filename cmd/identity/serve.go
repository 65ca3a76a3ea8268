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

func serveCmd(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := flagSet("serve", "serve [flags]", stderr)
	var c commonFlags
	c.register(fs)
	addr := fs.String("addr", env("IDENTITY_ADDR", "127.0.0.1:8080"), "address to listen on (env IDENTITY_ADDR)")
	noMigrate := fs.Bool("no-migrate", env("IDENTITY_NO_MIGRATE", "") == "true",
		"do not apply pending migrations at start (env IDENTITY_NO_MIGRATE=true)")
	grace := fs.Duration("shutdown-timeout", 15*time.Second, "how long in-flight requests may finish after SIGINT/SIGTERM")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, fs.Args())
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	if !*noMigrate {
		applied, err := migrations.Apply(ctx, c.databaseURL)
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
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
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
