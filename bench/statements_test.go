package bench_test

import (
	"context"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/internal/testdb"
)

// TestStatementCounts pins the SQL statements of one steady operation of
// each workload (after the first, which may record a key's use), product
// and baseline, on each dialect. A change of the product's count fails
// here: update a count only with a reason (and the README's Performance
// table).
func TestStatementCounts(t *testing.T) {
	cases := []struct {
		workload, impl, dialect string
		want                    int64
	}{
		// W1: the read; the grants are resolved before.
		{"W1ReadByID", "impl=ent", dialect.SQLite, 1},
		{"W1ReadByID", "impl=ent", dialect.Postgres, 1},
		{"W1ReadByID", "impl=baseline", dialect.SQLite, 1},
		{"W1ReadByID", "impl=baseline", dialect.Postgres, 1},
		// W2: key with its owner (1), grants (user joined with its
		// memberships and their roles: 1),
		// organizations and their count (2), memberships and their
		// grouped count (2), users (1), roles (1); the same for one
		// organization of 50 members (constant in the page size).
		{"W2Nested/orgs=10x20", "impl=server", dialect.SQLite, 8},
		{"W2Nested/orgs=10x20", "impl=server", dialect.Postgres, 8},
		{"W2Nested/orgs=10x20", "impl=baseline", dialect.SQLite, 5},
		{"W2Nested/orgs=10x20", "impl=baseline", dialect.Postgres, 5},
		{"W2Nested/orgs=1x50", "impl=server", dialect.SQLite, 8},
		{"W2Nested/orgs=1x50", "impl=server", dialect.Postgres, 8},
		{"W2Nested/orgs=1x50", "impl=baseline", dialect.SQLite, 5},
		{"W2Nested/orgs=1x50", "impl=baseline", dialect.Postgres, 5},
		// W3: an API key is found joined with its owner, its use
		// collected for the background writer (no write); an access
		// token's session is one lookup.
		{"W3AuthAPIKey", "impl=ent", dialect.SQLite, 1},
		{"W3AuthAPIKey", "impl=ent", dialect.Postgres, 1},
		{"W3AuthAPIKey", "impl=baseline", dialect.SQLite, 1},
		{"W3AuthAPIKey", "impl=baseline", dialect.Postgres, 1},
		{"W3AuthAccessToken", "impl=ent", dialect.SQLite, 1},
		{"W3AuthAccessToken", "impl=ent", dialect.Postgres, 1},
		{"W3AuthAccessToken", "impl=baseline", dialect.SQLite, 1},
		{"W3AuthAccessToken", "impl=baseline", dialect.Postgres, 1},
		// W4: the key's insert, then at commit the trail's write: the
		// chain head's locking read, its update (one statement: a bulk
		// update of the locked row), the activity's insert.
		{"W4CreateAPIKey", "impl=ent", dialect.SQLite, 4},
		{"W4CreateAPIKey", "impl=ent", dialect.Postgres, 4},
		{"W4CreateAPIKey", "impl=baseline", dialect.SQLite, 2},
		{"W4CreateAPIKey", "impl=baseline", dialect.Postgres, 2},
	}
	ctx := context.Background()
	for _, d := range testdb.Dialects() {
		e := setup(t, d)
		w := e.workloads()
		for _, c := range cases {
			if c.dialect != d {
				continue
			}
			t.Run(c.workload+"/db="+testdb.Target{Dialect: d}.Name()+"/"+c.impl, func(t *testing.T) {
				var s *side
				for i := range w[c.workload] {
					if w[c.workload][i].name == c.impl {
						s = &w[c.workload][i]
					}
				}
				if s == nil {
					t.Fatalf("no side %s of %s", c.impl, c.workload)
				}
				if err := s.op(ctx); err != nil { // settles the key's last use
					t.Fatal(err)
				}
				got, err := e.statements(ctx, *s)
				if err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					t.Errorf("%d statements, want %d (update the pinned count only with a reason)", got, c.want)
				}
			})
		}
	}
}
