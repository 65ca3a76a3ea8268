package account_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/cf/identity/account"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/validation"
)

func TestPlatformRoles(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		root := e.user(t, user.PlatformRoleSuperadmin, account.Active)
		admin := e.user(t, user.PlatformRoleAdmin, account.Active)
		target := e.user(t, user.PlatformRoleNone, account.Active)
		onlySuperadmins(t, e, root.ID)

		t.Run("superadmin grants and revokes", func(t *testing.T) {
			u, err := account.GrantPlatformRole(e.as(t, root), e.c, target.ID, user.PlatformRoleAdmin, "on call")
			if err != nil || u.PlatformRole != user.PlatformRoleAdmin {
				t.Fatalf("grant: %v, %v", u, err)
			}
			u, err = account.RevokePlatformRole(e.as(t, root), e.c, target.ID, "rotation ended")
			if err != nil || u.PlatformRole != user.PlatformRoleNone {
				t.Fatalf("revoke: %v, %v", u, err)
			}
			verbs := e.verbs(t, target.ID)
			if n := count(verbs, "user.platform_role_granted"); n != 1 {
				t.Errorf("%d user.platform_role_granted, want 1 (%v)", n, verbs)
			}
			if n := count(verbs, "user.platform_role_revoked"); n != 1 {
				t.Errorf("%d user.platform_role_revoked, want 1 (%v)", n, verbs)
			}
		})

		refusals := []struct {
			name string
			run  func() error
			want func(error) bool
		}{
			{"an admin grants", func() error {
				_, err := account.GrantPlatformRole(e.as(t, admin), e.c, target.ID, user.PlatformRoleSupport, "x")
				return err
			}, func(err error) bool { return errors.Is(err, privacy.Deny) }},
			{"no reason", func() error {
				_, err := account.GrantPlatformRole(e.as(t, root), e.c, target.ID, user.PlatformRoleSupport, " ")
				return err
			}, func(err error) bool { return errors.Is(err, account.ErrNoReason) }},
			{"grant none", func() error {
				_, err := account.GrantPlatformRole(e.as(t, root), e.c, target.ID, user.PlatformRoleNone, "x")
				return err
			}, func(err error) bool { var v *validation.Error; return errors.As(err, &v) && v.Field == "role" }},
			{"revoke the last superadmin", func() error {
				_, err := account.RevokePlatformRole(e.as(t, root), e.c, root.ID, "leaving")
				return err
			}, func(err error) bool { return errors.Is(err, account.ErrLastSuperadmin) }},
			{"suspend the last superadmin (client)", func() error {
				return e.c.User.UpdateOneID(root.ID).SetStatus(user.StatusSuspended).Exec(sys())
			}, func(err error) bool { return errors.Is(err, account.ErrLastSuperadmin) }},
			{"ban the last superadmin", func() error {
				_, err := account.BanUser(sys(), e.c, root.ID, "x", nil)
				return err
			}, func(err error) bool { return errors.Is(err, account.ErrLastSuperadmin) }},
			{"delete the last superadmin", func() error {
				return e.c.User.DeleteOneID(root.ID).Exec(sys())
			}, func(err error) bool { return errors.Is(err, account.ErrLastSuperadmin) }},
		}
		for _, c := range refusals {
			t.Run(c.name, func(t *testing.T) {
				before := e.c.User.GetX(sys(), root.ID)
				if err := c.run(); !c.want(err) {
					t.Fatalf("err = %v", err)
				}
				after := e.c.User.GetX(sys(), root.ID)
				if after.PlatformRole != before.PlatformRole || after.Status != before.Status || (after.BannedAt == nil) != (before.BannedAt == nil) {
					t.Errorf("the superadmin changed: %+v -> %+v", before, after)
				}
			})
		}
	})
}

// Two superadmins demoting each other at once: exactly one demotion
// applies and one superadmin remains.
func TestPlatformRolesKeepASuperadminUnderConcurrency(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		a := e.user(t, user.PlatformRoleSuperadmin, account.Active)
		b := e.user(t, user.PlatformRoleSuperadmin, account.Active)
		onlySuperadmins(t, e, a.ID, b.ID)
		ctxA, ctxB := e.as(t, a), e.as(t, b)
		const n = 50
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 0 {
					_, errs[i] = account.RevokePlatformRole(ctxA, e.c, b.ID, "race")
				} else {
					_, errs[i] = account.RevokePlatformRole(ctxB, e.c, a.ID, "race")
				}
			}()
		}
		wg.Wait()
		applied := 0
		for _, err := range errs {
			if err == nil {
				applied++
			}
		}
		left, err := e.c.User.Query().Where(user.PlatformRoleEQ(user.PlatformRoleSuperadmin)).Count(sys())
		if err != nil {
			t.Fatal(err)
		}
		if applied != 1 || left != 1 {
			t.Fatalf("%d demotions applied, %d superadmins left; want 1 and 1 (errors: %v)", applied, left, errs)
		}
	})
}

// onlySuperadmins leaves ids the only superadmins of the database.
func onlySuperadmins(t *testing.T, e *env, ids ...pulid.ID) {
	t.Helper()
	if err := e.c.User.Update().Where(user.PlatformRoleEQ(user.PlatformRoleSuperadmin), user.IDNotIn(ids...)).
		SetPlatformRole(user.PlatformRoleNone).Exec(sys()); err != nil {
		t.Fatal(err)
	}
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
