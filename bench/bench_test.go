package bench_test

import (
	"context"
	"testing"
)

// The benchmarks of issue 14. Each runs db=<dialect>/impl=<side>, reports
// allocations and the SQL statements of one operation (stmts/op); compare
// runs with benchstat. The activity feed (page 1 vs page 1,000, W5) is
// BenchmarkActivityFeed in package activitylog.

// side is one implementation of a workload: op runs one operation (its
// statements are counted by e.drv for the product, e.base for the
// baseline).
type side struct {
	name string
	op   func(ctx context.Context) error
}

// sides returns the product's and the baseline's side of a workload
// whose product side is named product ("ent" or "server").
func (e *env) sides(product string, ent, base func(context.Context) error) []side {
	return []side{{"impl=" + product, ent}, {"impl=baseline", base}}
}

// statements runs op once and returns the statements it ran on its side.
func (e *env) statements(ctx context.Context, s side) (int64, error) {
	e.drv.Reset()
	e.base.n.Store(0)
	err := s.op(ctx)
	return e.drv.Count() + e.base.n.Load(), err
}

func runSides(b *testing.B, e *env, sides []side) {
	ctx := context.Background()
	for _, s := range sides {
		b.Run(s.name, func(b *testing.B) {
			// One operation before measuring: it settles what the
			// product writes at most once a minute (the key's last use)
			// and counts the statements of a steady operation.
			if err := s.op(ctx); err != nil {
				b.Fatal(err)
			}
			n, err := e.statements(ctx, s)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			cpu0, cpuOK := processCPU()
			for b.Loop() {
				if err := s.op(ctx); err != nil {
					b.Fatal(err)
				}
			}
			if cpu1, _ := processCPU(); cpuOK {
				// The process's CPU time (all goroutines, GC and, on
				// SQLite, the database) per operation: wall time hides
				// work spread over cores.
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
			}
			b.ReportMetric(float64(n), "stmts/op")
		})
	}
}

// workloads lists the operations of W1–W4 of an env by benchmark name.
func (e *env) workloads() map[string][]side {
	w := map[string][]side{
		"W1ReadByID": e.sides("ent",
			func(ctx context.Context) error { _, err := e.w1Ent(ctx); return err },
			func(ctx context.Context) error { _, err := e.w1Base(ctx); return err }),
		"W3AuthAPIKey": e.sides("ent",
			func(ctx context.Context) error { _, err := e.w3Ent(ctx, e.key); return err },
			func(ctx context.Context) error { _, err := e.w3BaseKey(ctx, e.key); return err }),
		"W3AuthAccessToken": e.sides("ent",
			func(ctx context.Context) error { _, err := e.w3Ent(ctx, e.access); return err },
			func(ctx context.Context) error { _, err := e.w3BaseToken(ctx, e.access); return err }),
		"W4CreateAPIKey": e.sides("ent",
			func(ctx context.Context) error { _, err := e.w4Ent(ctx); return err },
			func(ctx context.Context) error { _, err := e.w4Base(ctx); return err }),
	}
	base := e.baselineHandler()
	for _, s := range w2Shapes {
		body := nestedBody(s.orgs, s.members)
		w["W2Nested/"+s.name] = e.sides("server",
			func(context.Context) error { _, err := serve(e.handler, e.key, body); return err },
			func(context.Context) error { _, err := serve(base, e.key, body); return err })
	}
	return w
}

// BenchmarkW1ReadByID reads one membership by ID as a member: the ent
// client with privacy on and the grants resolved, vs one QueryRow with the
// same tenant predicate.
func BenchmarkW1ReadByID(b *testing.B) {
	eachDialect(b, func(b *testing.B, e *env) { runSides(b, e, e.workloads()["W1ReadByID"]) })
}

// BenchmarkW2Nested sends the nested admin-page query (orgs=10x20: 10
// organizations, the first 20 memberships of each, their users and
// roles, totals; orgs=1x50: one organization, 50 memberships) with the
// member's API key to the in-process GraphQL handler (graph.NewHandler),
// vs a net/http handler that authenticates the key, resolves the grants
// and answers the same JSON in five statements.
func BenchmarkW2Nested(b *testing.B) {
	eachDialect(b, func(b *testing.B, e *env) {
		w := e.workloads()
		for _, s := range w2Shapes {
			b.Run(s.name, func(b *testing.B) { runSides(b, e, w["W2Nested/"+s.name]) })
		}
	})
}

// BenchmarkW3Auth turns a credential into an actor (credential.Authenticate,
// grants not resolved): the member's API key, and an access token of a
// session, vs hand-written checks of the same.
func BenchmarkW3Auth(b *testing.B) {
	eachDialect(b, func(b *testing.B, e *env) {
		w := e.workloads()
		b.Run("cred=apikey", func(b *testing.B) { runSides(b, e, w["W3AuthAPIKey"]) })
		b.Run("cred=token", func(b *testing.B) { runSides(b, e, w["W3AuthAccessToken"]) })
	})
}

// BenchmarkW4CreateAPIKey creates a personal API key as the member
// (credential.CreateAPIKey: policy, transaction, activity and its hash
// chain), vs a transaction of two inserts.
func BenchmarkW4CreateAPIKey(b *testing.B) {
	eachDialect(b, func(b *testing.B, e *env) { runSides(b, e, e.workloads()["W4CreateAPIKey"]) })
}
