package main

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestServeMetricsAndTracing runs serve with --metrics-addr and the
// console trace exporter, sends one GraphQL request, and checks that the
// metrics listener shows it (the main listener does not serve /metrics)
// and that its spans, SQL included, were exported.
func TestServeMetricsAndTracing(t *testing.T) {
	clearEnv(t)
	dbURL := sqliteURL(t)
	code, stdout, stderr := cli(t, "bootstrap", "--database-url", dbURL, "--email", "admin@example.com")
	if code != 0 {
		t.Fatalf("bootstrap: %s", stderr)
	}
	key := strings.TrimSpace(stdout)
	t.Setenv("IDENTITY_DATABASE_URL", dbURL)
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	metricsAddr := freeAddr(t)
	s := startServe(t, "--metrics-addr", metricsAddr)
	if body := post(t, s.addr, key, `{"query":"query Viewer { viewer { kind } }","operationName":"Viewer"}`, http.StatusOK); !strings.Contains(body, `"kind":"api_key"`) {
		t.Fatalf("viewer: %s", body)
	}
	get := func(url string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if status, _ := get("http://" + s.addr + "/metrics"); status != http.StatusNotFound {
		t.Errorf("GET /metrics on the API listener: %d, want 404 (metrics are on --metrics-addr only)", status)
	}
	status, text := get("http://" + metricsAddr + "/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics on --metrics-addr: %d\n%s", status, text)
	}
	for _, want := range []string{
		`identity_graphql_operations_total{operation="Viewer",outcome="ok",type="query"} 1`,
		`identity_authentications_total{credential="api_key",result="ok"} 1`,
		`identity_http_requests_total{code="200",method="POST",route="/graphql"} 1`,
		`identity_sql_statements_per_request_count{route="/graphql"} 1`,
		`go_sql_open_connections{db_name="sqlite3"}`,
		`identity_build_info{`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
	logs := s.stop(t)
	for _, want := range []string{`"Name":"POST /graphql"`, `"Name":"query Viewer"`, `"Name":"Query.viewer"`, `"Name":"SELECT"`, `"db.query.text"`, "tracing on"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the exported spans lack %s", want)
		}
	}
	if strings.Contains(logs, key) {
		t.Error("the logs or spans hold the API key")
	}
}

// TestServeTelemetryConfigErrors checks that a tracing or metrics setting
// serve cannot act on stops it at start with a message naming it.
func TestServeTelemetryConfigErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	taken := ln.Addr().String()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, nil, `OTEL_TRACES_EXPORTER="zipkin": want otlp, console or none`},
		{"gRPC protocol", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, nil,
			`OTEL_EXPORTER_OTLP_PROTOCOL="grpc": this build exports OTLP over http/protobuf only`},
		{"traces protocol wins", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, nil,
			`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="http/json"`},
		{"unknown propagator", map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_PROPAGATORS": "b3"}, nil, `OTEL_PROPAGATORS="b3": want tracecontext, baggage or none`},
		{"metrics address taken", nil, []string{"--metrics-addr", taken}, "listening on --metrics-addr " + taken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"serve", "--addr", freeAddr(t), "--database-url", sqliteURL(t)}, tt.args...)
			code, _, stderr := cli(t, args...)
			if code == 0 || !strings.Contains(stderr, tt.want) {
				t.Errorf("serve: exit %d, want an error naming %q\n%s", code, tt.want, stderr)
			}
		})
	}
}
