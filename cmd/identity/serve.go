package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/cf/identity/apikey"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/session"
	"github.com/cf/identity/storage"
	"github.com/cf/identity/telemetry"
)

// serveOptions are the flags of identity serve.
type serveOptions struct {
	common                  commonFlags
	addr                    *string
	noMigrate, allowForeign *bool
	grace                   *time.Duration
	metricsAddr             *string
	maxHeader               *int
	email                   emailFlags
	lim                     limitFlags
	sess                    sessionFlags
	fl                      flowFlags
	prefSchemas, exposure   *string
}

// newServeFlags returns the flags of identity serve; help goes to w.
func newServeFlags(w io.Writer) (*flags, *serveOptions) {
	f := newFlags("serve", "serve [flags]", w)
	o := &serveOptions{}
	o.common.register(f)
	o.addr = f.String("addr", "IDENTITY_ADDR", "127.0.0.1:8080", "address to listen on")
	o.noMigrate = f.Bool("no-migrate", "IDENTITY_NO_MIGRATE", false, "do not apply pending migrations (nor create a missing database) at start; /readyz answers 503 while the schema is behind")
	o.allowForeign = migrateFlag(f)
	o.grace = f.Duration("shutdown-timeout", "IDENTITY_SHUTDOWN_TIMEOUT", 15*time.Second, "how long in-flight requests may finish after SIGINT/SIGTERM")
	o.metricsAddr = f.String("metrics-addr", "IDENTITY_METRICS_ADDR", "",
		"address of a second listener that serves Prometheus metrics at /metrics, without authentication (keep it private); off when empty")
	o.maxHeader = f.Int("max-header-bytes", "IDENTITY_MAX_HEADER_BYTES", graph.DefaultMaxHeaderBytes, "largest request line and headers accepted, in bytes (431 above; net/http's own default is 1 MiB)")
	o.email.register(f)
	o.lim.register(f)
	o.sess.register(f)
	o.fl.register(f)
	o.prefSchemas = f.String("preference-schemas", "IDENTITY_PREFERENCE_SCHEMAS", "",
		"directory of JSON Schemas (KEY.json, e.g. ui.theme.json) that the values of those preference keys must satisfy")
	o.exposure = f.String("activity-platform-data", "IDENTITY_ACTIVITY_PLATFORM_DATA", string(trail.ExposeSanitized),
		"what platform staff see of the data of another organization's activities: none, sanitized (personal data masked) or all")
	return f, o
}

func serveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, o := newServeFlags(stdout)
	c, addr, noMigrate, allowForeign, grace, maxHeader := &o.common, o.addr, o.noMigrate, o.allowForeign, o.grace, o.maxHeader
	email, lim, sess, fl := &o.email, &o.lim, &o.sess, &o.fl
	prefSchemas, exposure, metricsAddr := o.prefSchemas, o.exposure, o.metricsAddr
	if err := f.parse(args); err != nil {
		return err
	}
	exp, err := trail.ParseExposure(*exposure)
	if err != nil {
		return fmt.Errorf("%w: --activity-platform-data: %v", errUsage, err)
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", errUsage, f.Args())
	}
	if *maxHeader <= 0 {
		return fmt.Errorf("%w: --max-header-bytes %d: want a positive number", errUsage, *maxHeader)
	}
	if err := lim.check(); err != nil {
		return err
	}
	if *noMigrate && *allowForeign {
		return fmt.Errorf("%w: --no-migrate and --migrate contradict each other", errUsage)
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	build := readVersion()
	log.Info("starting identity", build.logArgs()...)
	email.apply()
	trail.SetPlatformExposure(exp)
	if *prefSchemas != "" {
		n, err := declareSchemas(*prefSchemas)
		if err != nil {
			return err
		}
		log.Info("declared preference schemas", "dir", *prefSchemas, "keys", n)
	}
	sessCfg, err := sess.config(c.databaseURL, func(file string) {
		log.Info("created master key file (mode 0600): keep it with the database, back it up, never commit it", "file", file)
	})
	if err != nil {
		return err
	}
	// Bind first: a port in use fails before anything touches the database.
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	defer ln.Close()
	var metricsLn net.Listener
	if *metricsAddr != "" {
		if metricsLn, err = (&net.ListenConfig{}).Listen(ctx, "tcp", *metricsAddr); err != nil {
			return fmt.Errorf("listening on --metrics-addr %s: %w", *metricsAddr, err)
		}
		defer metricsLn.Close()
	}
	tp, err := telemetry.TracingFromEnv(ctx, build.Version, stderr)
	if err != nil {
		return err
	}
	prop, err := telemetry.PropagatorFromEnv()
	if err != nil {
		return err
	}
	if tp != nil {
		log.Info("tracing on (OTEL_* environment)")
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing", "err", err) }))
		defer func() {
			// The spans of the shutdown itself are flushed too: ctx is done
			// by now, its values are still wanted.
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(sctx); err != nil {
				log.Warn("tracing: flushing the last spans failed", "err", err)
			}
		}()
	}
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
	var sessions *session.Manager
	if *noMigrate {
		// The schema may be behind: open sign-in once it answers.
		sessions, err = session.New(ctx, client, sessCfg)
		if err != nil {
			log.Warn("sign-in is off until the schema is migrated", "err", err)
			sessions = nil
		}
	} else if sessions, err = session.New(ctx, client, sessCfg); err != nil {
		return err
	}
	flows, stopMail, err := fl.flows(ctx, client, sessions, log)
	if err != nil {
		return err
	}
	if *fl.smtpURL == "" {
		log.Warn("no --smtp-url: mail is written to this log, single-use links included; fine for development, set IDENTITY_SMTP_URL in production")
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	go sweep(sweepCtx, flows.Invitations, log)
	// Keys' last use is written in the background, off the request path;
	// what is left is written at shutdown, after the last request.
	usage := apikey.NewUsageRecorder(ctx, client, apikey.UsageOptions{Logger: log})
	defer func() { // a no-op after the Close at shutdown below
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = usage.Close(cctx)
	}()
	opts := graph.Options{
		Sessions:    sessions,
		APIKeyUsage: usage,
		Flows:       flows,
		Logger:      log,
		Version:     build.Version,
		Revision:    build.Revision,
		Modified:    build.Modified,
		Ready: func(ctx context.Context) error {
			if err := db.PingContext(ctx); err != nil {
				return err
			}
			return migrations.Check(ctx, db, cfg.Dialect)
		},
	}
	if tp != nil {
		opts.TracerProvider = tp
		opts.Propagator = prop
	}
	var metricsSrv *http.Server
	if metricsLn != nil {
		opts.Metrics = telemetry.NewMetrics(build.Version, build.Revision)
		if err := opts.Metrics.RegisterDB(db, cfg.Dialect); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", opts.Metrics.Handler())
		metricsSrv = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			WriteTimeout:      30 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		log.Info("serving metrics", "addr", "http://"+metricsLn.Addr().String()+"/metrics")
		go func() {
			if err := metricsSrv.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener stopped", "err", err)
			}
		}()
	}
	h := graph.NewHandler(client, lim.options(opts))
	// The server's write deadline stays above the request deadline (and the
	// handler's one-second backstop), so that a request stopped at its
	// deadline still gets its TIMEOUT answer.
	writeTimeout := max(60*time.Second, *lim.requestTimeout+5*time.Second)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
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
	// ctx is done by now: the grace period starts from a context that
	// keeps its values but not its cancellation.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), *grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(sctx)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if err := usage.Close(sctx); err != nil {
		log.Warn("recording the last use of API keys failed at shutdown", "err", err)
	}
	stopSweep()
	stopMail(sctx)
	log.Info("stopped")
	return nil
}

// limitFlags are the request limits of graph.Options.
type limitFlags struct {
	corsOrigins                                   *string
	maxBody                                       *int
	requestTimeout, authWindow                    *time.Duration
	authLimit                                     *int
	authRateIP, authRateAccount                   *int
	complexity, depth, alias, field, token, nodes *int
	fragment                                      *int
	list, inputDepth, inputField                  *int
	noIntrospection                               *bool
}

func (l *limitFlags) register(f *flags) {
	l.corsOrigins = f.String("cors-origins", "IDENTITY_CORS_ORIGINS", "", "comma-separated origins (scheme://host[:port], or *) whose pages may call /graphql from a browser; none when empty")
	l.maxBody = f.Int("max-body-bytes", "IDENTITY_MAX_BODY_BYTES", graph.DefaultMaxBodyBytes, "largest /graphql request body, in bytes (413 PAYLOAD_TOO_LARGE above)")
	l.requestTimeout = f.Duration("request-timeout", "IDENTITY_REQUEST_TIMEOUT", graph.DefaultRequestTimeout, "longest a /graphql request may run, database statements included (TIMEOUT after)")
	l.authLimit = f.Int("auth-failure-limit", "IDENTITY_AUTH_FAILURE_LIMIT", graph.DefaultAuthFailureLimit, "failed authentications allowed per client address and window before 429 RATE_LIMITED; negative switches the limit off")
	l.authRateIP = f.Int("auth-rate-ip", "IDENTITY_AUTH_RATE_IP", graph.DefaultAuthRateIP, "/auth/* requests per minute from one client address before 429; negative switches the limit off")
	l.authRateAccount = f.Int("auth-rate-account", "IDENTITY_AUTH_RATE_ACCOUNT", graph.DefaultAuthRateAccount, "/auth/* requests per minute for one account (login email) or refresh token before 429; negative switches the limit off")
	l.authWindow = f.Duration("auth-failure-window", "IDENTITY_AUTH_FAILURE_WINDOW", graph.DefaultAuthFailureWindow, "window of --auth-failure-limit")
	l.complexity = f.Int("complexity-limit", "IDENTITY_COMPLEXITY_LIMIT", graph.DefaultComplexityLimit, "largest cost of one operation (connections multiply by first/last)")
	l.depth = f.Int("depth-limit", "IDENTITY_DEPTH_LIMIT", graph.DefaultDepthLimit, "deepest nesting of selections, fragments expanded")
	l.alias = f.Int("alias-limit", "IDENTITY_ALIAS_LIMIT", graph.DefaultAliasLimit, "most aliased fields in one operation")
	l.fragment = f.Int("fragment-limit", "IDENTITY_FRAGMENT_LIMIT", graph.DefaultFragmentLimit, "most fragment definitions plus fragment spreads in a document")
	l.field = f.Int("field-limit", "IDENTITY_FIELD_LIMIT", graph.DefaultFieldLimit, "most fields in a document, fragments expanded")
	l.token = f.Int("token-limit", "IDENTITY_TOKEN_LIMIT", graph.DefaultTokenLimit, "most lexical tokens in a document")
	l.nodes = f.Int("nodes-limit", "IDENTITY_NODES_LIMIT", graph.DefaultNodesLimit, "most IDs in one nodes(ids:) call")
	l.list = f.Int("list-limit", "IDENTITY_LIST_LIMIT", graph.DefaultListLimit, "most items in any list argument or variable (idIn, bulk mutations)")
	l.inputDepth = f.Int("input-depth-limit", "IDENTITY_INPUT_DEPTH_LIMIT", graph.DefaultInputDepthLimit, "deepest nesting of input objects (where: {not: {or: ...}})")
	l.inputField = f.Int("input-field-limit", "IDENTITY_INPUT_FIELD_LIMIT", graph.DefaultInputFieldLimit, "most input-object fields set by the arguments of one operation")
	l.noIntrospection = f.Bool("no-introspection", "IDENTITY_NO_INTROSPECTION", false, "refuse __schema and __type queries (introspection is on by default)")
}

// check refuses limits that would mean "the default" or nothing at all.
func (l *limitFlags) check() error {
	for _, p := range []struct {
		name string
		v    int
	}{
		{"max-body-bytes", *l.maxBody}, {"complexity-limit", *l.complexity}, {"depth-limit", *l.depth},
		{"alias-limit", *l.alias}, {"fragment-limit", *l.fragment}, {"field-limit", *l.field}, {"token-limit", *l.token}, {"nodes-limit", *l.nodes},
		{"list-limit", *l.list}, {"input-depth-limit", *l.inputDepth}, {"input-field-limit", *l.inputField},
	} {
		if p.v <= 0 {
			return fmt.Errorf("%w: --%s %d: want a positive number", errUsage, p.name, p.v)
		}
	}
	if *l.requestTimeout <= 0 || *l.authWindow <= 0 {
		return fmt.Errorf("%w: --request-timeout and --auth-failure-window must be positive durations", errUsage)
	}
	if *l.authRateIP == 0 || *l.authRateAccount == 0 {
		return fmt.Errorf("%w: --auth-rate-ip and --auth-rate-account: want a positive number, or a negative one to switch the limit off", errUsage)
	}
	if *l.authLimit == 0 {
		return fmt.Errorf("%w: --auth-failure-limit 0: want a positive number, or a negative one to switch the limit off", errUsage)
	}
	return nil
}

// options returns o with the limits set.
func (l *limitFlags) options(o graph.Options) graph.Options {
	for _, origin := range strings.Split(*l.corsOrigins, ",") {
		if origin = strings.TrimSpace(origin); origin != "" {
			o.CORSOrigins = append(o.CORSOrigins, origin)
		}
	}
	o.MaxBodyBytes = int64(*l.maxBody)
	o.RequestTimeout = *l.requestTimeout
	o.AuthFailureLimit = *l.authLimit
	o.AuthFailureWindow = *l.authWindow
	o.AuthRateIP = *l.authRateIP
	o.AuthRateAccount = *l.authRateAccount
	o.ComplexityLimit = *l.complexity
	o.DepthLimit = *l.depth
	o.AliasLimit = *l.alias
	o.FragmentLimit = *l.fragment
	o.FieldLimit = *l.field
	o.TokenLimit = *l.token
	o.NodesLimit = *l.nodes
	o.ListLimit = *l.list
	o.InputDepthLimit = *l.inputDepth
	o.InputFieldLimit = *l.inputField
	o.DisableIntrospection = *l.noIntrospection
	return o
}
