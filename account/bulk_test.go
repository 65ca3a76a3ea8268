package account_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/cf/identity/account"
	"github.com/cf/identity/actor"
	apikeypkg "github.com/cf/identity/apikey"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/storage"
	"github.com/cf/identity/validation"
)

// TestBulkTransitionUsers: one result per distinct ID, in input order,
// applied or refused with a code; refusals do not stop the others and
// write nothing; each applied change has its own activity.
func TestBulkTransitionUsers(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		admin := e.user(t, user.PlatformRoleAdmin, account.Active)
		ctx := e.as(t, admin)

		applied1 := e.credentials(t, e.user(t, user.PlatformRoleNone, account.Active))
		applied2 := e.user(t, user.PlatformRoleSupport, account.Active)
		fromDisabled := e.user(t, user.PlatformRoleNone, account.Disabled)
		fellow := e.user(t, user.PlatformRoleAdmin, account.Active)
		pending := e.user(t, user.PlatformRoleNone, account.Pending)
		already := e.user(t, user.PlatformRoleNone, account.Suspended)
		unknown := pulid.New("usr")
		bystander := e.credentials(t, e.user(t, user.PlatformRoleNone, account.Active))

		type want struct {
			id       pulid.ID
			from     account.Status
			code     string
			contains []string
		}
		wants := []want{
			{applied1.u.ID, account.Active, "", nil},
			{unknown, "", account.CodeNotFound, nil},
			{fellow.ID, account.Active, account.CodeForbidden, []string{"admin"}},
			{pending.ID, account.Pending, account.CodeRefused, []string{"pending", "suspended"}},
			{already.ID, account.Suspended, account.CodeRefused, []string{"already suspended"}},
			{applied2.ID, account.Active, "", nil},
			{e.super.ID, account.Active, account.CodeForbidden, []string{"superadmin"}},
			{fromDisabled.ID, account.Disabled, account.CodeRefused, []string{"disabled", "suspended"}},
		}
		// applied1 twice: a duplicate is answered once, where it first appears.
		ids := []pulid.ID{applied1.u.ID, unknown, fellow.ID, pending.ID, applied1.u.ID, already.ID, applied2.ID, e.super.ID, fromDisabled.ID}
		before := map[pulid.ID]state{}
		for _, w := range wants {
			if w.id != unknown {
				before[w.id] = e.state(t, w.id)
			}
		}
		results, err := account.BulkTransitionUsers(ctx, e.c, ids, account.Suspended, "  bulk  ")
		if err != nil {
			t.Fatalf("BulkTransitionUsers: %v", err)
		}
		if len(results) != len(wants) {
			t.Fatalf("got %d results, want %d (one per distinct ID)", len(results), len(wants))
		}
		for i, w := range wants {
			r := results[i]
			if r.UserID != w.id {
				t.Errorf("result %d is for %s, want %s (input order)", i, r.UserID, w.id)
				continue
			}
			if w.code == "" {
				if !r.Applied || r.Code != "" || r.Message != "" || r.User == nil || r.User.Status != user.StatusSuspended || r.User.StatusReason != "bulk" {
					t.Errorf("result %d: %+v, want applied with the user suspended for reason bulk", i, r)
				}
				row := e.c.User.GetX(sys(), w.id)
				if row.Status != user.StatusSuspended || row.StatusReason != "bulk" || row.StatusChangedAt == nil {
					t.Errorf("user %s after: status %q reason %q changed_at %v", w.id, row.Status, row.StatusReason, row.StatusChangedAt)
				}
				acts := e.activities(t, w.id)[before[w.id].Activities:]
				wantData := fmt.Sprint(map[string]any{"changes": oldNew(map[string]any{"status": "active"}, map[string]any{"status": "suspended"}), "reason": "bulk", "bulk": true})
				if len(acts) != 1 || acts[0].Verb != "user.suspended" || fmt.Sprint(acts[0].Data) != wantData || acts[0].ActorUserID == nil || *acts[0].ActorUserID != admin.ID {
					t.Errorf("activities of applied user %s = %v, want one user.suspended %s by the admin", w.id, e.verbs(t, w.id), wantData)
				}
				continue
			}
			if r.Applied || r.User != nil || r.Code != w.code {
				t.Errorf("result %d: %+v, want refused with %s", i, r, w.code)
			}
			for _, s := range w.contains {
				if !strings.Contains(r.Message, s) {
					t.Errorf("result %d message %q does not name %q", i, r.Message, s)
				}
			}
			if strings.HasPrefix(r.Message, "account:") {
				t.Errorf("result %d message %q carries the package prefix", i, r.Message)
			}
			if w.id == unknown {
				continue
			}
			b, a := before[w.id], e.state(t, w.id)
			b.AllActivities, a.AllActivities = 0, 0
			if a != b {
				t.Errorf("refused user %s changed: before %+v, after %+v", w.id, b, a)
			}
		}
		e.wantRevoked(t, applied1, "user_suspended", false)
		e.wantAlive(t, bystander)

		t.Run("more than MaxBulk", func(t *testing.T) {
			ids := make([]pulid.ID, account.MaxBulk+1)
			for i := range ids {
				ids[i] = pulid.New("usr")
			}
			_, err := account.BulkTransitionUsers(ctx, e.c, ids, account.Suspended, "too many")
			var verr *validation.Error
			if !errors.As(err, &verr) || verr.Field != "ids" {
				t.Errorf("%d IDs: err = %v, want a *validation.Error for ids", len(ids), err)
			}
			res, err := account.BulkTransitionUsers(ctx, e.c, ids[:account.MaxBulk], account.Suspended, "just enough")
			if err != nil || len(res) != account.MaxBulk {
				t.Fatalf("%d unknown IDs: %d results, %v", account.MaxBulk, len(res), err)
			}
			for _, r := range res {
				if r.Code != account.CodeNotFound {
					t.Fatalf("unknown ID: %+v, want NOT_FOUND", r)
				}
			}
		})

		t.Run("no IDs", func(t *testing.T) {
			res, err := account.BulkTransitionUsers(ctx, e.c, nil, account.Suspended, "none")
			if err != nil || len(res) != 0 {
				t.Errorf("no IDs: %v, %v; want no results and no error", res, err)
			}
		})

		t.Run("actors without user_manage", func(t *testing.T) {
			support := e.user(t, user.PlatformRoleSupport, account.Active)
			plain := e.user(t, user.PlatformRoleNone, account.Active)
			target := e.user(t, user.PlatformRoleNone, account.Active)
			// Without platform:user_manage the whole call is refused: a
			// list of per-user answers would tell which IDs exist.
			for _, actorUser := range []*ent.User{support, plain} {
				b := e.state(t, target.ID)
				res, err := account.BulkTransitionUsers(e.as(t, actorUser), e.c, []pulid.ID{target.ID, actorUser.ID}, account.Suspended, "no right")
				if !errors.Is(err, privacy.Deny) || res != nil {
					t.Fatalf("%s: %v, %v; want a privacy deny and no results", actorUser.PlatformRole, res, err)
				}
				c := struct{ actor *ent.User }{actorUser}
				if a := e.state(t, target.ID); a != b {
					t.Errorf("%s: the target changed: %+v -> %+v", c.actor.PlatformRole, b, a)
				}
			}
		})
	})
}

// TestBulkStatementCount: moving 10 or 100 users (each with a session
// and a personal key to revoke) costs the same number of statements.
func TestBulkStatementCount(t *testing.T) {
	// 13: read, lock and update the users, read them back, the superadmin
	// guard's two reads, read, revoke and record the sessions, revoke
	// refresh tokens and keys, look for impersonations the users run (none
	// here: ending them would add three), record the changes; 15: the
	// transaction's activities join their hash chain when it commits, which
	// locks the chain's head and advances it once (one statement each,
	// package trail).
	const want = 15
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		testdb.Migrated(t, db)
		sqlDB, cfg, err := storage.OpenDB(context.Background(), db.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sqlDB.Close() })
		drv := &testdb.CountingDriver{Driver: entsql.OpenDB(cfg.Dialect, sqlDB)}
		c := ent.NewClient(ent.Driver(drv))
		e := newEnvOn(t, db, c, sqlDB)
		ctx := e.as(t, e.super)
		measure := func(n int) int64 {
			ids := make([]pulid.ID, n)
			for i := range ids {
				u := e.user(t, user.PlatformRoleNone, account.Active)
				e.login(t, u)
				if _, _, err := apikeypkg.Create(sys(), c, apikeypkg.Params{Name: "k", OwnerID: u.ID, Scopes: []string{actor.ScopeAll}}); err != nil {
					t.Fatal(err)
				}
				ids[i] = u.ID
			}
			drv.Reset()
			res, err := account.BulkTransitionUsers(ctx, c, ids, account.Suspended, "count")
			got := drv.Count()
			if err != nil {
				t.Fatalf("BulkTransitionUsers of %d: %v", n, err)
			}
			for _, r := range res {
				if !r.Applied {
					t.Fatalf("not applied: %+v", r)
				}
			}
			return got
		}
		small, large := measure(10), measure(100)
		t.Logf("statements of BulkTransitionUsers: %d for 10 users, %d for 100", small, large)
		if small != large {
			t.Errorf("statement count grows with users: %d for 10, %d for 100", small, large)
		}
		if large != want {
			t.Errorf("statements = %d, want %d (update the pinned count only with a reason)", large, want)
		}
	})
}
