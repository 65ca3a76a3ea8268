package telemetry_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	entsql "entgo.io/ent/dialect/sql"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/telemetry"
)

var otelVars = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_PROPAGATORS",
}

// TestTracingFromEnv checks which environments switch tracing on, which
// leave it off and which are refused with a *TracingConfigError naming
// the variable.
func TestTracingFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		on      bool
		badVar  string // "": no error
		service string // service.name of the resource, when on
	}{
		{"nothing set: off", nil, false, "", ""},
		{"endpoint: OTLP over HTTP", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true, "", "cf-identity"},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true, "", "cf-identity"},
		{"console, service name from env", map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_SERVICE_NAME": "identity-eu"}, true, "", "identity-eu"},
		{"none wins over an endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, false, "", ""},
		{"SDK disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}, false, "", ""},
		{"explicit http/protobuf", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, true, "", "cf-identity"},
		{"gRPC refused", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, "OTEL_EXPORTER_OTLP_PROTOCOL", ""},
		{"traces protocol refused", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, false, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", ""},
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "jaeger"}, false, "OTEL_TRACES_EXPORTER", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, v := range otelVars {
				t.Setenv(v, "")
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var console bytes.Buffer
			tp, err := telemetry.TracingFromEnv(context.Background(), "v0.0.1", &console)
			if tt.badVar != "" {
				var ce *telemetry.TracingConfigError
				if !errors.As(err, &ce) || ce.Var != tt.badVar || !errors.Is(err, telemetry.ErrTracingConfig) {
					t.Fatalf("err = %v, want a *TracingConfigError naming %s", err, tt.badVar)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tp != nil) != tt.on {
				t.Fatalf("provider %v, want on=%v", tp, tt.on)
			}
			if tp == nil {
				return
			}
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			_, span := tp.Tracer("test").Start(context.Background(), "probe")
			span.End()
			ro, ok := span.(sdktrace.ReadOnlySpan)
			if !ok {
				t.Fatalf("span %T is not an SDK span", span)
			}
			attrs := map[string]string{}
			for _, kv := range ro.Resource().Attributes() {
				attrs[string(kv.Key)] = kv.Value.String()
			}
			if attrs["service.name"] != tt.service || attrs["service.version"] != "v0.0.1" {
				t.Errorf("resource service.name=%q service.version=%q, want %q v0.0.1", attrs["service.name"], attrs["service.version"], tt.service)
			}
		})
	}
}

// TestDriverSpans checks the SQL spans of telemetry.Driver on both
// dialects: a statement under a recording span gets a child span with
// its text and without its arguments, a transaction gets BEGIN and
// COMMIT; statements outside a span cost none, and every statement is
// counted into the request of its context.
func TestDriverSpans(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		_, sqlDB := testdb.Migrated(t, db)
		drv := telemetry.Driver(entsql.OpenDB(db.Dialect, sqlDB))
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

		ctx, req := telemetry.NewRequest(context.Background(), nil)
		ph := "?"
		if db.Dialect == "postgres" {
			ph = "$1"
		}
		const secret = "s3cret-argument"
		var rows entsql.Rows
		if err := drv.Query(ctx, "SELECT count(*) FROM cf_users WHERE email = "+ph, []any{secret}, &rows); err != nil {
			t.Fatal(err)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if n := len(exp.GetSpans()); n != 0 {
			t.Fatalf("%d spans for a statement outside any span", n)
		}

		sctx, parent := tp.Tracer("test").Start(ctx, "request")
		if err := drv.Query(sctx, "SELECT count(*) FROM cf_users WHERE email = "+ph, []any{secret}, &rows); err != nil {
			t.Fatal(err)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		tx, err := drv.Tx(sctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.Exec(sctx, "UPDATE cf_users SET email = email WHERE email = "+ph, []any{secret}, nil); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		// A failed statement whose error quotes its argument: PostgreSQL
		// names the value it could not convert, SQLite refuses a missing
		// column (its errors name no values).
		failing, failArgs := "SELECT no_such_column FROM cf_users WHERE email = ?", []any{secret}
		if db.Dialect == "postgres" {
			failing = "SELECT $1::integer"
		}
		var ferr error
		if ferr = drv.Exec(sctx, failing, failArgs, nil); ferr == nil {
			t.Fatal("a bad statement succeeded")
		}
		if db.Dialect == "postgres" && !strings.Contains(ferr.Error(), secret) {
			t.Fatalf("the PostgreSQL error does not quote the argument (%v): the check below tests nothing", ferr)
		}
		parent.End()

		var names []string
		failed := 0
		for _, s := range exp.GetSpans() {
			if s.Name == "request" {
				continue
			}
			names = append(names, s.Name)
			if s.Parent.SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("span %s is not a child of the request span", s.Name)
			}
			for _, kv := range s.Attributes {
				if strings.Contains(kv.Value.String(), secret) {
					t.Errorf("span %s attribute %s holds a statement argument", s.Name, kv.Key)
				}
			}
			if s.Status.Code.String() == "Error" {
				failed++
				attrs := map[string]string{}
				for _, kv := range s.Attributes {
					attrs[string(kv.Key)] = kv.Value.String()
				}
				if attrs["error.type"] == "" || len(s.Events) != 0 {
					t.Errorf("failed statement span: error.type %q, %d events (the error text must not be recorded)", attrs["error.type"], len(s.Events))
				}
				if db.Dialect == "postgres" && attrs["db.response.status_code"] != "22P02" {
					t.Errorf("failed statement span: SQLSTATE %q, want 22P02", attrs["db.response.status_code"])
				}
			}
		}
		if failed != 1 {
			t.Errorf("%d failed spans, want 1", failed)
		}
		if got, want := strings.Join(names, " "), "SELECT BEGIN UPDATE COMMIT SELECT"; got != want {
			t.Errorf("spans %q, want %q", got, want)
		}
		if got := req.Statements(); got != 4 {
			t.Errorf("counted %d statements, want 4 (BEGIN and COMMIT are not statements)", got)
		}
	})
}

// TestPropagatorFromEnv checks which OTEL_PROPAGATORS values are taken,
// and that "none" reads no trace context from a caller.
func TestPropagatorFromEnv(t *testing.T) {
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		value    string
		extracts bool
		bad      bool
	}{
		{"", true, false},
		{"tracecontext", true, false},
		{"tracecontext,baggage", true, false},
		{"baggage", false, false},
		{"none", false, false},
		{"b3", false, true},
	}
	for _, tt := range tests {
		t.Run("OTEL_PROPAGATORS="+tt.value, func(t *testing.T) {
			t.Setenv("OTEL_PROPAGATORS", tt.value)
			p, err := telemetry.PropagatorFromEnv()
			if tt.bad {
				var ce *telemetry.TracingConfigError
				if !errors.As(err, &ce) || ce.Var != "OTEL_PROPAGATORS" {
					t.Fatalf("err = %v, want a *TracingConfigError naming OTEL_PROPAGATORS", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ctx := p.Extract(context.Background(), propagation.HeaderCarrier(http.Header{"Traceparent": {traceparent}}))
			if got := trace.SpanContextFromContext(ctx).IsRemote(); got != tt.extracts {
				t.Errorf("caller's trace context extracted: %v, want %v", got, tt.extracts)
			}
		})
	}
}
