package telemetry

import (
	"context"
	stdsql "database/sql"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the instrumentation of the SQL spans.
const tracerName = "github.com/cf/identity/telemetry"

// Driver wraps an ent driver so that every statement is counted into the
// Request of its context and, when the context carries a recording span,
// traced as a child span named for the statement's verb (SELECT, INSERT,
// …) with the SQL text and its placeholders, never its arguments.
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
	return parent.TracerProvider().Tracer(tracerName).Start(ctx, name,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("db.system.name", d.system),
			attribute.String("db.query.text", query),
		))
}

func end(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
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

func (d *driver) Exec(ctx context.Context, query string, args, v any) error {
	countStatement(ctx)
	ctx, span := d.span(ctx, verb(query), query)
	err := d.d.Exec(ctx, query, args, v)
	end(span, err)
	return err
}

func (d *driver) Query(ctx context.Context, query string, args, v any) error {
	countStatement(ctx)
	ctx, span := d.span(ctx, verb(query), query)
	err := d.d.Query(ctx, query, args, v)
	end(span, err)
	return err
}

func (d *driver) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	countStatement(ctx)
	ctx, span := d.span(ctx, verb(query), query)
	res, err := d.d.ExecContext(ctx, query, args...)
	end(span, err)
	return res, err
}

func (d *driver) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	countStatement(ctx)
	ctx, span := d.span(ctx, verb(query), query)
	rows, err := d.d.QueryContext(ctx, query, args...)
	end(span, err)
	return rows, err
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

func (t *spanTx) Exec(ctx context.Context, query string, args, v any) error {
	countStatement(ctx)
	ctx, span := t.d.span(ctx, verb(query), query)
	err := t.tx.Exec(ctx, query, args, v)
	end(span, err)
	return err
}

func (t *spanTx) Query(ctx context.Context, query string, args, v any) error {
	countStatement(ctx)
	ctx, span := t.d.span(ctx, verb(query), query)
	err := t.tx.Query(ctx, query, args, v)
	end(span, err)
	return err
}

func (t *spanTx) ExecContext(ctx context.Context, query string, args ...any) (stdsql.Result, error) {
	countStatement(ctx)
	ctx, span := t.d.span(ctx, verb(query), query)
	res, err := t.tx.ExecContext(ctx, query, args...)
	end(span, err)
	return res, err
}

func (t *spanTx) QueryContext(ctx context.Context, query string, args ...any) (*stdsql.Rows, error) {
	countStatement(ctx)
	ctx, span := t.d.span(ctx, verb(query), query)
	rows, err := t.tx.QueryContext(ctx, query, args...)
	end(span, err)
	return rows, err
}

func (t *spanTx) Commit() error {
	_, span := t.d.span(t.ctx, "COMMIT", "COMMIT")
	err := t.tx.Commit()
	end(span, err)
	return err
}

func (t *spanTx) Rollback() error {
	_, span := t.d.span(t.ctx, "ROLLBACK", "ROLLBACK")
	err := t.tx.Rollback()
	end(span, err)
	return err
}
