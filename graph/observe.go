package graph

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/cf/identity/telemetry"
)

// instrumentation names the tracer of the HTTP and GraphQL spans.
const instrumentation = "github.com/cf/identity/graph"

// router returns the route pattern of a request, for metrics and spans.
type router func(*http.Request) string

// routes returns the router of mux, whose /auth/ subtree (when sub is not
// nil) is routed by sub: each sign-in endpoint is a route of its own.
func routes(mux, sub *http.ServeMux) router {
	return func(r *http.Request) string {
		_, pattern := mux.Handler(r)
		if sub != nil && pattern == "/auth/" {
			if _, p := sub.Handler(r); p != "" {
				pattern = p
			}
		}
		return routeOf(pattern)
	}
}

// withObservation measures every request: it puts a
// telemetry.Request on the context (the SQL statements of the request are
// counted into it), starts the request's server span when tp is set
// (continuing the caller's trace when prop extracts one), and records
// route, method, status, duration and statement count in m. The route is
// the mux pattern, never the raw path, so that metrics stay bounded. A
// panic is recorded as a 500 and goes on up.
func withObservation(routeFor router, m *telemetry.Metrics, tp trace.TracerProvider, prop propagation.TextMapPropagator, next http.Handler) http.Handler {
	var tracer trace.Tracer
	if tp != nil {
		tracer = tp.Tracer(instrumentation)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := routeFor(r)
		ctx, req := telemetry.NewRequest(r.Context(), m)
		var span trace.Span
		if tracer != nil {
			if prop != nil {
				ctx = prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
			}
			name := telemetry.MethodLabel(r.Method)
			if route != "" {
				name += " " + route
			}
			ctx, span = tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
				attribute.String("http.request.method", telemetry.MethodLabel(r.Method)),
				attribute.String("http.route", route),
				attribute.String("cf.request_id", RequestID(ctx)),
			))
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		panicked := true
		defer func() {
			status := sw.status
			if panicked {
				status = http.StatusInternalServerError
			}
			m.ObserveHTTP(route, r.Method, status, time.Since(start), req.Statements())
			if span == nil {
				return
			}
			kind := "none"
			if li, ok := ctx.Value(logInfoKey{}).(*logInfo); ok && li.kind != "" {
				kind = li.kind
			}
			span.SetAttributes(
				attribute.Int("http.response.status_code", status),
				attribute.String("cf.actor.kind", kind),
				attribute.Int64("cf.sql.statements", req.Statements()),
			)
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			span.End()
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
		panicked = false
	})
}

// routeOf returns the path of a ServeMux pattern ("GET /healthz" →
// "/healthz"), "" for none.
func routeOf(pattern string) string {
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		return pattern[i+1:]
	}
	return pattern
}

// operationTelemetry is the gqlgen extension that records every GraphQL
// response (its operation name, type, outcome and duration) in metrics
// and, with a tracer, wraps it in a span, with a child span per root
// field; the SQL spans of the resolvers hang under those. It sees the
// responses of operations that failed to parse or validate too.
type operationTelemetry struct {
	metrics *telemetry.Metrics
	tracer  trace.Tracer // nil: no spans
}

var (
	_ graphql.HandlerExtension     = operationTelemetry{}
	_ graphql.ResponseInterceptor  = operationTelemetry{}
	_ graphql.RootFieldInterceptor = operationTelemetry{}
)

func (operationTelemetry) ExtensionName() string                   { return "OperationTelemetry" }
func (operationTelemetry) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse records the response. The operation name is the
// parsed operation's; a document that did not parse or validate is
// "unparsed", whatever name the request claimed. A panic is recorded as
// INTERNAL and goes on up.
func (o operationTelemetry) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) (resp *graphql.Response) {
	start := time.Now()
	name, typ := telemetry.OperationUnparsed, "unknown"
	if graphql.HasOperationContext(ctx) {
		oc := graphql.GetOperationContext(ctx)
		if oc.Operation != nil {
			typ = string(oc.Operation.Operation)
			name = oc.Operation.Name
		}
		if !oc.Stats.OperationStart.IsZero() {
			start = oc.Stats.OperationStart
		}
	}
	var span trace.Span
	if o.tracer != nil {
		spanName := typ
		if name != "" {
			spanName += " " + truncate(name, 64)
		}
		ctx, span = o.tracer.Start(ctx, spanName, trace.WithAttributes(
			attribute.String("graphql.operation.type", typ),
			attribute.String("graphql.operation.name", truncate(name, 64)),
		))
	}
	panicked := true
	defer func() {
		outcome := "ok"
		switch {
		case panicked:
			outcome = CodeInternal
		case resp != nil && len(resp.Errors) > 0:
			outcome = outcomeOf(resp.Errors[0].Extensions)
		}
		o.metrics.ObserveOperation(name, typ, outcome, time.Since(start))
		if span != nil {
			span.SetAttributes(attribute.String("cf.graphql.outcome", outcome))
			if outcome != "ok" {
				span.SetStatus(codes.Error, outcome)
			}
			span.End()
		}
	}()
	resp = next(ctx)
	panicked = false
	return resp
}

func (o operationTelemetry) InterceptRootField(ctx context.Context, next graphql.RootResolver) graphql.Marshaler {
	if o.tracer == nil {
		return next(ctx)
	}
	fc := graphql.GetRootFieldContext(ctx)
	if fc == nil {
		return next(ctx)
	}
	object := fc.Object
	if d := fc.Field.ObjectDefinition; d != nil {
		object = d.Name
	}
	ctx, span := o.tracer.Start(ctx, object+"."+fc.Field.Name, trace.WithAttributes(
		attribute.String("graphql.field.name", fc.Field.Name),
	))
	defer span.End()
	return next(ctx)
}

// outcomeOf returns the extensions.code of an error as a label value:
// codes are upper-case words joined by underscores; anything else is
// "other", and an error without a code "error".
func outcomeOf(ext map[string]any) string {
	code, _ := ext["code"].(string)
	if code == "" {
		return "error"
	}
	if len(code) > 40 {
		return "other"
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; (c < 'A' || c > 'Z') && c != '_' && (c < '0' || c > '9') {
			return "other"
		}
	}
	return code
}
