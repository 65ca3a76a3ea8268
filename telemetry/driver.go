package telemetry

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the instrumentation of the SQL spans.
const tracerName = "github.com/cf/identity/telemetry"

// Driver wraps an ent driver so that every statement is counted into the
// Request of its context and, when the context carries a recording span,
// traced as a child span named for the statement's verb (SELECT, INSERT,
// …) with the SQL text and its placeholders, never its arguments; a failed
// statement's span gets the error's Go type and, from PostgreSQL, its
// SQLSTATE, never its text (drivers quote the values they refuse).
// Transactions get BEGIN, COMMIT and ROLLBACK spans, which are not
// counted. Statements of a context without a span cost no span.
//
// The wrapped driver keeps the methods ent's client asks for: BeginTx,
// ExecContext and QueryContext.
func Driver(d *entsql.Driver) dialect.Driver {
	return &driver{d: d, system: systemOf(d.Dialect())}
}

type driver struct {
	d      *entsql.Driver
	system string
	cached atomic.Pointer[cachedTracer]
}

func systemOf(name string) string {
	switch name {
	case dialect.Postgres:
		return "postgresql"
	case dialect.SQLite:
		return "sqlite"
	case dialect.MySQL:
		return "mysql"
	}
	return name
}

// span starts a child span of ctx's span for a statement, or returns nil
// when ctx's span is not recording.
func (d *driver) span(ctx context.Context, name, query string) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, nil
	}
	return d.tracer(parent.TracerProvider()).Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("db.system.name", d.system),
			attribute.String("db.query.text", query),
		))
}

// tracer returns the tracer of tp, cached: asking a provider for a tracer
// takes its lock, once per statement otherwise.
func (d *driver) tracer(tp trace.TracerProvider) trace.Tracer {
	if c := d.cached.Load(); c != nil && c.tp == tp {
		return c.tracer
	}
	t := tp.Tracer(tracerName)
	d.cached.Store(&cachedTracer{tp: tp, tracer: t})
	return t
}

type cachedTracer struct {
	tp     trace.TracerProvider
	tracer trace.Tracer
}

// end ends span (when not nil) with the outcome of err. The error's text
// is not recorded: drivers quote the values they could not encode or
// store, which may be secrets; the span gets the error's Go type and, from
// PostgreSQL, its SQLSTATE.
func end(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		attrs := []attribute.KeyValue{attribute.String("error.type", fmt.Sprintf("%T", err))}
		var pg *pgconn.PgError
		if errors.As(err, &pg) {
			attrs = append(attrs, attribute.String("db.response.status_code", pg.Code))
		}
		span.SetAttributes(attrs...)
		span.SetStatus(codes.Error, "statement failed")
	}
	span.End()
}

// verb returns the first word of query, upper-cased: the span name.
func verb(query string) string {
	q := strings.TrimLeft(query, " \t\r\n(")
	if i := strings.IndexAny(q, " \t\r\n("); i > 0 {
		q = q[:i]
	}
	if len(q) > 16 || q == "" {
		return "SQL"
	}
	return strings.ToUpper(q)
}

func (d *driver) Exec(ctx context.Context, query string, args, v any) (err error) {
	countStatement(ctx)
	ctx, span := d.span(ctx, verb(query), query)
	defer func() { end(span, err) }()
	return d.d.Exec(ctx, query, args, v)
}

func (d *driver) Query(ctx context.Context, query string, args, v any) (err error) {
	countStatement(ctx)
	ctx, span := d.span(ctx, verb(query), query)
	defer func() { end(span, err) }()
	return d.d.Query(ctx, query, args, v)
}

func (d *driver) ExecContext(ctx context.Context, query string, args ...any) (_ stdsql.Result, err error) {
	countStatement(ctx)
	ctx, span := d.span(ctx, verb(query), query)
	defer func() { end(span, err) }()
	return d.d.ExecContext(ctx, query, args...)
}

func (d *driver) QueryContext(ctx context.Context, query string, args ...any) (_ *stdsql.Rows, err error) {
	countStatement(ctx)
	ctx, span := d.span(ctx, verb(query), query)
	defer func() { end(span, err) }()
	return d.d.QueryContext(ctx, query, args...) //nolint:sqlclosecheck // the rows go to the caller, who closes them
}

func (d *driver) Tx(ctx context.Context) (dialect.Tx, error) { return d.BeginTx(ctx, nil) }

// BeginTx starts a transaction with options (ent's Client.BeginTx).
func (d *driver) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (dialect.Tx, error) {
	_, span := d.span(ctx, "BEGIN", "BEGIN")
	t, err := d.d.BeginTx(ctx, opts)
	end(span, err)
	if err != nil {
		return nil, err
	}
	return &spanTx{tx: t.(*entsql.Tx), d: d, ctx: ctx}, nil
}

func (d *driver) Close() error    { return d.d.Close() }
func (d *driver) Dialect() string { return d.d.Dialect() }

// DB returns the *sql.DB under the driver.
func (d *driver) DB() *stdsql.DB { return d.d.DB() }

type spanTx struct {
	tx  *entsql.Tx
	d   *driver
	ctx context.Context // of BeginTx: COMMIT and ROLLBACK spans hang there
}

func (t *spanTx) Exec(ctx context.Context, query string, args, v any) (err error) {
	countStatement(ctx)
	ctx, span := t.d.span(ctx, verb(query), query)
	defer func() { end(span, err) }()
	return t.tx.Exec(ctx, query, args, v)
}

func (t *spanTx) Query(ctx context.Context, query string, args, v any) (err error) {
	countStatement(ctx)
	ctx, span := t.d.span(ctx, verb(query), query)
	defer func() { end(span, err) }()
	return t.tx.Query(ctx, query, args, v)
}

func (t *spanTx) ExecContext(ctx context.Context, query string, args ...any) (_ stdsql.Result, err error) {
	countStatement(ctx)
	ctx, span := t.d.span(ctx, verb(query), query)
	defer func() { end(span, err) }()
	return t.tx.ExecContext(ctx, query, args...)
}

func (t *spanTx) QueryContext(ctx context.Context, query string, args ...any) (_ *stdsql.Rows, err error) {
	countStatement(ctx)
	ctx, span := t.d.span(ctx, verb(query), query)
	defer func() { end(span, err) }()
	return t.tx.QueryContext(ctx, query, args...) //nolint:sqlclosecheck // the rows go to the caller, who closes them
}

func (t *spanTx) Commit() error {
	_, span := t.d.span(t.ctx, "COMMIT", "COMMIT")
	err := t.tx.Commit()
	end(span, err)
	return err
}

// Rollback rolls the transaction back. A rollback after the transaction
// ended (callers roll back after a failed COMMIT) is not a failed span.
func (t *spanTx) Rollback() error {
	_, span := t.d.span(t.ctx, "ROLLBACK", "ROLLBACK")
	err := t.tx.Rollback()
	if errors.Is(err, stdsql.ErrTxDone) {
		end(span, nil)
		return err
	}
	end(span, err)
	return err
}
