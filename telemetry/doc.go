// Package telemetry holds what an operator reads of a running server:
// Prometheus metrics (Metrics, served by Metrics.Handler on a listener of
// its own), OpenTelemetry tracing configured by the standard OTEL_*
// environment variables (TracingFromEnv), and the ent driver wrapper
// (Driver) that counts the SQL statements of a request and traces each
// one as a child span.
//
// A request is measured through its context: NewRequest puts a Request on
// it, Driver counts statements into it, and the recording functions
// (RateLimited, Authenticated, ActivityRows) reach the Metrics of that
// request. Without a Request on the context they do nothing, so a CLI
// command or a Go app that never asked for metrics pays a context lookup
// and no more.
//
// Nothing recorded carries a secret: labels are route patterns, operation
// names, outcome codes and credential kinds; spans carry the SQL text with
// its placeholders, never the arguments.
package telemetry
