package stats_test

import (
	"fmt"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/stats"
)

// TestStatsStatementCount pins the SQL statements of each function, once
// the caller's grants are loaded, and proves that they do not grow with
// the rows counted.
func TestStatsStatementCount(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		drv := &testdb.CountingDriver{Driver: entsql.OpenDB(db.Dialect, e.sqlDB)}
		counted := ent.NewClient(ent.Driver(drv))
		acme := e.org(t, "acme")
		owner := e.user(t, "owner@example.com", nil)
		support := e.user(t, "support@example.com", func(b *ent.UserCreate) { b.SetPlatformRole(user.PlatformRoleSupport) })
		e.member(t, acme, owner, membership.StatusActive, ownerRole)
		grow := func(n int) {
			for i := range n {
				u := e.user(t, fmt.Sprintf("u%d-%d@example.com", i, time.Now().UnixNano()), nil)
				e.member(t, acme, u, membership.StatusActive, memberRole, viewerRole)
				e.session(t, u, acme, nil)
				e.apiKey(t, u, acme, nil)
				e.invitation(t, acme, "pending", e.now.Add(time.Hour))
				e.act(t, acme, u, "member.joined", e.now.Add(-time.Duration(i)*25*time.Hour))
				e.act(t, nil, u, stats.SignInVerb, e.now.Add(-time.Duration(i)*time.Hour))
			}
		}
		ownerCtx, supportCtx := e.asUser(t, owner), e.asUser(t, support)
		for _, tt := range []struct {
			name string
			want int64
			run  func() error
		}{
			{"Platform", 9, func() error { _, err := stats.Platform(supportCtx, counted, time.Time{}, time.Time{}); return err }},
			{"Organization", 8, func() error { _, err := stats.Organization(ownerCtx, counted, acme.ID); return err }},
			{"Activity of an organization", 2, func() error {
				_, err := stats.Activity(ownerCtx, counted, acme.ID, time.Time{}, time.Time{})
				return err
			}},
			{"Activity, all", 1, func() error { _, err := stats.Activity(supportCtx, counted, "", time.Time{}, time.Time{}); return err }},
			{"Activity, all readable", 1, func() error { _, err := stats.Activity(ownerCtx, counted, "", time.Time{}, time.Time{}); return err }},
		} {
			t.Run(tt.name, func(t *testing.T) {
				measure := func() int64 {
					drv.Reset()
					if err := tt.run(); err != nil {
						t.Fatal(err)
					}
					return drv.Count()
				}
				small := measure()
				grow(10)
				large := measure()
				if small != large {
					t.Errorf("statements grow with rows: %d, then %d with 10 more of everything", small, large)
				}
				if large != tt.want {
					t.Errorf("statements = %d, want %d (change the pinned count only with a reason)", large, tt.want)
				}
			})
		}
	})
}
