// Package txn runs the domain operations of the module in transactions.
package txn

import (
	"context"
	"errors"

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
			return zero, authz.Concurrent(cerr)
		}
		return v, k.err
	case err != nil:
		_ = tx.Rollback()
		return zero, authz.Concurrent(err)
	}
	if err := tx.Commit(); err != nil {
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
