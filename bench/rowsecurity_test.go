package bench_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/storage"
)

// txCounter counts the transactions begun through it (each costs a BEGIN
// and a COMMIT or ROLLBACK round trip, which testdb.CountingDriver does not
// count).
type txCounter struct {
	dialect.Driver
	n atomic.Int64
}

func (d *txCounter) Tx(ctx context.Context) (dialect.Tx, error) {
	d.n.Add(1)
	return d.Driver.Tx(ctx)
}

// BeginTx is Tx: W2 asks for no transaction options.
func (d *txCounter) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	if opts != nil {
		return nil, errors.New("bench: transaction options are not supported here")
	}
	return d.Tx(ctx)
}

func (d *txCounter) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.Driver.(*testdb.CountingDriver).Driver.(*entsql.Driver).ExecContext(ctx, query, args...)
}

func (d *txCounter) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return d.Driver.(*testdb.CountingDriver).Driver.(*entsql.Driver).QueryContext(ctx, query, args...) //nolint:sqlclosecheck // the caller closes them
}

// rlsSide is W2 served by a client whose driver is storage.WithRowSecurity
// over db, counting statements and transactions under the wrapper.
type rlsSide struct {
	name    string
	handler http.Handler
	stmts   *testdb.CountingDriver
	txs     *txCounter
}

func newRLSSide(name string, db *sql.DB) *rlsSide {
	stmts := &testdb.CountingDriver{Driver: entsql.OpenDB(dialect.Postgres, db)}
	txs := &txCounter{Driver: stmts}
	client := ent.NewClient(ent.Driver(storage.WithRowSecurity(txs)))
	return &rlsSide{name: name, stmts: stmts, txs: txs,
		handler: graph.NewHandler(client, graph.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})}
}

// BenchmarkRowSecurityW2 is W2 (the nested members query over the GraphQL
// handler, as the member's API key) on PostgreSQL through the driver of
// storage.NewClient, with row-level security off (connected as the
// tables' owner, a superuser: the driver adds nothing) and on (connected
// as an application role of storage.CreateAppRole: every statement
// carries the actor's settings, statements outside a transaction run in
// one of their own). stmts/op counts the statements ent sends plus the
// set_config ones; roundtrips/op adds BEGIN and COMMIT.
func BenchmarkRowSecurityW2(b *testing.B) {
	if os.Getenv(testdb.EnvPostgres) == "" {
		b.Skipf("row-level security is PostgreSQL's: set %s", testdb.EnvPostgres)
	}
	e := setup(b, dialect.Postgres)
	sides := rlsSides(b, e)
	for _, sh := range w2Shapes {
		body := nestedBody(sh.orgs, sh.members)
		b.Run(sh.name, func(b *testing.B) {
			var want []byte
			for _, s := range sides {
				b.Run(s.name, func(b *testing.B) {
					got, err := serve(s.handler, e.key, body)
					if err != nil {
						b.Fatal(err)
					}
					if want == nil {
						want = got
					} else if !sameJSON(want, got) {
						b.Fatalf("rls=on answers differently from rls=off:\n%s\n%s", want, got)
					}
					s.stmts.Reset()
					t0 := s.txs.n.Load()
					if _, err := serve(s.handler, e.key, body); err != nil {
						b.Fatal(err)
					}
					n, txs := s.stmts.Count(), s.txs.n.Load()-t0
					b.ReportAllocs()
					for b.Loop() {
						if _, err := serve(s.handler, e.key, body); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(n), "stmts/op")
					b.ReportMetric(float64(n+2*txs), "roundtrips/op")
				})
			}
		})
	}
}

// rlsSides returns the W2 sides without and with row-level security, on
// the env's PostgreSQL database.
func rlsSides(tb testing.TB, e *env) []*rlsSide {
	tb.Helper()
	ctx := context.Background()
	var dbName string
	if err := e.sqlDB.QueryRowContext(ctx, "SELECT current_database()").Scan(&dbName); err != nil {
		tb.Fatal(err)
	}
	role := dbName + "_app"
	if err := storage.CreateAppRole(ctx, e.sqlDB, role, ""); err != nil {
		tb.Fatal(err)
	}
	cleanups = append(cleanups, func() {
		_, _ = e.sqlDB.ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role)
		for _, q := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
			if _, err := e.sqlDB.ExecContext(ctx, q); err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s: %v\n", q, err)
				return
			}
		}
	})
	u, err := url.Parse(os.Getenv(testdb.EnvPostgres))
	if err != nil {
		tb.Fatal(err)
	}
	u.Path, u.User = "/"+dbName, url.User(role)
	app, _, err := storage.OpenDB(ctx, u.String())
	if err != nil {
		tb.Fatal(err)
	}
	cleanups = append(cleanups, func() { app.Close() })
	return []*rlsSide{newRLSSide("rls=off", e.sqlDB), newRLSSide("rls=on", app)}
}

// sameJSON reports whether a and b decode to the same value.
func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
