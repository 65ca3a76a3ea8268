package activitylog_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

	"github.com/cf/identity/activitylog"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/migration"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/storage"
)

// TestUpgradeAnchorsOldRows: activities written before the chains existed
// are numbered in their chain by the migration and left before the chain's
// anchor, unhashed; the chain verifies, and new rows continue after them.
func TestUpgradeAnchorsOldRows(t *testing.T) {
	testdb.Each(t, func(t *testing.T, target testdb.Target) {
		ctx := context.Background()
		full, err := migrations.Dir(target.Dialect)
		if err != nil {
			t.Fatal(err)
		}
		files, err := full.Files()
		if err != nil {
			t.Fatal(err)
		}
		cut := -1
		for i, f := range files {
			if strings.HasSuffix(f.Name(), "_activity_chain.sql") {
				cut = i
			}
		}
		if cut < 0 {
			t.Fatal("no activity_chain migration")
		}
		db, _, err := storage.OpenDB(ctx, target.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		before := &migrate.MemDir{}
		for _, f := range files[:cut] {
			if err := before.WriteFile(f.Name(), f.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		if err := migration.Rehash(before); err != nil {
			t.Fatal(err)
		}
		m, err := migration.NewMigrator(db, target.Dialect, before)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Apply(ctx); err != nil {
			t.Fatal(err)
		}
		org := string(pulid.New("org"))
		if _, err := db.ExecContext(ctx, ph(target.Dialect, `INSERT INTO cf_organizations (id, created_at, updated_at, name, slug, status, plan) VALUES (?, ?, ?, 'Old', 'old', 'active', '')`), org, time.Now(), time.Now()); err != nil {
			t.Fatal(err)
		}
		for i, o := range []any{org, nil, org} {
			_, err := db.ExecContext(ctx, ph(target.Dialect, `INSERT INTO cf_activities (id, created_at, organization_id, actor_type, verb) VALUES (?, ?, ?, 'system', 'test.old')`),
				string(pulid.New("act")), time.Now().Add(time.Duration(i-10)*time.Minute), o)
			if err != nil {
				t.Fatal(err)
			}
		}
		c, _ := testdb.Migrated(t, target)
		sys := actor.NewContext(ctx, actor.System("test"))
		for _, tc := range []struct {
			chain  string
			anchor int64
		}{{org, 2}, {activitylog.PlatformChain, 1}} {
			r, err := activitylog.Verify(sys, c, tc.chain)
			if err != nil || !r.OK() || r.Anchor != tc.anchor || r.Rows != 0 {
				t.Errorf("verify %s after the upgrade = %+v, %v; want ok, anchor %d, no hashed rows", tc.chain, r, err, tc.anchor)
			}
		}
		if err := trail.Record(sys, c, trail.Event{Verb: "test.new", Organization: pulid.ID(org)}); err != nil {
			t.Fatal(err)
		}
		r, err := activitylog.Verify(sys, c, org)
		if err != nil || !r.OK() || r.From != 3 || r.To != 3 {
			t.Errorf("verify after a new row = %+v, %v; want row 3 ok", r, err)
		}
	})
}

func ph(d, q string) string {
	if d != dialect.Postgres {
		return q
	}
	for i := 1; strings.Contains(q, "?"); i++ {
		q = strings.Replace(q, "?", fmt.Sprintf("$%d", i), 1)
	}
	return q
}
