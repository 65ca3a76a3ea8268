package apikey_test

import (
	"context"
	stdsql "database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/bootstrap"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
)

// keyEnv is a superadmin with a personal key, over a counting driver.
type keyEnv struct {
	client *ent.Client
	drv    *testdb.CountingDriver
	sys    context.Context
	res    *bootstrap.Result
}

func newKeyEnv(t *testing.T, db testdb.Target) *keyEnv {
	t.Helper()
	client, drv := testdb.Counted(t, db)
	sys := actor.NewContext(context.Background(), actor.System("test"))
	res, err := bootstrap.Superadmin(sys, client, fmt.Sprintf("owner-%s@example.com", pulid.New("usr")), "Owner")
	if err != nil {
		t.Fatal(err)
	}
	return &keyEnv{client: client, drv: drv, sys: sys, res: res}
}

// lastUsed reads the key's stored last use.
func (e *keyEnv) lastUsed(t *testing.T) *time.Time {
	t.Helper()
	k, err := e.client.APIKey.Get(e.sys, e.res.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	return k.LastUsedAt
}

// TestAuthenticateChecks runs the checks of the single-statement lookup:
// each state of the key or its owner, and the reason it is refused.
func TestAuthenticateChecks(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name  string
		setup func(ctx context.Context, c *ent.Client, r *bootstrap.Result) error
		owner map[string]any // columns of the owner set with plain SQL
		want  error          // nil: authenticates
	}{
		{"active", nil, nil, nil},
		{"revoked", func(ctx context.Context, c *ent.Client, r *bootstrap.Result) error {
			return c.APIKey.UpdateOneID(r.KeyID).SetRevokedAt(now.Add(-time.Second)).Exec(ctx)
		}, nil, apikey.ErrRevoked},
		{"expired", func(ctx context.Context, c *ent.Client, r *bootstrap.Result) error {
			return c.APIKey.UpdateOneID(r.KeyID).SetExpiresAt(now.Add(-time.Second)).Exec(ctx)
		}, nil, apikey.ErrExpired},
		{"expires later", func(ctx context.Context, c *ent.Client, r *bootstrap.Result) error {
			return c.APIKey.UpdateOneID(r.KeyID).SetExpiresAt(now.Add(time.Hour)).Exec(ctx)
		}, nil, nil},
		{"owner suspended", nil, map[string]any{"status": "suspended"}, apikey.ErrOwner},
		{"owner banned for good", nil, map[string]any{"banned_at": now.Add(-time.Hour)}, apikey.ErrOwner},
		{"owner banned until later", nil, map[string]any{"banned_at": now.Add(-time.Hour), "ban_expires_at": now.Add(time.Hour)}, apikey.ErrOwner},
		{"owner's ban over", nil, map[string]any{"banned_at": now.Add(-time.Hour), "ban_expires_at": now.Add(-time.Minute)}, nil},
		{"owner deleted", func(ctx context.Context, c *ent.Client, r *bootstrap.Result) error {
			return c.User.DeleteOneID(r.UserID).Exec(ctx)
		}, nil, apikey.ErrOwner},
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e := newKeyEnv(t, db)
				if c.setup != nil {
					if err := c.setup(e.sys, e.client, e.res); err != nil {
						t.Fatal(err)
					}
				}
				if c.owner != nil {
					// Past the hooks, which revoke the keys of a user who
					// may no longer sign in: the lookup must refuse such a
					// key on its own.
					u := entsql.Dialect(db.Dialect).Update(user.Table).Where(entsql.EQ(user.FieldID, e.res.UserID))
					for col, v := range c.owner {
						u.Set(col, v)
					}
					q, args := u.Query()
					var res stdsql.Result
					if err := e.drv.Exec(e.sys, q, args, &res); err != nil {
						t.Fatal(err)
					}
				}
				e.drv.Reset()
				a, err := apikey.Authenticate(context.Background(), e.client, e.res.Key, now)
				if c.want != nil {
					if !errors.Is(err, c.want) || !errors.Is(err, apikey.ErrInvalidKey) {
						t.Fatalf("Authenticate = %v, want %v (an ErrInvalidKey)", err, c.want)
					}
					if n := e.drv.Count(); n != 1 {
						t.Errorf("%d statements for a refused key, want 1", n)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if a.APIKeyID() != e.res.KeyID || a.UserID() != e.res.UserID || a.PlatformRole() != actor.PlatformSuperadmin {
					t.Errorf("actor %v, want key %s of superadmin %s", a, e.res.KeyID, e.res.UserID)
				}
				// One lookup, then the synchronous write of the first use.
				if n := e.drv.Count(); n != 2 {
					t.Errorf("%d statements for the first use without a recorder, want 2 (lookup, last use)", n)
				}
				if got := e.lastUsed(t); got == nil || !got.Equal(now.Truncate(time.Microsecond)) && !got.Equal(now) {
					t.Errorf("last used %v, want %v", got, now)
				}
				// A second use within the interval writes nothing.
				e.drv.Reset()
				if _, err := apikey.Authenticate(context.Background(), e.client, e.res.Key, now.Add(30*time.Second)); err != nil {
					t.Fatal(err)
				}
				if n := e.drv.Count(); n != 1 {
					t.Errorf("%d statements for a second use within a minute, want 1 (no write)", n)
				}
			})
		}
	})
}

// TestUsageRecorder shows that a recorder authenticates without writing,
// writes the collected uses on Flush and at Close (never moving a use back
// in time), skips keys used within UsageInterval, and refuses after Close.
func TestUsageRecorder(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newKeyEnv(t, db)
		r := apikey.NewUsageRecorder(context.Background(), e.client, apikey.UsageOptions{FlushInterval: time.Hour})
		t.Cleanup(func() { _ = r.Close(context.Background()) })
		ctx := context.Background()
		t0 := time.Now().UTC().Truncate(time.Second)

		steps := []struct {
			name       string
			at         time.Time
			flush      bool
			statements int64     // of Authenticate (and Flush)
			pending    int       // after the step
			stored     time.Time // zero: none stored
		}{
			{"first use collects, writes nothing", t0, false, 1, 1, time.Time{}},
			{"a later use replaces it", t0.Add(10 * time.Second), false, 1, 1, time.Time{}},
			{"flush writes the latest use", t0.Add(20 * time.Second), true, 2, 0, t0.Add(20 * time.Second)},
			{"a use within the interval is not collected", t0.Add(30 * time.Second), false, 1, 0, t0.Add(20 * time.Second)},
			{"a use past the interval is", t0.Add(2 * time.Minute), false, 1, 1, t0.Add(20 * time.Second)},
			{"flush writes it", t0.Add(2 * time.Minute), true, 2, 0, t0.Add(2 * time.Minute)},
		}
		for _, s := range steps {
			e.drv.Reset()
			if _, err := r.Authenticate(ctx, e.res.Key, s.at); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if s.flush {
				if err := r.Flush(ctx); err != nil {
					t.Fatalf("%s: flush: %v", s.name, err)
				}
			}
			if n := e.drv.Count(); n != s.statements {
				t.Errorf("%s: %d statements, want %d", s.name, n, s.statements)
			}
			if p := r.Pending(); p != s.pending {
				t.Errorf("%s: %d pending, want %d", s.name, p, s.pending)
			}
			got := e.lastUsed(t)
			switch {
			case s.stored.IsZero() && got != nil:
				t.Errorf("%s: stored %v, want none yet", s.name, got)
			case !s.stored.IsZero() && (got == nil || !got.Equal(s.stored)):
				t.Errorf("%s: stored %v, want %v", s.name, got, s.stored)
			}
		}

		// An older use than the stored one leaves it: collected because the
		// stored one looks stale from then, written never.
		if _, err := r.Authenticate(ctx, e.res.Key, t0.Add(5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := e.client.APIKey.UpdateOneID(e.res.KeyID).SetLastUsedAt(t0.Add(time.Hour)).Exec(e.sys); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(ctx); err != nil {
			t.Fatalf("close: %v", err)
		}
		if got := e.lastUsed(t); got == nil || !got.Equal(t0.Add(time.Hour)) {
			t.Errorf("after close: stored %v, want the newer %v kept", got, t0.Add(time.Hour))
		}
		if r.Pending() != 0 {
			t.Errorf("%d pending after close, want 0", r.Pending())
		}
		// After Close: a use within the interval costs the lookup alone; a
		// due one is written on the caller's path, as without a recorder.
		for _, c := range []struct {
			at         time.Time
			statements int64
		}{{t0.Add(time.Hour + time.Second), 1}, {t0.Add(3 * time.Hour), 2}} {
			e.drv.Reset()
			if _, err := r.Authenticate(ctx, e.res.Key, c.at); err != nil {
				t.Fatalf("Authenticate after Close at %v: %v", c.at, err)
			}
			if n := e.drv.Count(); n != c.statements {
				t.Errorf("after Close at %v: %d statements, want %d", c.at, n, c.statements)
			}
		}
		if got := e.lastUsed(t); got == nil || !got.Equal(t0.Add(3*time.Hour)) {
			t.Errorf("after close: stored %v, want %v", got, t0.Add(3*time.Hour))
		}
		if err := r.Close(ctx); err != nil {
			t.Errorf("second close: %v", err)
		}
	})
}

// TestUsageRecorderKeys shows a write of several keys (one update each),
// a failed write kept for the next one, and the recorder under concurrent
// use (run with -race).
func TestUsageRecorderKeys(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newKeyEnv(t, db)
		ctx := context.Background()
		org := e.client.Organization.Create().SetName("Acme").SetSlug("acme").SaveX(e.sys)
		keys := []string{e.res.Key}
		ids := []pulid.ID{e.res.KeyID}
		for i := range 3 {
			p := apikey.Params{Name: fmt.Sprint("k", i), OwnerID: e.res.UserID, Scopes: []string{"member:read"}}
			if i == 0 {
				p.OrganizationID = org.ID
			}
			key, k, err := apikey.Create(e.sys, e.client, p)
			if err != nil {
				t.Fatal(err)
			}
			keys, ids = append(keys, key), append(ids, k.ID)
		}
		r := apikey.NewUsageRecorder(context.Background(), e.client, apikey.UsageOptions{FlushInterval: time.Hour})
		t.Cleanup(func() { _ = r.Close(ctx) })
		t0 := time.Now().UTC().Truncate(time.Second)

		// The organization key acts in its organization with its scopes.
		a, err := r.Authenticate(ctx, keys[1], t0)
		if err != nil {
			t.Fatal(err)
		}
		if a.OrganizationID() != org.ID || !slices.Equal(a.Scopes(), []string{"member:read"}) || a.APIKeyID() != ids[1] {
			t.Errorf("organization key: actor %v (organization %q, scopes %v), want key %s in %s with member:read", a, a.OrganizationID(), a.Scopes(), ids[1], org.ID)
		}
		for _, k := range keys {
			if _, err := r.Authenticate(ctx, k, t0); err != nil {
				t.Fatal(err)
			}
		}
		if r.Pending() != len(keys) {
			t.Fatalf("%d pending, want %d", r.Pending(), len(keys))
		}

		// A write that fails keeps every use for the next one.
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if err := r.Flush(cancelled); err == nil {
			t.Fatal("Flush with a cancelled context succeeded")
		}
		if r.Pending() != len(keys) {
			t.Errorf("%d pending after a failed write, want %d", r.Pending(), len(keys))
		}
		e.drv.Reset()
		if err := r.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := e.drv.Count(); n != int64(len(keys)) {
			t.Errorf("the write of %d keys: %d statements, want one each", len(keys), n)
		}
		for _, id := range ids {
			k := e.client.APIKey.GetX(e.sys, id)
			if k.LastUsedAt == nil || !k.LastUsedAt.Equal(t0) {
				t.Errorf("key %s: last used %v, want %v", id, k.LastUsedAt, t0)
			}
		}

		// Concurrent uses, writes and a close.
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				at := t0.Add(time.Duration(2+i) * time.Minute)
				if _, err := r.Authenticate(ctx, keys[i%len(keys)], at); err != nil {
					t.Error(err)
				}
				if i%4 == 0 {
					if err := r.Flush(ctx); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		if err := r.Close(ctx); err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			k := e.client.APIKey.GetX(e.sys, id)
			if k.LastUsedAt == nil || !k.LastUsedAt.After(t0) {
				t.Errorf("key %d: last used %v, want a use after %v written", i, k.LastUsedAt, t0)
			}
		}
	})
}

// TestUsageRecorderCloseDeadline shows that Close returns when its context
// ends, even while a write is under way elsewhere.
func TestUsageRecorderCloseDeadline(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newKeyEnv(t, db)
		r := apikey.NewUsageRecorder(context.Background(), e.client, apikey.UsageOptions{FlushInterval: time.Hour})
		if _, err := r.Authenticate(context.Background(), e.res.Key, time.Now()); err != nil {
			t.Fatal(err)
		}
		done, cancel := context.WithCancel(context.Background())
		cancel()
		if err := r.Close(done); !errors.Is(err, context.Canceled) {
			t.Errorf("Close with a cancelled context = %v, want context.Canceled", err)
		}
		if err := r.Close(context.Background()); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if e.lastUsed(t) == nil {
			t.Error("the use collected before Close was not written by the second Close")
		}
	})
}

// TestUsageRecorderBackground shows the background writer: a use is written
// within a short flush interval without calling Flush.
func TestUsageRecorderBackground(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newKeyEnv(t, db)
		r := apikey.NewUsageRecorder(context.Background(), e.client, apikey.UsageOptions{FlushInterval: 20 * time.Millisecond})
		t.Cleanup(func() { _ = r.Close(context.Background()) })
		if _, err := r.Authenticate(context.Background(), e.res.Key, time.Now()); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for e.lastUsed(t) == nil {
			if time.Now().After(deadline) {
				t.Fatal("the background writer wrote nothing in 10s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
