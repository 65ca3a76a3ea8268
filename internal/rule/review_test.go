package rule_test

// Regression tests of the security review of sign-in (commit "review
// fixes: ..."), at the level of the User policy: what the ent client lets
// users and platform staff write.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"entgo.io/ent/privacy"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/softdelete"
)

const (
	reviewPassword = "review-old-password-42"
	reviewNew      = "review-new-password-42"
)

// reviewHash hashes pw with the cheapest parameters allowed.
func reviewHash(t *testing.T, pw string) secret.PasswordHash {
	t.Helper()
	h, err := secret.HashPasswordWith(pw, secret.MinArgon2)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// reviewUser is the stored state of a user that the tests compare.
type reviewUser struct {
	Email, FirstName string
	Hash             string
	FailedLogins     int
	LockedUntil      string
	Deleted          bool
}

func reviewUserOf(t *testing.T, c *ent.Client, id pulid.ID) reviewUser {
	t.Helper()
	sys := softdelete.IncludeDeleted(actor.NewContext(context.Background(), actor.System("test")))
	u, err := c.User.Get(sys, id)
	if err != nil {
		t.Fatalf("reading user %s: %v", id, err)
	}
	h, _ := u.PasswordHash.Value()
	r := reviewUser{Email: u.Email, FirstName: u.FirstName, Hash: fmt.Sprint(h), FailedLogins: u.FailedLogins, Deleted: u.DeletedAt != nil}
	if u.LockedUntil != nil {
		r.LockedUntil = u.LockedUntil.UTC().Format(time.RFC3339Nano)
	}
	return r
}

// Review 1 (policy part): a plain user cannot set or clear password_hash
// on their own row through the client, whatever else the write changes,
// while the rest of their profile stays theirs to change.
func TestReviewNoSelfPasswordHash(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		sys := actor.NewContext(context.Background(), actor.System("test"))
		me := c.User.Create().SetEmail("me@example.com").SetStatus(user.StatusActive).SetPasswordHash(reviewHash(t, reviewPassword)).SaveX(sys)
		next := reviewHash(t, reviewNew)
		actors := []struct {
			name string
			a    func(t *testing.T) *actor.Actor
		}{
			{"user", func(*testing.T) *actor.Actor { return actor.User(me.ID, actor.PlatformNone) }},
			{"personal key with scope *", func(t *testing.T) *actor.Actor {
				return personalKey(t, c, me.ID, actor.PlatformNone, actor.ScopeAll)
			}},
		}
		writes := []struct {
			name string
			do   func(ctx context.Context) error
		}{
			{"SetPasswordHash", func(ctx context.Context) error { return c.User.UpdateOneID(me.ID).SetPasswordHash(next).Exec(ctx) }},
			{"SetPasswordHash with a profile field", func(ctx context.Context) error {
				return c.User.UpdateOneID(me.ID).SetFirstName("Me").SetPasswordHash(next).Exec(ctx)
			}},
			{"ClearPasswordHash", func(ctx context.Context) error { return c.User.UpdateOneID(me.ID).ClearPasswordHash().Exec(ctx) }},
			{"bulk SetPasswordHash", func(ctx context.Context) error {
				return c.User.Update().Where(user.ID(me.ID)).SetPasswordHash(next).Exec(ctx)
			}},
		}
		for _, ac := range actors {
			t.Run(ac.name, func(t *testing.T) {
				ctx := as(t, c, ac.a(t))
				for _, w := range writes {
					t.Run(w.name, func(t *testing.T) {
						before := reviewUserOf(t, c, me.ID)
						if err := w.do(ctx); !errors.Is(err, privacy.Deny) {
							t.Fatalf("%s on oneself: %v, want privacy.Deny", w.name, err)
						}
						if after := reviewUserOf(t, c, me.ID); after != before {
							t.Errorf("a refused write changed the row: before %+v, after %+v", before, after)
						}
					})
				}
				// The profile is still the user's own.
				if err := c.User.UpdateOneID(me.ID).SetFirstName("Renamed by " + ac.name).Exec(ctx); err != nil {
					t.Errorf("changing one's first name: %v", err)
				}
			})
		}
		if got := c.User.GetX(sys, me.ID).PasswordHash; !got.Verify(reviewPassword) || got.Verify(reviewNew) {
			t.Errorf("the password hash changed")
		}
	})
}

// Review 2 (policy part): platform staff write only users of a lower
// platform rank. An admin may not update, unlock, set the password hash of
// or delete a superadmin or another admin (one at a time or in bulk), and
// may do all of it to support staff and users of platform role none; a
// superadmin may do it to anyone.
func TestReviewRankRule(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		sys := actor.NewContext(context.Background(), actor.System("test"))
		newUser := func(email string, role user.PlatformRole) *ent.User {
			return c.User.Create().SetEmail(email).SetStatus(user.StatusActive).SetPlatformRole(role).SaveX(sys)
		}
		admin := newUser("staff-admin@example.com", user.PlatformRoleAdmin)
		root := newUser("staff-root@example.com", user.PlatformRoleSuperadmin)
		asAdmin := as(t, c, actor.User(admin.ID, actor.PlatformAdmin))
		asRoot := as(t, c, actor.User(root.ID, actor.PlatformSuperadmin))
		next := reviewHash(t, reviewNew)
		old := reviewHash(t, reviewPassword)
		nextHash, _ := next.Value()

		ops := []struct {
			name string
			// bulk: a refusal may also be a write of no row.
			bulk bool
			do   func(ctx context.Context, id pulid.ID) (int, error)
			done func(before, after reviewUser) bool
		}{
			{"update email and first name", false, func(ctx context.Context, id pulid.ID) (int, error) {
				return 1, c.User.UpdateOneID(id).SetEmail("renamed-" + string(id[len(id)-8:]) + "@example.com").SetFirstName("Renamed").Exec(ctx)
			}, func(b, a reviewUser) bool { return a.Email != b.Email && a.FirstName == "Renamed" }},
			{"unlock", false, func(ctx context.Context, id pulid.ID) (int, error) {
				return 1, c.User.UpdateOneID(id).SetFailedLogins(0).ClearLockedUntil().Exec(ctx)
			}, func(_, a reviewUser) bool { return a.FailedLogins == 0 && a.LockedUntil == "" }},
			{"set password hash", false, func(ctx context.Context, id pulid.ID) (int, error) {
				return 1, c.User.UpdateOneID(id).SetPasswordHash(next).Exec(ctx)
			}, func(_, a reviewUser) bool { return a.Hash == fmt.Sprint(nextHash) }},
			{"delete", false, func(ctx context.Context, id pulid.ID) (int, error) {
				return 1, c.User.DeleteOneID(id).Exec(ctx)
			}, func(_, a reviewUser) bool { return a.Deleted }},
			{"bulk update", true, func(ctx context.Context, id pulid.ID) (int, error) {
				return c.User.Update().Where(user.ID(id)).SetFirstName("Renamed").Save(ctx)
			}, func(_, a reviewUser) bool { return a.FirstName == "Renamed" }},
			{"bulk delete", true, func(ctx context.Context, id pulid.ID) (int, error) {
				return c.User.Delete().Where(user.ID(id)).Exec(ctx)
			}, func(_, a reviewUser) bool { return a.Deleted }},
		}
		cases := []struct {
			name    string
			ctx     context.Context
			target  user.PlatformRole
			allowed bool
		}{
			{"admin on a superadmin", asAdmin, user.PlatformRoleSuperadmin, false},
			{"admin on another admin", asAdmin, user.PlatformRoleAdmin, false},
			{"admin on support staff", asAdmin, user.PlatformRoleSupport, true},
			{"admin on platform role none", asAdmin, user.PlatformRoleNone, true},
			{"superadmin on an admin", asRoot, user.PlatformRoleAdmin, true},
			{"superadmin on another superadmin", asRoot, user.PlatformRoleSuperadmin, true},
		}
		lockedUntil := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
		n := 0
		for _, op := range ops {
			for _, tt := range cases {
				t.Run(op.name+"/"+tt.name, func(t *testing.T) {
					n++
					target := c.User.Create().SetEmail(fmt.Sprintf("rank-%d@example.com", n)).SetFirstName("Target").
						SetStatus(user.StatusActive).SetPlatformRole(tt.target).SetPasswordHash(old).
						SetFailedLogins(6).SetLockedUntil(lockedUntil).SaveX(sys)
					before := reviewUserOf(t, c, target.ID)
					affected, err := op.do(tt.ctx, target.ID)
					after := reviewUserOf(t, c, target.ID)
					if tt.allowed {
						if err != nil || affected != 1 {
							t.Fatalf("%s: %d rows, %v; want it done", op.name, affected, err)
						}
						if !op.done(before, after) {
							t.Errorf("%s succeeded but the row is %+v (before %+v)", op.name, after, before)
						}
						return
					}
					switch {
					case errors.Is(err, privacy.Deny):
					case op.bulk && err == nil && affected == 0:
					default:
						t.Errorf("%s: %d rows, %v; want privacy.Deny%s", op.name, affected, err, map[bool]string{true: " or no row written"}[op.bulk])
					}
					if after != before {
						t.Errorf("a refused %s changed the row: before %+v, after %+v", op.name, before, after)
					}
				})
			}
		}
	})
}

// Beyond the review's list: the rank rule is about managing others. Platform
// staff, like every user, still change their own profile (the fields of
// selfFields), and a superadmin anything of their own.
func TestReviewStaffEditOwnProfile(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		sys := actor.NewContext(context.Background(), actor.System("test"))
		for _, tt := range []struct {
			role  user.PlatformRole
			actor actor.PlatformRole
		}{
			{user.PlatformRoleNone, actor.PlatformNone},
			{user.PlatformRoleSupport, actor.PlatformSupport},
			{user.PlatformRoleAdmin, actor.PlatformAdmin},
			{user.PlatformRoleSuperadmin, actor.PlatformSuperadmin},
		} {
			t.Run(string(tt.role), func(t *testing.T) {
				u := c.User.Create().SetEmail("own-" + string(tt.role) + "@example.com").SetStatus(user.StatusActive).SetPlatformRole(tt.role).SaveX(sys)
				ctx := as(t, c, actor.User(u.ID, tt.actor))
				if err := c.User.UpdateOneID(u.ID).SetFirstName("Own").SetTimezone("Europe/Berlin").Exec(ctx); err != nil {
					t.Fatalf("a %s user changing their own first name and time zone: %v", tt.role, err)
				}
				if got := c.User.GetX(sys, u.ID); got.FirstName != "Own" || got.Timezone != "Europe/Berlin" {
					t.Errorf("first name %q time zone %q, want Own and Europe/Berlin", got.FirstName, got.Timezone)
				}
			})
		}
	})
}
