package activitylog_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/activitylog"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/audit"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/pulid"
)

// env is a migrated database with rows in two chains.
type env struct {
	c   *ent.Client
	db  *sql.DB
	d   string
	sys context.Context
	org string
}

func setup(t *testing.T, target testdb.Target, rows int) *env {
	t.Helper()
	c, db := testdb.Migrated(t, target)
	e := &env{c: c, db: db, d: target.Dialect, sys: actor.NewContext(context.Background(), actor.System("test")), org: string(pulid.New("org"))}
	for i := range rows {
		e.record(t, pulid.ID(e.org), fmt.Sprintf("test.step_%c", 'a'+i))
		e.record(t, "", fmt.Sprintf("test.platform_%c", 'a'+i))
	}
	return e
}

func (e *env) record(t *testing.T, org pulid.ID, verb string) {
	t.Helper()
	err := trail.Record(e.sys, e.c, trail.Event{Verb: verb, Organization: org, ObjectType: "Test", ObjectID: pulid.New("tst"),
		Data: map[string]any{"n": 1.5, "nested": map[string]any{"b": []any{"x", 2.0}, "a": true}, "email": "a@example.com"}})
	if err != nil {
		t.Fatalf("record %s: %v", verb, err)
	}
}

// exec runs a tampering statement with ? placeholders.
func (e *env) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if e.d == dialect.Postgres {
		for i := 1; strings.Contains(q, "?"); i++ {
			q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	if _, err := e.db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (e *env) verify(t *testing.T, chain string) *activitylog.Report {
	t.Helper()
	r, err := activitylog.Verify(e.sys, e.c, chain)
	if err != nil {
		t.Fatalf("verify %s: %v", chain, err)
	}
	return r
}

// TestVerifyFindsTampering: an intact chain verifies; each kind of
// tampering done in the database is reported at the row it touched.
func TestVerifyFindsTampering(t *testing.T) {
	cases := []struct {
		name    string
		tamper  func(t *testing.T, e *env)
		kind    activitylog.ProblemKind
		wantSeq int64
	}{
		{"intact", func(*testing.T, *env) {}, "", 0},
		{"verb edited", func(t *testing.T, e *env) {
			e.exec(t, "UPDATE cf_activities SET verb = 'test.innocent' WHERE chain = ? AND seq = 3", e.org)
		}, activitylog.Altered, 3},
		{"data edited", func(t *testing.T, e *env) {
			e.exec(t, "UPDATE cf_activities SET data = ? WHERE chain = ? AND seq = 2", `{"n":2}`, e.org)
		}, activitylog.Altered, 2},
		{"actor edited", func(t *testing.T, e *env) {
			e.exec(t, "UPDATE cf_activities SET actor_label = 'someone else' WHERE chain = ? AND seq = 4", e.org)
		}, activitylog.Altered, 4},
		{"time edited", func(t *testing.T, e *env) {
			e.exec(t, "UPDATE cf_activities SET created_at = ? WHERE chain = ? AND seq = 1", time.Now().Add(-time.Hour), e.org)
		}, activitylog.Altered, 1},
		{"row deleted", func(t *testing.T, e *env) {
			e.exec(t, "DELETE FROM cf_activities WHERE chain = ? AND seq = 3", e.org)
		}, activitylog.Missing, 3},
		{"first row deleted", func(t *testing.T, e *env) {
			e.exec(t, "DELETE FROM cf_activities WHERE chain = ? AND seq = 1", e.org)
		}, activitylog.Missing, 1},
		{"newest rows deleted", func(t *testing.T, e *env) {
			e.exec(t, "DELETE FROM cf_activities WHERE chain = ? AND seq >= 4", e.org)
		}, activitylog.Truncated, 4},
		{"rows reordered", func(t *testing.T, e *env) {
			e.exec(t, "UPDATE cf_activities SET seq = 100 WHERE chain = ? AND seq = 2", e.org)
			e.exec(t, "UPDATE cf_activities SET seq = 2 WHERE chain = ? AND seq = 3", e.org)
			e.exec(t, "UPDATE cf_activities SET seq = 3 WHERE chain = ? AND seq = 100", e.org)
		}, activitylog.Altered, 2},
		{"row moved to another chain", func(t *testing.T, e *env) {
			e.exec(t, "UPDATE cf_activities SET chain = 'platform', seq = 1000 WHERE chain = ? AND seq = 5", e.org)
		}, activitylog.Truncated, 5},
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e := setup(t, db, 5)
				tc.tamper(t, e)
				r := e.verify(t, e.org)
				switch {
				case tc.kind == "" && !r.OK():
					t.Fatalf("intact chain reported broken: %v", r.Problem)
				case tc.kind == "":
					if r.Rows != 5 || r.From != 1 || r.To != 5 {
						t.Errorf("report = %+v, want 5 rows 1..5", r)
					}
				case r.OK():
					t.Fatalf("tampering not found: %+v", r)
				case r.Problem.Kind != tc.kind || r.Problem.Seq != tc.wantSeq:
					t.Errorf("problem = %v, want %s at %d", r.Problem, tc.kind, tc.wantSeq)
				case !errors.Is(r.Problem, activitylog.ErrBroken):
					t.Errorf("problem %v does not match ErrBroken", r.Problem)
				}
				// The other chain is untouched in every case but the move.
				if p := e.verify(t, activitylog.PlatformChain); !p.OK() && tc.name != "row moved to another chain" {
					t.Errorf("platform chain: %v", p.Problem)
				}
			})
		}
		t.Run("unknown chain", func(t *testing.T) {
			e := setup(t, db, 0)
			if _, err := activitylog.Verify(e.sys, e.c, "org_nope"); !errors.Is(err, activitylog.ErrUnknownChain) {
				t.Errorf("verify of an unknown chain = %v, want ErrUnknownChain", err)
			}
		})
	})
}

// TestExportRoundTrip: an export verifies offline; an edit of the file is
// found at its row; --since exports an unbroken tail that verifies too.
func TestExportRoundTrip(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db, 6)
		var buf bytes.Buffer
		n, err := activitylog.Export(e.sys, e.c, &buf, e.org, time.Time{})
		if err != nil || n != 6 {
			t.Fatalf("export = %d, %v; want 6 rows", n, err)
		}
		reports, err := activitylog.VerifyFile(bytes.NewReader(buf.Bytes()))
		if err != nil || len(reports) != 1 || !reports[0].OK() || reports[0].Rows != 6 {
			t.Fatalf("verify of the export = %+v, %v", reports, err)
		}
		cases := []struct {
			name, from, to string
			kind           activitylog.ProblemKind
			seq            int64
		}{
			{"verb edited", `"verb":"test.step_c"`, `"verb":"test.step_x"`, activitylog.Altered, 3},
			{"data edited", `"n":1.5`, `"n":2.5`, activitylog.Altered, 1},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				edited := strings.Replace(buf.String(), tc.from, tc.to, 1)
				if edited == buf.String() {
					t.Fatalf("the export holds no %s", tc.from)
				}
				reports, err := activitylog.VerifyFile(strings.NewReader(edited))
				if err != nil || len(reports) != 1 || reports[0].OK() {
					t.Fatalf("verify of the edited export = %+v, %v", reports, err)
				}
				if p := reports[0].Problem; p.Kind != tc.kind || p.Seq != tc.seq {
					t.Errorf("problem = %v, want %s at %d", p, tc.kind, tc.seq)
				}
			})
		}
		t.Run("line removed", func(t *testing.T) {
			lines := strings.SplitAfter(buf.String(), "\n")
			cut := strings.Join(append(lines[:2:2], lines[3:]...), "")
			reports, err := activitylog.VerifyFile(strings.NewReader(cut))
			if err != nil || reports[0].OK() || reports[0].Problem.Kind != activitylog.Missing || reports[0].Problem.Seq != 3 {
				t.Errorf("verify without line 3 = %+v, %v", reports[0].Problem, err)
			}
		})
		t.Run("not an export", func(t *testing.T) {
			var fe *activitylog.FileError
			if _, err := activitylog.VerifyFile(strings.NewReader("{\"id\":1}\n")); !errors.As(err, &fe) || fe.Line != 1 {
				t.Errorf("verify of garbage = %v, want a *FileError at line 1", err)
			}
		})
		t.Run("since", func(t *testing.T) {
			fourth, err := e.c.Activity.Query().Where(activity.Chain(e.org), activity.Seq(4)).Only(e.sys)
			if err != nil {
				t.Fatal(err)
			}
			var tail bytes.Buffer
			n, err := activitylog.Export(e.sys, e.c, &tail, e.org, fourth.CreatedAt)
			if err != nil || n < 3 {
				t.Fatalf("export since the 4th row = %d, %v", n, err)
			}
			reports, err := activitylog.VerifyFile(&tail)
			if err != nil || !reports[0].OK() || reports[0].To != 6 {
				t.Errorf("verify of the tail = %+v, %v", reports[0], err)
			}
		})
	})
}

// TestPruneKeepsChainsVerifiable: pruning deletes the old prefix of each
// chain in batches, records itself, and leaves every chain verifiable;
// a deletion after the new anchor is still found.
func TestPruneKeepsChainsVerifiable(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db, 7)
		// Age the first 4 rows of the organization's chain. This edits
		// created_at, so it breaks their hashes: the prune deletes them.
		e.exec(t, "UPDATE cf_activities SET created_at = ? WHERE chain = ? AND seq <= 4", time.Now().Add(-48*time.Hour), e.org)
		res, err := trail.Prune(e.sys, e.c, time.Now().Add(-24*time.Hour), 3)
		if err != nil {
			t.Fatalf("prune: %v", err)
		}
		if res.Deleted[e.org] != 4 || res.Anchor[e.org] != 4 || len(res.Deleted) != 1 {
			t.Fatalf("prune = %+v, want 4 rows of %s", res, e.org)
		}
		r := e.verify(t, e.org)
		if !r.OK() || r.From != 5 || r.To != 7 || r.Anchor != 4 {
			t.Fatalf("verify after prune = %+v (%v)", r, r.Problem)
		}
		// The prune recorded itself in the platform chain, which verifies.
		if n := e.c.Activity.Query().Where(activity.Verb("activity.pruned"), activity.ObjectID(e.org)).CountX(e.sys); n != 1 {
			t.Errorf("activity.pruned rows = %d, want 1", n)
		}
		if p := e.verify(t, activitylog.PlatformChain); !p.OK() {
			t.Errorf("platform chain after prune: %v", p.Problem)
		}
		// Deleting the new first row is still found.
		e.exec(t, "DELETE FROM cf_activities WHERE chain = ? AND seq = 5", e.org)
		if r := e.verify(t, e.org); r.OK() || r.Problem.Kind != activitylog.Missing || r.Problem.Seq != 5 {
			t.Errorf("verify after deleting the new first row = %+v", r.Problem)
		}
		// Bad input.
		if _, err := trail.Prune(e.sys, e.c, time.Now(), 0); !errors.Is(err, trail.ErrBadBatch) {
			t.Errorf("prune with batch 0 = %v, want ErrBadBatch", err)
		}
		user := actor.NewContext(context.Background(), actor.User(pulid.New("usr"), actor.PlatformSuperadmin))
		if _, err := trail.Prune(user, e.c, time.Now(), 10); err == nil {
			t.Error("prune as a user succeeded")
		}
	})
}

// TestConcurrentWritersKeepOneChain: 50 writers at once in one chain get
// positions 1 to 50, each linked to the one before: the chain verifies.
func TestConcurrentWritersKeepOneChain(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db, 0)
		org := pulid.New("org")
		const writers = 50
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- trail.Record(e.sys, e.c, trail.Event{Verb: "test.parallel", Organization: org})
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("a writer failed: %v", err)
			}
		}
		r := e.verify(t, string(org))
		if !r.OK() || r.Rows != writers || r.From != 1 || r.To != writers {
			t.Errorf("verify = %+v (%v), want %d rows 1..%d", r, r.Problem, writers, writers)
		}
	})
}

// TestRequestFieldsAreClipped: request fields a Go app passes through
// audit.WithRequest that are not valid UTF-8 or too long are stored valid
// and clipped, as hashed: the write succeeds on PostgreSQL too and the
// chain verifies.
func TestRequestFieldsAreClipped(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setup(t, db, 0)
		org := pulid.New("org")
		ctx := audit.WithRequest(e.sys, audit.Request{Channel: "client", UserAgent: "agent \xff" + strings.Repeat("é", 400), RequestID: "r\xfe"})
		if err := trail.Record(ctx, e.c, trail.Event{Verb: "test.clipped", Organization: org}); err != nil {
			t.Fatalf("record: %v", err)
		}
		a := e.c.Activity.Query().Where(activity.Chain(string(org))).OnlyX(e.sys)
		if !utf8.ValidString(a.UserAgent) || len(a.UserAgent) > 512 || !utf8.ValidString(a.RequestID) {
			t.Errorf("stored user agent %q (%d bytes), request ID %q", a.UserAgent, len(a.UserAgent), a.RequestID)
		}
		if r := e.verify(t, string(org)); !r.OK() {
			t.Errorf("verify: %v", r.Problem)
		}
	})
}
