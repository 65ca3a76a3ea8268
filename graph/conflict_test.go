package graph_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/storage"
)

// A write that loses a race with another transaction (a PostgreSQL
// deadlock victim, an SQLite database busy past its timeout) is
// authz.ErrConcurrentUpdate for a Go caller and CONFLICT "try again" over
// GraphQL, without the driver's text.
func TestConcurrentUpdateIsConflict(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		ctx := sys()
		a := c.User.Create().SetEmail("a@example.com").SaveX(ctx)
		b := c.User.Create().SetEmail("b@example.com").SaveX(ctx)
		var raw error
		switch db.Dialect {
		case dialect.Postgres:
			// Two transactions update a and b in opposite orders: one of
			// them is chosen as the deadlock victim.
			errs := make([]error, 2)
			var locked, wg sync.WaitGroup
			locked.Add(2)
			for i, order := range [][]*ent.User{{a, b}, {b, a}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tx, err := c.Tx(context.Background())
					if err != nil {
						errs[i] = err
						locked.Done()
						return
					}
					defer func() { _ = tx.Rollback() }()
					err = tx.User.UpdateOne(order[0]).SetFirstName("x").Exec(ctx)
					locked.Done()
					locked.Wait()
					if err == nil {
						err = tx.User.UpdateOne(order[1]).SetFirstName("y").Exec(ctx)
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			raw = errors.Join(errs...)
		case dialect.SQLite:
			// A second client with a short busy timeout cannot begin a
			// write while the first holds one.
			tx, err := c.Tx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = tx.Rollback() })
			other, _, _, err := storage.Open(context.Background(), db.URL+"?_busy_timeout=50")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { other.Close() })
			_, raw = other.Tx(ctx)
		}
		if raw == nil {
			t.Fatal("no transaction got in the way of the other")
		}
		err := authz.Concurrent(raw)
		if !errors.Is(err, authz.ErrConcurrentUpdate) {
			t.Fatalf("authz.Concurrent(%v) does not wrap ErrConcurrentUpdate", raw)
		}
		for name, e := range map[string]error{"driver error": raw, "wrapped": err} {
			g := graph.PresentError(ctx, e)
			if g.Extensions["code"] != graph.CodeConflict || !strings.Contains(g.Message, "try again") {
				t.Errorf("%s: code %v, message %q; want CONFLICT, try again", name, g.Extensions["code"], g.Message)
			}
			for _, leak := range []string{"ERROR", "SQLSTATE", "deadlock", "locked"} {
				if strings.Contains(g.Message, leak) {
					t.Errorf("%s: message leaks %q: %s", name, leak, g.Message)
				}
			}
		}
		if errors.Is(authz.Concurrent(errors.New("unique constraint failed")), authz.ErrConcurrentUpdate) {
			t.Fatal("an unrelated error is taken for a concurrent update")
		}
	})
}
