// Package txn runs the domain operations of the module in transactions.
package txn

import (
	"context"
	"errors"
	"sync"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
)

// Run runs fn in a transaction of client, or in the caller's transaction
// when client already is transactional. A database error that means
// "another transaction got in the way" is returned wrapped with
// authz.ErrConcurrentUpdate (see authz.Concurrent); a transaction of its
// own is then rolled back. When fn returns an error made by Keep, the
// transaction is committed all the same and the error given to Keep is
// returned: a refused sign-in keeps its failure count and activity.
func Run[T any](ctx context.Context, client *ent.Client, fn func(*ent.Client) (T, error)) (T, error) {
	var zero T
	tx, err := client.Tx(ctx)
	if err == nil {
		Track(tx)
	}
	if errors.Is(err, ent.ErrTxStarted) {
		v, err := fn(client)
		var k *kept
		if errors.As(err, &k) {
			return v, k.err
		}
		return v, authz.Concurrent(err)
	}
	if err != nil {
		return zero, authz.Concurrent(err)
	}
	v, err := fn(tx.Client())
	var k *kept
	switch {
	case errors.As(err, &k):
		if cerr := tx.Commit(); cerr != nil {
			_ = tx.Rollback()
			return zero, authz.Concurrent(cerr)
		}
		return v, k.err
	case err != nil:
		_ = tx.Rollback()
		return zero, authz.Concurrent(err)
	}
	if err := tx.Commit(); err != nil {
		// A commit hook (the trail's) may fail before the commit: the
		// transaction is still open.
		_ = tx.Rollback()
		return zero, authz.Concurrent(err)
	}
	return v, nil
}

// kept is an error after which the transaction commits.
type kept struct{ err error }

func (k *kept) Error() string { return k.err.Error() }
func (k *kept) Unwrap() error { return k.err }

// Keep returns err marked so that Run commits what the transaction wrote
// before returning err.
func Keep(err error) error { return &kept{err: err} }

// ForUpdate locks the rows a query selects until the end of the
// transaction (PostgreSQL; SQLite has no FOR clause and runs one writer at
// a time).
func ForUpdate(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate()
	}
}

// AfterCommit runs fn once the work of ctx is committed: at the commit of
// the transaction of ctx (ent.TxFromContext: the request transaction of
// the GraphQL server), or at once when ctx carries none, for callers that
// call it after Run returned. fn does not run when that transaction rolls
// back or its commit fails.
func AfterCommit(ctx context.Context, fn func()) {
	tx := ent.TxFromContext(ctx)
	if tx == nil {
		fn()
		return
	}
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			err := next.Commit(ctx, tx)
			if err == nil {
				fn()
			}
			return err
		})
	})
}

// tracked holds the state of the transactions begun by Run or passed to
// Track, by their client (ent.Tx.Client returns one client per
// transaction).
var tracked sync.Map // ent.Client.TxKey() -> *local

type local struct {
	mu     sync.Mutex
	values map[any]any
	before []func(context.Context) error
}

// Track makes tx known to Local: values stored for it live until it ends,
// and their before-commit functions run when it commits, in the order they
// were registered; one failing fails the commit (the caller then rolls
// back). Run tracks its transactions; the GraphQL server tracks its request
// transactions; package trail tracks any other transaction it writes in
// (a Go app's own client.Tx). Tracking a transaction again does nothing.
func Track(tx *ent.Tx) {
	l := &local{values: map[any]any{}}
	c := tx.Client().TxKey()
	if _, loaded := tracked.LoadOrStore(c, l); loaded {
		return // tracked already
	}
	tx.OnCommit(func(next ent.Committer) ent.Committer {
		return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
			for {
				l.mu.Lock()
				before := l.before
				l.before = nil
				l.mu.Unlock()
				if len(before) == 0 {
					break
				}
				for _, fn := range before {
					if err := fn(ctx); err != nil {
						// Nothing is committed: end the transaction here,
						// releasing its locks, whatever the caller does.
						_ = tx.Rollback()
						return err
					}
				}
			}
			tracked.Delete(c)
			return next.Commit(ctx, tx)
		})
	})
	tx.OnRollback(func(next ent.Rollbacker) ent.Rollbacker {
		return ent.RollbackFunc(func(ctx context.Context, tx *ent.Tx) error {
			tracked.Delete(c)
			return next.Rollback(ctx, tx)
		})
	})
}

// Local returns the value of key in the tracked transaction of client (the
// transaction's client, or a mutation's client in it), made by mk on first
// use, when it also registers before (called with that value just before
// the transaction commits). ok is false when client is not a tracked
// transaction: the caller then does its work at once.
func Local[T any](client *ent.Client, key any, mk func() *T, before func(context.Context, *T) error) (v *T, ok bool) {
	k := client.TxKey()
	if k == nil {
		return nil, false
	}
	x, found := tracked.Load(k)
	if !found {
		return nil, false
	}
	l := x.(*local)
	l.mu.Lock()
	defer l.mu.Unlock()
	if v, ok := l.values[key]; ok {
		return v.(*T), true
	}
	nv := mk()
	l.values[key] = nv
	l.before = append(l.before, func(ctx context.Context) error { return before(ctx, nv) })
	return nv, true
}
