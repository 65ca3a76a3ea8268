package testdb

import (
	"context"
	"sync/atomic"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/storage"
)

// CountingDriver is a dialect.Driver that counts the SQL statements sent
// through it, in its transactions included (BEGIN, COMMIT and ROLLBACK are
// not counted). It is safe for concurrent use.
type CountingDriver struct {
	dialect.Driver
	n atomic.Int64
}

// Count returns the number of statements since the last Reset.
func (d *CountingDriver) Count() int64 { return d.n.Load() }

// Reset sets the count to zero.
func (d *CountingDriver) Reset() { d.n.Store(0) }

// Exec counts a statement and runs it.
func (d *CountingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Exec(ctx, query, args, v)
}

// Query counts a statement and runs it.
func (d *CountingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Query(ctx, query, args, v)
}

// Tx starts a transaction whose statements are counted too.
func (d *CountingDriver) Tx(ctx context.Context) (dialect.Tx, error) {
	tx, err := d.Driver.Tx(ctx)
	if err != nil {
		return nil, err
	}
	return &countingTx{Tx: tx, d: d}, nil
}

type countingTx struct {
	dialect.Tx
	d *CountingDriver
}

func (t *countingTx) Exec(ctx context.Context, query string, args, v any) error {
	t.d.n.Add(1)
	return t.Tx.Exec(ctx, query, args, v)
}

func (t *countingTx) Query(ctx context.Context, query string, args, v any) error {
	t.d.n.Add(1)
	return t.Tx.Query(ctx, query, args, v)
}

// Counted applies the migrations to target and returns an ent client whose
// statements drv counts; both are closed by t.Cleanup.
func Counted(t testing.TB, target Target) (*ent.Client, *CountingDriver) {
	t.Helper()
	Migrated(t, target)
	db, cfg, err := storage.OpenDB(context.Background(), target.URL)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	drv := &CountingDriver{Driver: entsql.OpenDB(cfg.Dialect, db)}
	client := ent.NewClient(ent.Driver(drv))
	t.Cleanup(func() { client.Close() })
	return client, drv
}
