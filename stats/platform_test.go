package stats_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/stats"
	"github.com/cf/identity/validation"
)

// platformFixture holds a platform with known figures; see
// newPlatformFixture.
type platformFixture struct {
	*env
	support, admin, plain *ent.User
	acme                  *ent.Organization
}

// newPlatformFixture creates, besides activities of every window:
//
//	users      pending 2, active 6 (one deleted, not counted), suspended 1,
//	           disabled 1, archived 1
//	bans       2 in force (permanent, expiring later), 1 expired, 1 of the
//	           deleted user
//	locks      2 in force, 1 expired
//	sessions   2 active; revoked, expired, idle-expired ones
//	orgs       2 live, 1 deleted
//	API keys   3 active (2 personal, 1 of acme); revoked, expired ones
func newPlatformFixture(t *testing.T, db testdb.Target) *platformFixture {
	t.Helper()
	e := newEnv(t, db)
	f := &platformFixture{env: e}
	now := e.now
	at := func(s string) func(*ent.UserCreate) {
		return func(b *ent.UserCreate) { b.SetCreatedAt(day(s)) }
	}
	with := func(fs ...func(*ent.UserCreate)) func(*ent.UserCreate) {
		return func(b *ent.UserCreate) {
			for _, f := range fs {
				f(b)
			}
		}
	}
	status := func(s user.Status) func(*ent.UserCreate) { return func(b *ent.UserCreate) { b.SetStatus(s) } }
	role := func(r user.PlatformRole) func(*ent.UserCreate) {
		return func(b *ent.UserCreate) { b.SetPlatformRole(r) }
	}
	banned := func(until *time.Time) func(*ent.UserCreate) {
		return func(b *ent.UserCreate) { b.SetBannedAt(now.Add(-time.Hour)).SetNillableBanExpiresAt(until) }
	}
	locked := func(until time.Time) func(*ent.UserCreate) {
		return func(b *ent.UserCreate) { b.SetLockedUntil(until) }
	}
	ptr := func(t time.Time) *time.Time { return &t }

	// New users of [2026-03-01, 2026-03-05): 3 on 03-01, 2 on 03-02, 1 on
	// 03-04.
	f.support = e.user(t, "support@example.com", with(role(user.PlatformRoleSupport), at("2026-03-01T10:00:00Z")))
	f.admin = e.user(t, "admin@example.com", with(role(user.PlatformRoleAdmin), at("2026-03-01T00:00:00Z")))
	f.plain = e.user(t, "plain@example.com", with(at("2026-03-01T23:59:59.999Z"), banned(nil)))
	e.user(t, "a2@example.com", with(at("2026-03-02T00:00:00Z"), banned(ptr(now.Add(time.Hour)))))
	// 01:00 at +05:00 is 20:00 UTC the day before.
	e.user(t, "a3@example.com", with(at("2026-03-03T01:00:00+05:00"), banned(ptr(now.Add(-time.Minute)))))
	e.user(t, "a4@example.com", at("2025-06-01T00:00:00Z"))
	e.user(t, "p1@example.com", with(status(user.StatusPending), at("2026-02-28T23:59:59Z"), locked(now.Add(time.Hour))))
	e.user(t, "p2@example.com", with(status(user.StatusPending), at("2026-03-05T00:00:00Z"), locked(now.Add(-time.Minute))))
	e.user(t, "s1@example.com", with(status(user.StatusSuspended), at("2026-03-04T12:00:00Z"), locked(now.Add(24*time.Hour))))
	e.user(t, "d1@example.com", with(status(user.StatusDisabled), at("2025-01-01T00:00:00Z")))
	e.user(t, "r1@example.com", with(status(user.StatusArchived), at("2025-01-01T00:00:00Z")))
	gone := e.user(t, "gone@example.com", with(at("2026-03-01T12:00:00Z"), banned(nil), locked(now.Add(time.Hour))))
	if err := e.c.User.DeleteOne(gone).Exec(quiet()); err != nil {
		t.Fatalf("deleting a user: %v", err)
	}

	f.acme = e.org(t, "acme")
	e.org(t, "beta")
	old := e.org(t, "old")
	if err := e.c.Organization.DeleteOne(old).Exec(quiet()); err != nil {
		t.Fatalf("deleting an organization: %v", err)
	}

	e.session(t, f.plain, nil, nil)
	e.session(t, f.plain, f.acme, nil)
	e.session(t, f.plain, nil, func(b *ent.SessionCreate) { b.SetRevokedAt(now.Add(-time.Minute)) })
	e.session(t, f.plain, nil, func(b *ent.SessionCreate) { b.SetExpiresAt(now.Add(-time.Minute)) })
	e.session(t, f.plain, nil, func(b *ent.SessionCreate) { b.SetIdleExpiresAt(now.Add(-time.Minute)) })

	e.apiKey(t, f.plain, nil, nil)
	e.apiKey(t, f.plain, nil, func(b *ent.APIKeyCreate) { b.SetExpiresAt(now.Add(time.Hour)) })
	e.apiKey(t, f.plain, f.acme, nil)
	e.apiKey(t, f.plain, nil, func(b *ent.APIKeyCreate) { b.SetRevokedAt(now.Add(-time.Minute)) })
	e.apiKey(t, f.plain, f.acme, func(b *ent.APIKeyCreate) { b.SetExpiresAt(now.Add(-time.Minute)) })

	// 24 h: 2 (1 sign-in); 7 days: 5 (2 sign-ins).
	e.act(t, nil, f.plain, stats.SignInVerb, now.Add(-time.Hour))
	e.act(t, f.acme, f.plain, "member.invited", now.Add(-23*time.Hour))
	e.act(t, f.acme, f.plain, stats.SignInVerb, now.Add(-48*time.Hour))
	e.act(t, nil, nil, "user.login_failed", now.Add(-25*time.Hour))
	e.act(t, f.acme, f.plain, "member.joined", now.Add(-7*24*time.Hour+time.Hour))
	e.act(t, nil, f.plain, stats.SignInVerb, now.Add(-8*24*time.Hour))
	e.act(t, f.acme, f.plain, "member.joined", now.Add(-30*24*time.Hour))
	return f
}

func TestPlatformStats(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		f := newPlatformFixture(t, db)
		from, to := day("2026-03-01T00:00:00Z"), day("2026-03-05T00:00:00Z")
		want := &stats.PlatformFigures{
			UsersByStatus: []stats.StatusCount{
				{Status: "pending", Count: 2}, {Status: "active", Count: 6}, {Status: "suspended", Count: 1},
				{Status: "disabled", Count: 1}, {Status: "archived", Count: 1},
			},
			BannedUsers: 2, LockedUsers: 2, ActiveSessions: 2, Organizations: 2, ActiveAPIKeys: 3,
			SignIns24h: 1, SignIns7d: 2, Activities24h: 2, Activities7d: 5,
			From: from, To: to,
			NewUsersPerDay: []stats.DayCount{{Day: "2026-03-01", Count: 3}, {Day: "2026-03-02", Count: 2}, {Day: "2026-03-04", Count: 1}},
		}
		for _, tt := range []struct {
			name string
			ctx  context.Context
		}{
			{"platform support", f.asUser(t, f.support)},
			{"platform admin", f.asUser(t, f.admin)},
			{"system", actor.NewContext(context.Background(), actor.System("report"))},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := stats.Platform(tt.ctx, f.c, from, to)
				if err != nil {
					t.Fatalf("Platform: %v", err)
				}
				if d := got.At.Sub(time.Now()); d > time.Second || d < -time.Minute {
					t.Errorf("At = %s, want about now", got.At)
				}
				got.At = time.Time{}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Platform =\n%+v\nwant\n%+v", got, want)
				}
			})
		}
	})
}

func TestPlatformStatsRefusals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		f := newPlatformFixture(t, db)
		owner := f.user(t, "owner@example.com", nil)
		f.member(t, f.acme, owner, "active", ownerRole)
		for _, tt := range []struct {
			name string
			ctx  context.Context
			// deny: a *DeniedError naming platform:stats_read; otherwise
			// a bare privacy denial (no actor, grants not loaded).
			deny bool
		}{
			{"organization owner", f.asUser(t, owner), true},
			{"platform support acting in an organization", f.as(t, actor.User(f.support.ID, actor.PlatformSupport).WithOrganization(f.acme.ID)), true},
			{"personal key without the scope", f.as(t, actor.APIKey("key_01JD3Q6X6S4W7N9ZKX2C1V0B8E", f.support.ID, actor.PlatformSupport, "", []string{permission.ActivityRead})), true},
			{"no actor", context.Background(), false},
			{"grants not loaded", actor.NewContext(context.Background(), actor.User(f.support.ID, actor.PlatformSupport)), false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := stats.Platform(tt.ctx, f.c, time.Time{}, time.Time{})
				if got != nil || !errors.Is(err, privacy.Deny) {
					t.Fatalf("Platform = %v, %v; want a privacy denial", got, err)
				}
				var de *stats.DeniedError
				if errors.As(err, &de) != tt.deny {
					t.Fatalf("err = %v (%T); want a *DeniedError: %t", err, err, tt.deny)
				}
				if tt.deny && (de.Permission != permission.PlatformStatsRead || de.OrganizationID != "" || !errors.Is(err, stats.ErrDenied)) {
					t.Errorf("DeniedError = %+v; want platform:stats_read, no organization, matching ErrDenied", de)
				}
			})
		}
	})
}

func TestStatsRanges(t *testing.T) {
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	berlin := time.FixedZone("CEST", 2*3600)
	for _, tt := range []struct {
		name             string
		from, to         time.Time
		wantFrom, wantTo time.Time
		field            string
		sentinel         error
	}{
		{name: "defaults", wantFrom: now.Add(-30 * 24 * time.Hour), wantTo: now},
		{name: "default from", to: day("2026-05-01T00:00:00Z"), wantFrom: day("2026-04-01T00:00:00Z"), wantTo: day("2026-05-01T00:00:00Z")},
		{name: "default to", from: day("2026-06-01T00:00:00Z"), wantFrom: day("2026-06-01T00:00:00Z"), wantTo: now},
		{name: "in UTC", from: time.Date(2026, 6, 1, 2, 0, 0, 0, berlin), to: time.Date(2026, 6, 2, 2, 0, 0, 0, berlin),
			wantFrom: day("2026-06-01T00:00:00Z"), wantTo: day("2026-06-02T00:00:00Z")},
		{name: "366 days", from: day("2025-01-01T00:00:00Z"), to: day("2026-01-02T00:00:00Z"),
			wantFrom: day("2025-01-01T00:00:00Z"), wantTo: day("2026-01-02T00:00:00Z")},
		{name: "one nanosecond", from: now, to: now.Add(1), wantFrom: now, wantTo: now.Add(1)},
		{name: "366 days and a second", from: day("2025-01-01T00:00:00Z"), to: day("2026-01-02T00:00:01Z"), field: "from", sentinel: stats.ErrRangeTooLong},
		{name: "from equals to", from: now, to: now, field: "to", sentinel: stats.ErrEmptyRange},
		{name: "from after to", from: now, to: now.Add(-time.Hour), field: "to", sentinel: stats.ErrEmptyRange},
		{name: "from after default to", from: now.Add(time.Hour), field: "to", sentinel: stats.ErrEmptyRange},
	} {
		t.Run(tt.name, func(t *testing.T) {
			from, to, err := stats.Range(now, tt.from, tt.to)
			if tt.sentinel == nil {
				if err != nil || !from.Equal(tt.wantFrom) || !to.Equal(tt.wantTo) || from.Location() != time.UTC || to.Location() != time.UTC {
					t.Fatalf("Range = %s, %s, %v; want %s, %s in UTC", from, to, err, tt.wantFrom, tt.wantTo)
				}
				return
			}
			var verr *validation.Error
			if !errors.As(err, &verr) || verr.Field != tt.field || !errors.Is(err, tt.sentinel) || !errors.Is(err, validation.ErrInvalid) {
				t.Fatalf("Range = %v; want a *validation.Error for %s matching %v", err, tt.field, tt.sentinel)
			}
		})
	}
}

// TestStatsBadRanges checks that every function refuses a bad range
// before it counts anything.
func TestStatsBadRanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ctx := actor.NewContext(context.Background(), actor.System("report"))
		now := time.Now()
		for _, tt := range []struct {
			name     string
			from, to time.Time
			field    string
		}{
			{"empty", now, now.Add(-time.Second), "to"},
			{"too long", now.Add(-400 * 24 * time.Hour), now, "from"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, perr := stats.Platform(ctx, e.c, tt.from, tt.to)
				_, aerr := stats.Activity(ctx, e.c, "", tt.from, tt.to)
				for _, err := range []error{perr, aerr} {
					var verr *validation.Error
					if !errors.As(err, &verr) || verr.Field != tt.field {
						t.Errorf("err = %v; want a *validation.Error for %s", err, tt.field)
					}
				}
			})
		}
	})
}
