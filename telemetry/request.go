package telemetry

import (
	"context"
	"sync/atomic"
)

// Request measures one request: the SQL statements Driver sends for it
// and the Metrics that the recording functions reach through its context.
type Request struct {
	m          *Metrics
	statements atomic.Int64
}

type requestKey struct{}

// NewRequest returns ctx carrying a new Request recording into m (which
// may be nil: statements are still counted).
func NewRequest(ctx context.Context, m *Metrics) (context.Context, *Request) {
	r := &Request{m: m}
	return context.WithValue(ctx, requestKey{}, r), r
}

// RequestFrom returns the Request of ctx, or nil.
func RequestFrom(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}

// Statements returns the number of SQL statements counted so far.
func (r *Request) Statements() int64 {
	if r == nil {
		return 0
	}
	return r.statements.Load()
}

// Metrics returns the Metrics the request records into, or nil.
func (r *Request) Metrics() *Metrics {
	if r == nil {
		return nil
	}
	return r.m
}

func countStatement(ctx context.Context) {
	if r := RequestFrom(ctx); r != nil {
		r.statements.Add(1)
	}
}

// Kinds of credentials, for Authenticated.
const (
	CredentialAPIKey      = "api_key"
	CredentialAccessToken = "access_token"
	CredentialPassword    = "password"
	CredentialRefresh     = "refresh_token"
	CredentialNone        = "none"
	CredentialUnknown     = "unknown"
)

// Authenticated records the result of checking a credential of the given
// kind: "ok", or why it was refused ("missing", "malformed", "invalid",
// "expired", "inactive", "not_member", "rate_limited", "unavailable", …).
// Sign-ins refused by a rate limit count as "rate_limited" too.
func Authenticated(ctx context.Context, credential, result string) {
	if m := RequestFrom(ctx).Metrics(); m != nil {
		m.auths.WithLabelValues(credential, result).Inc()
	}
}

// Limits that refuse requests, for RateLimited.
const (
	LimitAuthFailures = "auth_failures"
	LimitAuthIP       = "auth_ip"
	LimitAuthAccount  = "auth_account"
	LimitExports      = "exports"
)

// RateLimited records a request refused by the named limit.
func RateLimited(ctx context.Context, limit string) {
	if m := RequestFrom(ctx).Metrics(); m != nil {
		m.rateLimited.WithLabelValues(limit).Inc()
	}
}

// ActivityRows records n activity rows inserted into chains of the given
// kind ("organization" or "platform"). It is called at the insert, inside
// the transaction of the change: the rare transaction that then fails to
// commit is still counted. Rows written outside a request (background
// jobs, the CLI) are not.
func ActivityRows(ctx context.Context, chain string, n int) {
	if m := RequestFrom(ctx).Metrics(); m != nil && n > 0 {
		m.activityRows.WithLabelValues(chain).Add(float64(n))
	}
}
