package graph_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/cf/identity/bootstrap"
	"github.com/cf/identity/credential"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/telemetry"
)

// metricValue returns the value of the counter (or the sample count of the
// histogram) of family name whose labels include want, summed over the
// series that match.
func metricValue(t *testing.T, m *telemetry.Metrics, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gathering metrics: %v", err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			if !hasLabels(s, want) {
				continue
			}
			switch {
			case s.Counter != nil:
				sum += s.Counter.GetValue()
			case s.Histogram != nil:
				sum += float64(s.Histogram.GetSampleCount())
			case s.Gauge != nil:
				sum += s.Gauge.GetValue()
			}
		}
	}
	return sum
}

func hasLabels(s *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range s.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// scrape returns the text exposition of m, as Prometheus reads it.
func scrape(t *testing.T, m *telemetry.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// TestMetricsAfterRequests sends requests of every kind the metrics tell
// apart, then checks the figures a scrape shows: requests by route and
// status, operations by name, type and outcome, authentications by
// credential and result, rate-limit refusals and activity rows.
func TestMetricsAfterRequests(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		m := telemetry.NewMetrics("v1.2.3-test", "abc123")
		e := setupAuth(t, db, graph.Options{Metrics: m, AuthFailureLimit: 2, AuthFailureWindow: time.Hour}, nil)
		alice := e.newPasswordUser(t, "alice@example.com", "correct horse battery")
		_, revokedKey, k := e.newUserKey(t, "gone@example.com")
		if _, err := credential.RevokeAPIKey(sys(), e.client, k.ID); err != nil {
			t.Fatal(err)
		}
		activitiesBefore := e.client.Activity.Query().CountX(sys())

		steps := []struct {
			name   string
			send   func() response
			status int
		}{
			{"viewer with an API key", func() response {
				return gqlOn(t, e.srv, e.adminKey, `query Viewer { viewer { kind } }`, nil, nil)
			}, http.StatusOK},
			{"no credential", func() response { return e.post(t, "", `query Viewer { viewer { kind } }`, nil) }, http.StatusUnauthorized},
			{"a document that does not parse", func() response {
				return authPost(t, e.srv, "/graphql", `{"query": "query Broken {", "operationName": "Broken"}`, map[string]string{"Authorization": bearer(e.adminKey)})
			}, http.StatusUnprocessableEntity},
			{"wrong password", func() response { return loginOn(t, e.srv, "alice@example.com", "wrong password!!") }, http.StatusUnauthorized},
			{"right password", func() response { return loginOn(t, e.srv, "alice@example.com", "correct horse battery") }, http.StatusOK},
			{"a mutation", func() response {
				return gqlOn(t, e.srv, e.adminKey, `mutation Ban($id: ID!) { banUser(id: $id, reason: "spam") { id } }`,
					map[string]any{"id": alice.ID}, nil)
			}, http.StatusOK},
			{"revoked key", func() response { return gqlOn(t, e.srv, revokedKey, `{ viewer { kind } }`, nil, nil) }, http.StatusUnauthorized},
			{"revoked key again", func() response { return gqlOn(t, e.srv, revokedKey, `{ viewer { kind } }`, nil, nil) }, http.StatusUnauthorized},
			{"over the failure limit", func() response { return gqlOn(t, e.srv, e.adminKey, `{ viewer { kind } }`, nil, nil) }, http.StatusTooManyRequests},
		}
		for _, s := range steps {
			if r := s.send(); r.status != s.status {
				t.Fatalf("%s: HTTP %d, want %d: %s", s.name, r.status, s.status, r.raw)
			}
		}
		written := e.client.Activity.Query().CountX(sys()) - activitiesBefore

		tests := []struct {
			metric string
			labels map[string]string
			want   float64
		}{
			{telemetry.MetricHTTPRequests, map[string]string{"route": "/graphql", "method": "POST", "code": "200"}, 2},
			{telemetry.MetricHTTPRequests, map[string]string{"route": "/graphql", "method": "POST", "code": "401"}, 3},
			{telemetry.MetricHTTPRequests, map[string]string{"route": "/graphql", "code": "429"}, 1},
			{telemetry.MetricHTTPRequests, map[string]string{"route": "/auth/login", "method": "POST"}, 2},
			{telemetry.MetricHTTPDuration, map[string]string{"route": "/graphql"}, 7},
			{telemetry.MetricStatementsPerRequest, map[string]string{"route": "/graphql"}, 7},
			{telemetry.MetricOperations, map[string]string{"operation": "Viewer", "type": "query", "outcome": "ok"}, 1},
			{telemetry.MetricOperations, map[string]string{"operation": "Ban", "type": "mutation", "outcome": "ok"}, 1},
			{telemetry.MetricOperations, map[string]string{"operation": telemetry.OperationUnparsed, "type": "unknown", "outcome": "GRAPHQL_PARSE_FAILED"}, 1},
			{telemetry.MetricOperations, map[string]string{}, 3},
			{telemetry.MetricOperationDuration, map[string]string{"operation": "Viewer", "type": "query"}, 1},
			{telemetry.MetricAuthentications, map[string]string{"credential": "api_key", "result": "ok"}, 3},
			{telemetry.MetricAuthentications, map[string]string{"credential": "none", "result": "missing"}, 1},
			{telemetry.MetricAuthentications, map[string]string{"credential": "api_key", "result": "invalid"}, 2},
			{telemetry.MetricAuthentications, map[string]string{"credential": "api_key", "result": "rate_limited"}, 1},
			{telemetry.MetricAuthentications, map[string]string{"credential": "password", "result": "invalid_credentials"}, 1},
			{telemetry.MetricAuthentications, map[string]string{"credential": "password", "result": "ok"}, 1},
			{telemetry.MetricRateLimited, map[string]string{"limit": telemetry.LimitAuthFailures}, 1},
			{telemetry.MetricActivityRows, map[string]string{}, float64(written)},
			{telemetry.MetricBuildInfo, map[string]string{"version": "v1.2.3-test", "revision": "abc123"}, 1},
		}
		for _, tt := range tests {
			if got := metricValue(t, m, tt.metric, tt.labels); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		}
		if written == 0 {
			t.Error("the mutation and the sign-in wrote no activity: the activity-row figure tests nothing")
		}
		text := scrape(t, m)
		for _, name := range []string{
			telemetry.MetricHTTPRequests, telemetry.MetricHTTPDuration + "_bucket", telemetry.MetricOperations,
			telemetry.MetricOperationDuration + "_bucket", telemetry.MetricAuthentications, telemetry.MetricStatementsPerRequest + "_bucket",
			telemetry.MetricRateLimited, telemetry.MetricActivityRows, telemetry.MetricBuildInfo, "go_goroutines", "process_cpu_seconds_total",
		} {
			if !strings.Contains(text, "\n"+name+"{") && !strings.Contains(text, "\n"+name+" ") {
				t.Errorf("the scrape lacks %s", name)
			}
		}
		for _, secret := range []string{e.adminKey, revokedKey, "correct horse battery"} {
			if strings.Contains(text, secret) {
				t.Errorf("the scrape holds a secret: %q", secret)
			}
		}
	})
}

// TestStatementsPerRequestMetric checks that the statements figure of a
// request is the number of statements the database received for it.
func TestStatementsPerRequestMetric(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		_, sqlDB := testdb.Migrated(t, db)
		drv := &testdb.CountingDriver{Driver: telemetry.Driver(entsql.OpenDB(db.Dialect, sqlDB))}
		client := ent.NewClient(ent.Driver(drv))
		res, err := bootstrap.Superadmin(context.Background(), client, adminEmail, "Admin")
		if err != nil {
			t.Fatal(err)
		}
		m := telemetry.NewMetrics("", "")
		srv := httptest.NewServer(graph.NewHandler(client, graph.Options{Metrics: m, Logger: discardLogger()}))
		t.Cleanup(srv.Close)
		drv.Reset()
		r := gqlOn(t, srv, res.Key, `{ organizations(first: 5) { edges { node { name
			memberships(first: 5) { edges { node { user { email } roles(first: 5) { edges { node { key } } } } } } } } } }`, nil, nil)
		if r.status != http.StatusOK || len(r.errors) > 0 {
			t.Fatalf("HTTP %d: %s", r.status, r.raw)
		}
		sent := drv.Count()
		fams, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		var h *dto.Histogram
		for _, f := range fams {
			if f.GetName() == telemetry.MetricStatementsPerRequest {
				for _, s := range f.GetMetric() {
					if hasLabels(s, map[string]string{"route": "/graphql"}) {
						h = s.Histogram
					}
				}
			}
		}
		if h == nil || h.GetSampleCount() != 1 {
			t.Fatalf("want one /graphql sample of %s, got %v", telemetry.MetricStatementsPerRequest, h)
		}
		if sent == 0 || h.GetSampleSum() != float64(sent) {
			t.Errorf("%s recorded %v statements; the database received %d", telemetry.MetricStatementsPerRequest, h.GetSampleSum(), sent)
		}
	})
}

// TestTraceOfOneRequest checks the span tree of one GraphQL request: the
// server span continues the client's traceparent and carries the request
// ID and actor kind; under it the operation, its root field, and the SQL
// statements with their text; no attribute holds the credential.
func TestTraceOfOneRequest(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		e := setupAuth(t, db, graph.Options{TracerProvider: tp}, nil)
		exp.Reset()

		const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		r := gqlOn(t, e.srv, e.adminKey, `query Members { organizations { edges { node { name memberships { edges { node { user { email } } } } } } } }`, nil,
			map[string]string{"traceparent": traceparent, "X-Request-ID": "trace-test-1"})
		if r.status != http.StatusOK || len(r.errors) > 0 {
			t.Fatalf("HTTP %d: %s", r.status, r.raw)
		}
		spans := exp.GetSpans()
		byID := map[trace.SpanID]tracetest.SpanStub{}
		for _, s := range spans {
			byID[s.SpanContext.SpanID()] = s
		}
		find := func(name string) tracetest.SpanStub {
			t.Helper()
			for _, s := range spans {
				if s.Name == name {
					return s
				}
			}
			var names []string
			for _, s := range spans {
				names = append(names, s.Name)
			}
			t.Fatalf("no span %q among %q", name, names)
			return tracetest.SpanStub{}
		}
		root := find("POST /graphql")
		op := find("query Members")
		field := find("Query.organizations")
		if got := root.SpanContext.TraceID().String(); got != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("trace ID %s: the client's traceparent was not continued", got)
		}
		if got := root.Parent.SpanID().String(); got != "00f067aa0ba902b7" || !root.Parent.IsRemote() {
			t.Errorf("server span's parent = %s (remote %v), want the client's span", got, root.Parent.IsRemote())
		}
		if root.SpanKind != trace.SpanKindServer {
			t.Errorf("server span kind = %v", root.SpanKind)
		}
		attrs := func(s tracetest.SpanStub) map[string]string {
			m := map[string]string{}
			for _, kv := range s.Attributes {
				m[string(kv.Key)] = kv.Value.String()
			}
			return m
		}
		ra := attrs(root)
		for k, want := range map[string]string{
			"cf.request_id": "trace-test-1", "cf.actor.kind": "api_key", "http.route": "/graphql",
			"http.request.method": "POST", "http.response.status_code": "200",
		} {
			if ra[k] != want {
				t.Errorf("server span %s = %q, want %q", k, ra[k], want)
			}
		}
		if op.Parent.SpanID() != root.SpanContext.SpanID() {
			t.Errorf("operation span's parent is %q, want the server span", byID[op.Parent.SpanID()].Name)
		}
		if field.Parent.SpanID() != op.SpanContext.SpanID() {
			t.Errorf("root-field span's parent is %q, want the operation span", byID[field.Parent.SpanID()].Name)
		}
		var sqlUnderField int
		for _, s := range spans {
			a := attrs(s)
			if a["db.system.name"] == "" {
				continue
			}
			if s.SpanKind != trace.SpanKindClient || a["db.query.text"] == "" {
				t.Errorf("SQL span %q: kind %v, query text %q", s.Name, s.SpanKind, a["db.query.text"])
			}
			if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
				t.Errorf("SQL span %q is in another trace", s.Name)
			}
			for p := s.Parent.SpanID(); p.IsValid(); p = byID[p].Parent.SpanID() {
				if p == field.SpanContext.SpanID() {
					sqlUnderField++
					break
				}
			}
		}
		if sqlUnderField == 0 {
			t.Error("no SQL span under the root field: the resolvers' statements are not traced")
		}
		for _, s := range spans {
			for k, v := range attrs(s) {
				if strings.Contains(v, e.adminKey) || strings.Contains(v, strings.TrimPrefix(e.adminKey, "cfk_")) {
					t.Errorf("span %q attribute %s holds the API key", s.Name, k)
				}
			}
		}
	})
}

// TestMetricsStayBounded checks that operation names clients choose do not
// grow the label values without bound.
func TestMetricsStayBounded(t *testing.T) {
	m := telemetry.NewMetrics("", "")
	// Failing operations take no place: a client sending junk names with
	// errors cannot push the real names out.
	for i := 0; i < telemetry.MaxOperationNames+50; i++ {
		m.ObserveOperation("Junk"+strconv.Itoa(i), "query", "FORBIDDEN", time.Millisecond)
	}
	for i := 0; i < telemetry.MaxOperationNames+50; i++ {
		m.ObserveOperation("Op"+strconv.Itoa(i), "query", "ok", time.Millisecond)
	}
	m.ObserveOperation("Failing", "query", "FORBIDDEN", time.Millisecond) // takes no place
	m.ObserveOperation(strings.Repeat("A", 65), "query", "ok", time.Millisecond)
	m.ObserveOperation("not a name", "query", "ok", time.Millisecond)
	m.ObserveOperation("", "query", "ok", time.Millisecond)
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		if f.GetName() != telemetry.MetricOperations {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "operation" {
					names[l.GetValue()] = true
				}
			}
		}
	}
	for n := range names {
		if strings.HasPrefix(n, "Junk") || n == "Failing" {
			t.Errorf("a name whose operations failed took a place: %s", n)
		}
	}
	if !names["Op0"] || !names["Op"+strconv.Itoa(telemetry.MaxOperationNames-1)] || names["Op"+strconv.Itoa(telemetry.MaxOperationNames)] {
		t.Errorf("the first %d succeeding names should have places, and no later one", telemetry.MaxOperationNames)
	}
	if len(names) != telemetry.MaxOperationNames+2 || !names["other"] || !names["anonymous"] {
		t.Errorf("%d operation label values (other %v, anonymous %v), want %d named plus other and anonymous",
			len(names), names["other"], names["anonymous"], telemetry.MaxOperationNames)
	}
}
