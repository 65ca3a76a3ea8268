package graph

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/cf/identity/telemetry"
)

// TestObservationSurvivesPanics checks that a handler or a response that
// panics is still recorded (HTTP 500, INTERNAL) and its span ended, and
// that the panic goes on up to the recovery above.
func TestObservationSurvivesPanics(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	m := telemetry.NewMetrics("", "")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := withObservation(routes(mux, nil), m, tp, propagation.TraceContext{}, mux)
	ops := operationTelemetry{metrics: m, tracer: tp.Tracer(instrumentation)}

	tests := []struct {
		name string
		run  func()
		span string
	}{
		{"HTTP handler", func() {
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/boom", nil))
		}, "GET /boom"},
		{"GraphQL response", func() {
			ops.InterceptResponse(context.Background(), func(context.Context) *graphql.Response { panic("boom") })
		}, "unknown unparsed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp.Reset()
			func() {
				defer func() {
					if recover() == nil {
						t.Error("the panic did not go on up")
					}
				}()
				tt.run()
			}()
			spans := exp.GetSpans()
			if len(spans) != 1 || spans[0].Name != tt.span || spans[0].Status.Code != codes.Error {
				t.Fatalf("spans %v, want one ended error span %q", spans, tt.span)
			}
		})
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, f := range fams {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if (f.GetName() == telemetry.MetricHTTPRequests && l.GetName() == "code" && l.GetValue() == "500") ||
					(f.GetName() == telemetry.MetricOperations && l.GetName() == "outcome" && l.GetValue() == CodeInternal) {
					found[f.GetName()] = true
				}
			}
		}
	}
	if !found[telemetry.MetricHTTPRequests] || !found[telemetry.MetricOperations] {
		t.Errorf("panics recorded: %v, want a 500 request and an INTERNAL operation", found)
	}
}
