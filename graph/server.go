package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/cf/identity/accesstoken"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/audit"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/credential"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/graph/generated"
	"github.com/cf/identity/graph/graphiql"
	"github.com/cf/identity/internal/buildinfo"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/session"
	"github.com/cf/identity/telemetry"
)

// Options configures the HTTP handler.
type Options struct {
	// Logger receives request and error logs; slog.Default() when nil.
	Logger *slog.Logger
	// Ready reports whether the server can take traffic (for /readyz).
	Ready func(context.Context) error
	// CORSOrigins lists the origins (scheme://host[:port], or "*") whose
	// pages may call /graphql from a browser; none when empty.
	CORSOrigins []string
	// MaxBodyBytes caps the size of a /graphql request body (HTTP 413,
	// PAYLOAD_TOO_LARGE, above it); 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RequestTimeout bounds how long a /graphql request runs, database
	// statements included (TIMEOUT after it); 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// AuthFailureLimit failed authentications per AuthFailureWindow are
	// allowed from one client address (IPv6: one /64); further requests
	// from it answer HTTP 429, RATE_LIMITED, until the budget refills.
	// 0 means DefaultAuthFailureLimit per DefaultAuthFailureWindow;
	// negative switches the limit off.
	AuthFailureLimit  int
	AuthFailureWindow time.Duration
	// ComplexityLimit caps the cost of one operation: every field costs 1,
	// a connection multiplies the cost of its selections by first or last
	// (DefaultPageSize when absent) and nodes(ids:) by the number of IDs;
	// 0 means DefaultComplexityLimit.
	ComplexityLimit int
	// DepthLimit caps how deeply selections nest, fragments expanded; 0
	// means DefaultDepthLimit.
	DepthLimit int
	// AliasLimit caps the aliased fields of one operation, fragments
	// expanded; 0 means DefaultAliasLimit.
	AliasLimit int
	// FragmentLimit caps the fragment definitions plus fragment spreads
	// written in a document, checked before validation; 0 means
	// DefaultFragmentLimit.
	FragmentLimit int
	// FieldLimit caps the fields of a document with its fragments
	// expanded, checked before validation; 0 means DefaultFieldLimit.
	FieldLimit int
	// TokenLimit caps the lexical tokens of a document, checked before
	// parsing; 0 means DefaultTokenLimit.
	TokenLimit int
	// NodesLimit caps the IDs of one nodes(ids:) call; 0 means
	// DefaultNodesLimit.
	NodesLimit int
	// ListLimit caps the items of every list in arguments and variables
	// (idIn and the other In filters, bulk mutations); 0 means
	// DefaultListLimit.
	ListLimit int
	// InputDepthLimit caps how deeply input objects nest in an argument
	// (where: {not: {or: [...]}}); 0 means DefaultInputDepthLimit.
	InputDepthLimit int
	// InputFieldLimit caps the input-object fields (predicates, among
	// others) set by all arguments of one operation; 0 means
	// DefaultInputFieldLimit.
	InputFieldLimit int
	// DisableIntrospection refuses __schema and __type queries.
	// Introspection is on when false, the default.
	DisableIntrospection bool
	// Sessions signs people in: with it, NewHandler serves /auth/login,
	// /auth/refresh, /auth/logout, /auth/switch and
	// /.well-known/jwks.json, and /graphql accepts access tokens besides
	// API keys. Without it only API keys authenticate.
	Sessions *session.Manager
	// APIKeyUsage, when set, records the last use of API keys in the
	// background (see apikey.UsageRecorder), so that authenticating a
	// request writes nothing; the caller closes it after the server stops.
	// When nil, a key's use is written on the request's path, at most once
	// a minute per key.
	APIKeyUsage *apikey.UsageRecorder
	// AuthRateIP and AuthRateAccount cap the /auth/* requests per minute
	// from one client address and for one account (a login's email) or
	// presented token (refresh, logout); HTTP 429 RATE_LIMITED with
	// Retry-After above. 0 means DefaultAuthRateIP and
	// DefaultAuthRateAccount; negative switches a limit off.
	AuthRateIP, AuthRateAccount int
	// Flows are the invitation, recovery, OAuth-link and feature-switch
	// flows; their mutations and /auth endpoints answer
	// ErrNotConfigured without them.
	Flows Flows
	// Metrics records requests, GraphQL operations, authentications, SQL
	// statements per request, rate-limit refusals and activity rows
	// (package telemetry); nothing is recorded when nil. NewHandler does
	// not serve the metrics: serve Metrics.Handler on a listener of its
	// own.
	Metrics *telemetry.Metrics
	// TracerProvider traces every request: a server span per HTTP request,
	// a span per GraphQL operation and root field, and a client span per
	// SQL statement (telemetry.Driver); no spans when nil.
	TracerProvider trace.TracerProvider
	// Propagator reads the caller's trace context from the request headers
	// so that the server span continues it; nil means W3C trace context
	// (traceparent). A caller then chooses the trace ID and, with the
	// default parent-based sampler, whether the request is sampled: give
	// an empty propagation.NewCompositeTextMapPropagator() (what
	// OTEL_PROPAGATORS=none selects, see telemetry.PropagatorFromEnv) to
	// start every trace at the server.
	Propagator propagation.TextMapPropagator
	// Version, Revision and Modified name the build on /healthz, after its
	// "ok" line: "version V", then "revision R" (" (modified)" appended
	// when Modified) when Revision is set. With Version empty, NewHandler
	// takes all three from the running binary's build information.
	Version, Revision string
	Modified          bool
}

// NewSchema returns the executable GraphQL schema over client.
// The password and session mutations need NewGraphQLHandler with
// Options.Sessions.
func NewSchema(client *ent.Client) graphql.ExecutableSchema {
	return newSchema(client, nil, Flows{})
}

func newSchema(client *ent.Client, sessions *session.Manager, flows Flows) graphql.ExecutableSchema {
	return generated.NewExecutableSchema(generated.Config{Resolvers: &Resolver{client: client, sessions: sessions, flows: flows}})
}

// NewGraphQLHandler returns the /graphql handler: POST and GET transports,
// one transaction per mutation, errors through PresentError, panics
// recovered as INTERNAL errors, and the operation limits of opts (cost,
// depth, aliases, fields, tokens, list and input sizes), which refuse an
// operation with QUERY_TOO_COMPLEX before any resolver runs. It expects
// the actor on the request context (see Authenticate) and refuses
// requests without one.
func NewGraphQLHandler(client *ent.Client, opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	schema := newSchema(client, opts.Sessions, opts.Flows)
	srv := handler.New(schema)
	srv.AddTransport(transport.Options{})
	srv.AddTransport(getTransport{})
	srv.AddTransport(postTransport{})
	srv.AddTransport(unsupportedTransport{}) // last: answers what no other takes
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	if !opts.DisableIntrospection {
		srv.Use(extension.Introspection{})
	}
	var tracer trace.Tracer
	if opts.TracerProvider != nil {
		tracer = opts.TracerProvider.Tracer(instrumentation)
	}
	// First: its response middleware wraps the others (the transaction's
	// COMMIT included) and sees parse and validation failures.
	srv.Use(operationTelemetry{metrics: opts.Metrics, tracer: tracer})
	srv.Use(newOperationLimits(schema.Schema(), opts))
	srv.SetValidationRulesFn(validationRules)
	srv.Use(transactioner{entgql.Transactioner{TxOpener: client}})
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if actor.FromContext(ctx) == nil {
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{unauthenticated(msgAuthRequired)}})
		}
		return next(ctx)
	})
	srv.AroundFields(fieldArgs(client))
	srv.SetErrorPresenter(PresentError)
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		log.ErrorContext(ctx, "graphql: panic", "panic", v, "request_id", RequestID(ctx), "stack", string(debug.Stack()))
		return errors.New("internal error")
	})
	return srv
}

// Page sizes of connections: a connection asked for without first or last
// returns DefaultPageSize items; more than MaxPageSize is refused.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// fieldArgs is the server's one field middleware. For a field with
// arguments it bounds the page of a Relay connection (limitPages) and
// narrows the edge filters of a where input (edgeFilters); other fields
// pass straight through. One middleware and not two, because gqlgen wraps
// every field of an answer in each middleware.
func fieldArgs(client *ent.Client) graphql.FieldMiddleware {
	return func(ctx context.Context, next graphql.Resolver) (any, error) {
		fc := graphql.GetFieldContext(ctx)
		if fc == nil || fc.Args == nil {
			return next(ctx)
		}
		if err := limitPages(fc); err != nil {
			return nil, err
		}
		if err := edgeFilters(ctx, client, fc); err != nil {
			return nil, err
		}
		return next(ctx)
	}
}

// limitPages bounds a Relay connection field: no first/last means the
// first DefaultPageSize items, and first or last above MaxPageSize is a
// BAD_USER_INPUT error. Other fields are left alone.
func limitPages(fc *graphql.FieldContext) error {
	first, okFirst := fc.Args["first"].(*int)
	last, okLast := fc.Args["last"].(*int)
	if !okFirst || !okLast {
		return nil
	}
	for _, n := range []*int{first, last} {
		if n != nil && (*n < 0 || *n > MaxPageSize) {
			return &gqlerror.Error{
				Message:    fmt.Sprintf("first and last must be between 0 and %d", MaxPageSize),
				Extensions: map[string]any{"code": CodeBadUserInput},
			}
		}
	}
	if first == nil && last == nil {
		n := DefaultPageSize
		fc.Args["first"] = &n
	}
	return nil
}

func unauthenticated(msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": CodeUnauthenticated}}
}

// NewHandler returns the whole HTTP surface of the server: /graphql, a
// GraphiQL page at /, /healthz and /readyz, with request IDs, API-key
// authentication and access logs.
func NewHandler(client *ent.Client, opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	maxBody := opts.MaxBodyBytes
	if maxBody <= 0 {
		maxBody = DefaultMaxBodyBytes
	}
	timeout := opts.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	limiter := newFailureLimiter(opts.AuthFailureLimit, opts.AuthFailureWindow)
	auth := &credential.Authenticator{Client: client, Sessions: opts.Sessions, Usage: opts.APIKeyUsage}
	mux := http.NewServeMux()
	mux.Handle("/graphql", withCORS(opts.CORSOrigins, withDeadline(timeout, withBodyLimit(maxBody,
		authenticate(client, auth, log, limiter, NewGraphQLHandler(client, opts))))))
	mux.Handle("GET /activity/export", withCORS(opts.CORSOrigins, authenticate(client, auth, log, limiter, activityExport(client, log))))
	var signIn *http.ServeMux
	if opts.Sessions != nil {
		signIn = http.NewServeMux()
		newSignIn(client, opts.Sessions, log, opts).routes(signIn)
		mux.Handle("/auth/", withCORS(opts.CORSOrigins, withTimeout(timeout, signIn)))
		mux.Handle("GET /.well-known/jwks.json", signIn)
	}
	ui := graphiql.Handler("cf identity", "/graphql")
	mux.Handle("GET /{$}", ui)
	mux.Handle("GET "+graphiql.AssetPrefix, ui)
	health := healthBody(opts)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(health)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if opts.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := opts.Ready(ctx); err != nil {
				log.WarnContext(r.Context(), "not ready", "err", err)
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	h := withSecurityHeaders(mux)
	if opts.Metrics != nil || opts.TracerProvider != nil {
		prop := opts.Propagator
		if prop == nil {
			prop = propagation.TraceContext{}
		}
		h = withObservation(routes(mux, signIn), opts.Metrics, opts.TracerProvider, prop, h)
	}
	return withRequestLog(log, h)
}

// healthBody returns the body of /healthz: "ok", then the version and,
// when the build has one, the VCS revision, one per line. The first line
// stays "ok" for probes that match it.
func healthBody(opts Options) []byte {
	v, rev, modified := opts.Version, opts.Revision, opts.Modified
	if v == "" {
		bi := buildinfo.Read()
		v, rev, modified = bi.Version, bi.Revision, bi.Modified
	}
	b := []byte("ok\nversion " + v + "\n")
	if rev != "" {
		b = append(b, "revision "+rev...)
		if modified {
			b = append(b, " (modified)"...)
		}
		b = append(b, '\n')
	}
	return b
}

// Authenticate reads "Authorization: Bearer <API key or access token>"
// (package credential) and puts its actor on the request context; access
// tokens are accepted when sessions is not nil. A request without a valid credential gets
// HTTP 401 with a GraphQL error whose extensions.code is UNAUTHENTICATED,
// and next never runs. When the key cannot be checked (the database fails)
// the answer is HTTP 503 with INTERNAL, or TIMEOUT past the request's
// deadline. Failures are logged with the client address; NewHandler also
// rate-limits them per address, which Authenticate alone does not.
func Authenticate(client *ent.Client, sessions *session.Manager, log *slog.Logger, next http.Handler) http.Handler {
	return authenticate(client, &credential.Authenticator{Client: client, Sessions: sessions}, log, nil, next)
}

const msgAuthRequired = "authentication required: send Authorization: Bearer <API key or access token>"

// bearerOf returns the credential of "Authorization: Bearer <credential>".
func bearerOf(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// authenticate is Authenticate with a limit of failures per client address
// (none when limiter is nil): a client over it answers HTTP 429 before its
// credential is looked at. Only well-formed keys that fail count; malformed
// credentials cost no lookup and guess nothing.
func authenticate(client *ent.Client, auth *credential.Authenticator, log *slog.Logger, limiter *failureLimiter, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		ip := clientIP(r)
		token, bearer := bearerOf(r)
		cred := credentialOf(r.Header.Get("Authorization") != "", token, bearer)
		rctx := r.Context()
		result := func(res string) { telemetry.Authenticated(rctx, cred, res) }
		if limiter != nil {
			if wait := limiter.wait(limiterKey(ip), time.Now()); wait > 0 {
				result("rate_limited")
				rateLimited(w, r, telemetry.LimitAuthFailures, wait)
				return
			}
		}
		failed := func(ctx context.Context, reason any) {
			limited := limiter != nil && limiter.fail(limiterKey(ip), time.Now())
			log.InfoContext(ctx, "authentication failed", "reason", reason, "ip", ip, "rate_limited", limited, "request_id", RequestID(ctx))
		}
		if r.Header.Get("Authorization") == "" {
			result("missing")
			refuse(w, msgAuthRequired)
			return
		}
		if !bearer {
			result("malformed")
			refuse(w, "malformed Authorization header: want Bearer <API key or access token>")
			return
		}
		a, err := auth.Authenticate(r.Context(), token, time.Now())
		switch {
		case errors.Is(err, apikey.ErrMalformed), errors.Is(err, credential.ErrMalformed):
			// Not counted: nothing was looked up, nothing was guessed (and
			// GraphiQL's placeholder key is one).
			result("malformed")
			refuse(w, "invalid, revoked or expired API key or access token")
			return
		case errors.Is(err, session.ErrInvalidAccessToken):
			// An expired, tampered or foreign token is refused offline and
			// not counted (clients present expired tokens before they
			// refresh); the token of a revoked session cost a lookup and
			// counts like a wrong key.
			switch {
			case errors.Is(err, accesstoken.ErrExpired):
				result("expired")
			case errors.Is(err, accesstoken.ErrInvalidToken):
				result("invalid")
			default:
				result("revoked")
				failed(r.Context(), err)
			}
			refuse(w, "invalid or expired access token, or its session was revoked: refresh it or sign in again")
			return
		case errors.Is(err, credential.ErrInvalid):
			result("invalid")
			failed(r.Context(), err)
			refuse(w, "invalid, revoked or expired API key")
			return
		case err != nil:
			result("unavailable")
			authUnavailable(w, r, log, err)
			return
		}
		if h := r.Header.Get("X-Organization-ID"); h != "" {
			org, err := pulid.Parse(h)
			if err != nil || org.Prefix() != "org" {
				result("bad_organization")
				forbid(w, http.StatusBadRequest, CodeBadUserInput, "malformed X-Organization-ID header: want an organization ID (org_...)")
				return
			}
			if a.SessionID() != "" && a.ActiveOrganization() != "" && a.ActiveOrganization() != org {
				result("other_organization")
				forbid(w, http.StatusForbidden, CodeForbidden, "this access token is active in another organization: switch organization (POST /auth/switch) or drop X-Organization-ID")
				return
			}
			if a = a.WithOrganization(org); a == nil {
				result("other_organization")
				forbid(w, http.StatusForbidden, CodeForbidden, "this API key belongs to another organization")
				return
			}
		}
		ctx, err := authz.NewContext(r.Context(), client, a)
		switch {
		case errors.Is(err, authz.ErrNotMember):
			result("not_member")
			forbid(w, http.StatusForbidden, CodeForbidden, "you are not a member of the organization in X-Organization-ID")
			return
		case errors.Is(err, authz.ErrUnknownOrganization):
			// Only platform staff, who may read every organization, get
			// this answer; others get the not-a-member one above.
			result("bad_organization")
			forbid(w, http.StatusBadRequest, CodeBadUserInput, "the organization in X-Organization-ID does not exist (or is deleted)")
			return
		case errors.Is(err, authz.ErrInactive) && a.Kind() == actor.KindUser:
			result("inactive")
			refuse(w, "the user cannot sign in")
			return
		case errors.Is(err, authz.ErrInactive):
			result("inactive")
			refuse(w, "the key's owner cannot sign in")
			return
		case err != nil:
			result("unavailable")
			authUnavailable(w, r, log, err)
			return
		}
		result("ok")
		setActor(r.Context(), a)
		ctx = audit.WithRequest(ctx, audit.Request{
			Channel:   audit.ChannelGraphQL,
			IP:        ip,
			UserAgent: truncate(r.UserAgent(), 512),
			RequestID: RequestID(r.Context()),
		})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// credentialOf returns the kind of credential a request presents, for
// metrics: present says it has an Authorization header, token and bearer
// are what bearerOf made of it.
func credentialOf(present bool, token string, bearer bool) string {
	if !present {
		return telemetry.CredentialNone
	}
	if !bearer {
		return telemetry.CredentialUnknown
	}
	switch credential.KindOf(token) {
	case credential.KindAPIKey:
		return telemetry.CredentialAPIKey
	case credential.KindAccessToken:
		return telemetry.CredentialAccessToken
	}
	return telemetry.CredentialUnknown
}

// clientIP returns the peer address of r. Proxies' forwarding headers are
// not trusted: put the real client address in RemoteAddr at the proxy.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return truncate(r.RemoteAddr, 45)
	}
	return truncate(host, 45)
}

// truncate returns s as valid UTF-8 cut to at most n bytes on a
// character boundary (trail.Clip): headers go into the activity trail.
func truncate(s string, n int) string { return trail.Clip(s, n) }

func forbid(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": gqlerror.List{{Message: msg, Extensions: map[string]any{"code": code}}}})
}

func refuse(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("WWW-Authenticate", `Bearer realm="cf identity"`)
	w.WriteHeader(http.StatusUnauthorized)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": gqlerror.List{unauthenticated(msg)}})
}

type requestIDKey struct{}
type logInfoKey struct{}

// logInfo is what the request log and the request's span learn of the
// actor once authentication found it.
type logInfo struct{ actor, kind string }

// RequestID returns the ID of the HTTP request of ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func setActor(ctx context.Context, a *actor.Actor) {
	if li, ok := ctx.Value(logInfoKey{}).(*logInfo); ok {
		li.actor = a.String()
		li.kind = a.Kind().String()
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func withRequestLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if id == "" || len(id) > 64 || !printableASCII(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-ID", id)
		li := &logInfo{actor: "nobody"}
		ctx := context.WithValue(context.WithValue(r.Context(), requestIDKey{}, id), logInfoKey{}, li)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		log.InfoContext(ctx, "request", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration_ms", time.Since(start).Milliseconds(), "actor", li.actor, "request_id", id)
	})
}

// withTimeout bounds the context of a request (the database statements of
// a sign-in stop at the deadline).
func withTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// printableASCII reports whether s holds printable ASCII only (a request
// ID a client may choose).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
