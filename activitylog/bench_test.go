package activitylog_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/storage"
	"github.com/cf/identity/tenancy"
)

// BenchmarkActivityFeed reads page 1 and page 1,000 (50 rows a page) of the
// feed of an organization holding 1M activities (IDENTITY_BENCH_ACTIVITIES
// rows, to try another size), newest first, over the in-process GraphQL
// handler as the organization's owner (API key, privacy on), on every
// dialect: keyset paging makes the two cost about the same. It reports the
// SQL statements per page. The rows are loaded with set-based SQL when the
// benchmark runs.
func BenchmarkActivityFeed(b *testing.B) {
	rows := 1_000_000
	if s := os.Getenv("IDENTITY_BENCH_ACTIVITIES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 60_000 {
			b.Fatalf("IDENTITY_BENCH_ACTIVITIES=%q: want a number of at least 60000", s)
		}
		rows = n
	}
	const (
		page  = 50
		query = `query ($o: ID!, $after: Cursor) { activities(first: 50, after: $after, where: {organizationID: $o}) {
			edges { node { id verb occurredAt actor { display } data } } pageInfo { endCursor } } }`
	)
	for _, d := range testdb.Dialects() {
		b.Run(testdb.Target{Dialect: d}.Name(), func(b *testing.B) {
			target := testdb.New(b, d)
			c, sqlDB := testdb.Migrated(b, target)
			sys := actor.NewContext(context.Background(), actor.System("bench"))
			owner := c.User.Create().SetEmail("owner@bench.test").SetStatus(user.StatusActive).SaveX(sys)
			octx, err := authz.NewContext(context.Background(), c, actor.User(owner.ID, actor.PlatformNone))
			if err != nil {
				b.Fatal(err)
			}
			org, err := tenancy.CreateOrganization(octx, c, ent.CreateOrganizationInput{Name: "Big", Slug: "big"})
			if err != nil {
				b.Fatal(err)
			}
			key, _, err := apikey.Create(sys, c, apikey.Params{Name: "bench", OwnerID: owner.ID, Scopes: []string{actor.ScopeAll}})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			loadFeed(b, sqlDB, d, org.ID, rows)
			b.Logf("%s: %d activities loaded in %s", d, rows, time.Since(start).Round(time.Millisecond))

			db2, scfg, err := storage.OpenDB(context.Background(), target.URL)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db2.Close() })
			drv := &testdb.CountingDriver{Driver: entsql.OpenDB(scfg.Dialect, db2)}
			cc := ent.NewClient(ent.Driver(drv))
			srv := httptest.NewServer(graph.NewHandler(cc, graph.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}))
			b.Cleanup(srv.Close)
			// The cursor after which page 1,000 starts.
			at := c.Activity.Query().Where(activity.OrganizationID(org.ID)).
				Order(ent.Desc(activity.FieldCreatedAt), ent.Asc(activity.FieldID)).Offset(999*page - 1).FirstX(sys)
			var cur strings.Builder
			(&entgql.Cursor[pulid.ID]{ID: at.ID, Value: []any{at.CreatedAt}}).MarshalGQL(&cur)
			after, err := strconv.Unquote(cur.String())
			if err != nil {
				b.Fatal(err)
			}
			fetch := func(b *testing.B, after any) {
				body, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"o": org.ID, "after": after}})
				req, _ := http.NewRequest("POST", srv.URL+"/graphql", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+key)
				res, err := srv.Client().Do(req)
				if err != nil {
					b.Fatal(err)
				}
				defer res.Body.Close()
				var out struct {
					Data struct {
						Activities struct {
							Edges []json.RawMessage
						}
					}
					Errors []json.RawMessage
				}
				if err := json.NewDecoder(res.Body).Decode(&out); err != nil || len(out.Errors) > 0 || len(out.Data.Activities.Edges) != page {
					b.Fatalf("page: %v %s, %d rows", err, out.Errors, len(out.Data.Activities.Edges))
				}
			}
			for _, bb := range []struct {
				name  string
				after any
			}{{"page_1", nil}, {"page_1000", after}} {
				b.Run(bb.name, func(b *testing.B) {
					fetch(b, bb.after) // settles the key's last use
					var statements int64
					for b.Loop() {
						drv.Reset()
						fetch(b, bb.after)
						statements = drv.Count()
					}
					b.ReportMetric(float64(statements), "statements/op")
				})
			}
		})
	}
}

// loadFeed inserts n activities of org in its chain, one a second back
// from now, with one set-based statement.
func loadFeed(b *testing.B, db *sql.DB, d string, org pulid.ID, n int) {
	b.Helper()
	var q string
	cols := "INSERT INTO cf_activities (id, created_at, organization_id, actor_type, verb, object_type, object_id, chain, seq, prev_hash, hash, data)"
	if d == dialect.Postgres {
		q = fmt.Sprintf(`%s SELECT 'act_' || lpad(i::text, 26, '0'), now() - (%d - i) * interval '1 second', $1, 'system', 'test.bench', 'Test', i::text, $1, 1000 + i, '', '', '{"n": 1}'
			FROM generate_series(1, %d) AS s(i)`, cols, n, n)
	} else {
		q = fmt.Sprintf(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d)
			%s SELECT 'act_' || printf('%%026d', i), strftime('%%Y-%%m-%%d %%H:%%M:%%f', julianday('now') - (%d - i) / 86400.0) || '+00:00', ?, 'system', 'test.bench', 'Test', CAST(i AS TEXT), ?, 1000 + i, '', '', '{"n": 1}' FROM s`, n, cols, n)
	}
	args := []any{string(org)}
	if d != dialect.Postgres {
		args = append(args, string(org))
	}
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		b.Fatalf("loading: %v", err)
	}
	if _, err := db.ExecContext(context.Background(), "ANALYZE"); err != nil {
		b.Fatal(err)
	}
}
