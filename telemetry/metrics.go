package telemetry

import (
	"database/sql"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names, as a scrape shows them.
const (
	MetricHTTPRequests         = "identity_http_requests_total"
	MetricHTTPDuration         = "identity_http_request_duration_seconds"
	MetricOperations           = "identity_graphql_operations_total"
	MetricOperationDuration    = "identity_graphql_operation_duration_seconds"
	MetricAuthentications      = "identity_authentications_total"
	MetricStatementsPerRequest = "identity_sql_statements_per_request"
	MetricRateLimited          = "identity_rate_limited_total"
	MetricActivityRows         = "identity_activity_rows_written_total"
	MetricBuildInfo            = "identity_build_info"
)

// MaxOperationNames is how many distinct GraphQL operation names get a
// label value of their own; later names are counted as "other", so that
// clients choosing names cannot grow the metrics without bound. A name
// takes a place only once an operation of that name succeeded: failing
// requests cannot fill the places.
const MaxOperationNames = 200

// Operation label values that are not names.
const (
	OperationAnonymous = "anonymous" // an operation without a name
	OperationOther     = "other"     // past MaxOperationNames, too long, or not yet succeeded
	OperationUnparsed  = "unparsed"  // a document that did not parse or validate
)

// Metrics holds the server's Prometheus collectors in a registry of its
// own (with the Go runtime and process collectors). Its methods may be
// called on a nil *Metrics, which records nothing. It is safe for
// concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	operations   *prometheus.CounterVec
	opDuration   *prometheus.HistogramVec
	auths        *prometheus.CounterVec
	statements   *prometheus.HistogramVec
	rateLimited  *prometheus.CounterVec
	activityRows *prometheus.CounterVec

	mu    sync.Mutex
	names map[string]bool
}

// NewMetrics returns Metrics in a new registry. version and revision
// label identity_build_info (revision may be empty).
func NewMetrics(version, revision string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricHTTPRequests,
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricHTTPDuration,
			Help:    "Time to answer an HTTP request, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricOperations,
			Help: `GraphQL operations, by operation name ("anonymous" without one, "unparsed" for documents that did not parse or validate, "other" past ` + strconv.Itoa(MaxOperationNames) + ` names), type and outcome ("ok" or the first error's extensions.code).`,
		}, []string{"operation", "type", "outcome"}),
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricOperationDuration,
			Help:    "Time from reading a GraphQL operation to its response, by operation name and type.",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation", "type"}),
		auths: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricAuthentications,
			Help: "Credential checks of requests and sign-ins, by credential kind and result.",
		}, []string{"credential", "result"}),
		statements: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricStatementsPerRequest,
			Help:    "SQL statements sent for one HTTP request (BEGIN, COMMIT and ROLLBACK not counted), by route pattern.",
			Buckets: []float64{0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89},
		}, []string{"route"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricRateLimited,
			Help: "Requests refused with HTTP 429 RATE_LIMITED, by the limit that refused them.",
		}, []string{"limit"}),
		activityRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricActivityRows,
			Help: `Activity rows inserted into the hash chains by requests, by chain ("organization" or "platform"); counted at the insert, inside the transaction of the change.`,
		}, []string{"chain"}),
		names: map[string]bool{},
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricBuildInfo,
		Help: "Always 1; its labels name the module version and VCS revision of the binary.",
	}, []string{"version", "revision"})
	build.WithLabelValues(version, revision).Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build,
		m.httpRequests, m.httpDuration, m.operations, m.opDuration,
		m.auths, m.statements, m.rateLimited, m.activityRows,
	)
	return m
}

// Registry returns the registry of m, for an embedding application to add
// collectors of its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RegisterDB adds the connection-pool statistics of db (go_sql_* metrics
// labelled db_name=name).
func (m *Metrics) RegisterDB(db *sql.DB, name string) error {
	return m.reg.Register(collectors.NewDBStatsCollector(db, name))
}

// Handler serves the metrics of m in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveHTTP records one answered HTTP request: its route pattern ("" for
// no route: "unmatched"), method, status code, duration and the number of
// SQL statements it sent.
func (m *Metrics) ObserveHTTP(route, method string, code int, d time.Duration, statements int64) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.httpRequests.WithLabelValues(route, MethodLabel(method), strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
	m.statements.WithLabelValues(route).Observe(float64(statements))
}

// ObserveOperation records one GraphQL response: the operation name as
// the client sent it, its type (query, mutation, subscription; "unknown"
// when the document did not parse), its outcome and its duration.
func (m *Metrics) ObserveOperation(name, typ, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	name = m.operationLabel(name, outcome == "ok")
	m.operations.WithLabelValues(name, typ, outcome).Inc()
	m.opDuration.WithLabelValues(name, typ).Observe(d.Seconds())
}

// operationLabel bounds the label values of operation names: a name that
// is not a GraphQL name, or is longer than 64 bytes, or comes after
// MaxOperationNames others, is "other"; a name not seen before takes a
// place only when ok (its operation succeeded), and is "other" until then.
func (m *Metrics) operationLabel(name string, ok bool) string {
	switch {
	case name == "":
		return OperationAnonymous
	case name == OperationUnparsed:
		return name
	case len(name) > 64 || !isName(name):
		return OperationOther
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[name] {
		return name
	}
	if !ok || len(m.names) >= MaxOperationNames {
		return OperationOther
	}
	m.names[name] = true
	return name
}

// isName reports whether s is a GraphQL name: /[_A-Za-z][_0-9A-Za-z]*/.
func isName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// MethodLabel returns method when it is a standard HTTP method the server
// answers, and "other" for anything else: a bounded label or span name.
func MethodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}
