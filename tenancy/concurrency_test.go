package tenancy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cf/identity/apikey"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/credential"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/role"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/tenancy"
	"github.com/cf/identity/validation"
)

// parallel is how many requests each concurrency test starts at once.
const parallel = 50

// race runs f(0) … f(n-1) in n goroutines released together and returns
// their errors by index.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// inTx runs f in a transaction of c of its own, as a Go program using the
// ent client directly must for guarded writes.
func inTx(ctx context.Context, c *ent.Client, f func(*ent.Client) error) error {
	tx, err := c.Tx(ctx)
	if err != nil {
		return err
	}
	if err := f(tx.Client()); err != nil {
		_ = tx.Rollback()
		return err
	}
	return authz.Concurrent(tx.Commit())
}

// expect fails t for every error that is not nil and not one of allowed.
// A concurrent-update refusal is always allowed: it is the typed "try
// again" answer, and the invariants are checked afterwards either way.
func expect(t *testing.T, errs []error, allowed ...error) {
	t.Helper()
	for i, err := range errs {
		if err == nil || errors.Is(err, authz.ErrConcurrentUpdate) {
			continue
		}
		if !slices.ContainsFunc(allowed, func(a error) bool { return errors.Is(err, a) }) {
			t.Errorf("request %d: unexpected error %v", i, err)
		}
	}
}

func succeeded(errs []error) int {
	n := 0
	for _, err := range errs {
		if err == nil {
			n++
		}
	}
	return n
}

// customRoles creates n custom roles of level 10 in the world's
// organization.
func customRoles(t *testing.T, w *world, n int) []pulid.ID {
	t.Helper()
	owner := as(t, w.c, w.owner)
	lvl := 10
	ids := make([]pulid.ID, n)
	for i := range ids {
		r, err := tenancy.CreateRole(owner, w.c, ent.CreateRoleInput{OrganizationID: &w.org.ID, Key: fmt.Sprintf("team_%02d", i), Name: fmt.Sprintf("Team %d", i), Level: &lvl})
		if err != nil {
			t.Fatalf("CreateRole: %v", err)
		}
		ids[i] = r.ID
	}
	return ids
}

// members adds n members (built-in member role) to the world's
// organization, as the system.
func members(t *testing.T, w *world, n int) []*ent.Membership {
	t.Helper()
	ms := make([]*ent.Membership, n)
	for i := range ms {
		u := w.c.User.Create().SetEmail(fmt.Sprintf("m%02d@a.com", i)).SetStatus(user.StatusActive).SaveX(sys())
		m, err := tenancy.AddMember(sys(), w.c, tenancy.AddMemberInput{OrganizationID: w.org.ID, UserID: u.ID})
		if err != nil {
			t.Fatalf("AddMember: %v", err)
		}
		ms[i] = m
	}
	return ms
}

func rolesOf(t *testing.T, c *ent.Client, id pulid.ID) []pulid.ID {
	t.Helper()
	ids := c.Role.Query().Where(role.HasMembershipsWith(membership.ID(id))).IDsX(sys())
	slices.Sort(ids)
	return ids
}

// A member keeps at least one role when all of its roles are unassigned
// at once, through package tenancy and through the ent client (each
// request in a transaction of its own).
func TestConcurrentUnassignKeepsARole(t *testing.T) {
	via := []struct {
		name     string
		unassign func(ctx context.Context, c *ent.Client, m, r pulid.ID) error
	}{
		{"tenancy", func(ctx context.Context, c *ent.Client, m, r pulid.ID) error {
			_, err := tenancy.UnassignRole(ctx, c, m, r)
			return err
		}},
		{"client", func(ctx context.Context, c *ent.Client, m, r pulid.ID) error {
			return inTx(ctx, c, func(tx *ent.Client) error {
				return tx.Membership.UpdateOneID(m).RemoveRoleIDs(r).Exec(ctx)
			})
		}},
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		owner := as(t, c, w.owner)
		all := append(customRoles(t, w, parallel-1), permission.MemberRoleID)
		for _, v := range via {
			t.Run(v.name, func(t *testing.T) {
				if _, err := tenancy.SetMemberRoles(owner, c, w.memberM.ID, all); err != nil {
					t.Fatalf("SetMemberRoles: %v", err)
				}
				errs := race(len(all), func(i int) error { return v.unassign(owner, c, w.memberM.ID, all[i]) })
				expect(t, errs, validation.ErrInvalid)
				left := rolesOf(t, c, w.memberM.ID)
				if len(left) == 0 {
					t.Fatalf("the member has no role left after %d parallel unassignments (%d succeeded)", len(all), succeeded(errs))
				}
				if got := succeeded(errs) + len(left); got != len(all) {
					t.Fatalf("%d unassignments succeeded and %d roles are left; want %d in all", succeeded(errs), len(left), len(all))
				}
			})
		}
	})
}

// Parallel replacements of a member's roles end with one of the requested
// sets, never a mix of them.
func TestConcurrentSetMemberRoles(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		owner := as(t, c, w.owner)
		rs := customRoles(t, w, 10)
		sets := make([][]pulid.ID, parallel)
		for i := range sets {
			// Distinct sets of 1 to 3 roles that overlap each other.
			set := []pulid.ID{rs[i%len(rs)]}
			for k := 1; k <= i%3; k++ {
				set = append(set, rs[(i+k*3)%len(rs)])
			}
			if i%7 == 0 {
				set = append(set, permission.MemberRoleID)
			}
			slices.Sort(set)
			sets[i] = slices.Compact(set)
		}
		for run := range 3 {
			errs := race(parallel, func(i int) error {
				_, err := tenancy.SetMemberRoles(owner, c, w.memberM.ID, sets[i])
				return err
			})
			expect(t, errs)
			got := rolesOf(t, c, w.memberM.ID)
			asked := slices.IndexFunc(sets, func(s []pulid.ID) bool { return slices.Equal(s, got) })
			if asked < 0 {
				t.Fatalf("run %d: the member holds %v, a set nobody asked for", run, got)
			}
			if errs[asked] != nil {
				t.Fatalf("run %d: the member holds the set of request %d, which failed: %v", run, asked, errs[asked])
			}
		}
	})
}

// An organization keeps an owner when all of its owners leave or step
// down at once.
func TestConcurrentOwnersLeave(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		owner := as(t, c, w.owner)
		ms := members(t, w, parallel-1)
		owners := []pulid.ID{c.Membership.Query().Where(membership.UserID(w.owner.ID)).OnlyIDX(sys())}
		users := []*ent.User{w.owner}
		for _, m := range ms {
			if _, err := tenancy.AssignRole(owner, c, m.ID, permission.OwnerRoleID); err != nil {
				t.Fatalf("AssignRole owner: %v", err)
			}
			owners = append(owners, m.ID)
			users = append(users, c.User.GetX(sys(), m.UserID))
		}
		if _, err := tenancy.AssignRole(owner, c, owners[0], permission.MemberRoleID); err != nil {
			t.Fatalf("AssignRole member: %v", err)
		}
		ctxs := make([]context.Context, len(users))
		for i, u := range users {
			ctxs[i] = as(t, c, u)
		}
		// Half of them leave, the other half give up the owner role.
		errs := race(len(owners), func(i int) error {
			if i%2 == 0 {
				return tenancy.RemoveMember(ctxs[i], c, owners[i])
			}
			_, err := tenancy.UnassignRole(ctxs[i], c, owners[i], permission.OwnerRoleID)
			return err
		})
		expect(t, errs, authz.ErrLastOwner)
		n := c.Membership.Query().Where(membership.OrganizationID(w.org.ID), membership.HasRolesWith(role.ID(permission.OwnerRoleID))).CountX(sys())
		if n < 1 {
			t.Fatalf("no owner left after %d owners left at once (%d succeeded)", len(owners), succeeded(errs))
		}
		if succeeded(errs)+n != len(owners) {
			t.Fatalf("%d owners stepped down and %d are left; want %d in all", succeeded(errs), n, len(owners))
		}
	})
}

// A role is deleted only when nobody holds it, while members are being
// given it: no assignment that succeeded is lost to the deletion, and no
// member is left without a role. The requests race in pairs: member k is
// given role k while role k is deleted.
func TestConcurrentDeleteRoleWhileAssigning(t *testing.T) {
	for _, unassign := range []bool{false, true} {
		t.Run(fmt.Sprintf("unassign=%v", unassign), func(t *testing.T) {
			testdb.Each(t, func(t *testing.T, db testdb.Target) {
				w := newWorld(t, db)
				c := w.c
				owner := as(t, c, w.owner)
				rs := customRoles(t, w, parallel/2)
				ms := members(t, w, parallel/2)
				errs := race(parallel, func(i int) error {
					k := i / 2
					if i%2 == 0 {
						return tenancy.DeleteRole(owner, c, rs[k], unassign)
					}
					if unassign {
						// The role becomes the member's only role.
						_, err := tenancy.SetMemberRoles(owner, c, ms[k].ID, []pulid.ID{rs[k]})
						return err
					}
					_, err := tenancy.AssignRole(owner, c, ms[k].ID, rs[k])
					return err
				})
				expect(t, errs, validation.ErrInvalid, authz.ErrRoleInUse, authz.ErrForeignRole)
				for k := range rs {
					deleted, assigned := errs[2*k] == nil, errs[2*k+1] == nil
					exists := c.Role.Query().Where(role.ID(rs[k])).ExistX(sys())
					held := rolesOf(t, c, ms[k].ID)
					switch {
					case exists == deleted:
						t.Errorf("pair %d: DeleteRole answered %v, but the role exists = %v", k, errs[2*k], exists)
					case len(held) == 0:
						t.Errorf("pair %d: the member has no role left (deleted = %v, assigned = %v)", k, deleted, assigned)
					case assigned && !slices.Contains(held, rs[k]):
						t.Errorf("pair %d: the member was given the role, but does not hold it (deleted = %v)", k, deleted)
					}
				}
			})
		})
	}
}

// Parallel bulk assignments over the same members, each naming them in
// another order, all succeed: the memberships are locked in one order.
func TestConcurrentBulkAssignRole(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		owner := as(t, c, w.owner)
		rs := customRoles(t, w, parallel)
		ms := members(t, w, 10)
		ids := make([]pulid.ID, len(ms))
		for i, m := range ms {
			ids[i] = m.ID
		}
		errs := race(parallel, func(i int) error {
			order := slices.Clone(ids)
			rand.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
			_, err := tenancy.BulkAssignRole(owner, c, rs[i], order)
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("bulk assignment %d: %v", i, err)
			}
		}
		for i, m := range ms {
			if n := len(rolesOf(t, c, m.ID)); n != parallel+1 {
				t.Errorf("member %d holds %d roles, want %d", i, n, parallel+1)
			}
		}
	})
}

// Every update of a preference bumps its version once, however many run
// at once: the version counts the updates.
func TestConcurrentPreferenceVersion(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		owner := as(t, c, w.owner)
		p := c.Preference.Create().SetScope("organization").SetOrganizationID(w.org.ID).SetKey("ui.theme").SetValue(json.RawMessage(`0`)).SaveX(owner)
		versions := make([]int, parallel)
		errs := race(parallel, func(i int) error {
			return inTx(owner, c, func(tx *ent.Client) error {
				got, err := tx.Preference.UpdateOneID(p.ID).SetValue(json.RawMessage(fmt.Sprint(i + 1))).Save(owner)
				if err == nil {
					versions[i] = got.Version
				}
				return err
			})
		})
		expect(t, errs)
		final := c.Preference.GetX(owner, p.ID)
		if want := p.Version + succeeded(errs); final.Version != want {
			t.Fatalf("version = %d after %d updates of version %d, want %d", final.Version, succeeded(errs), p.Version, want)
		}
		seen := map[int]bool{}
		for i, v := range versions {
			if errs[i] != nil {
				continue
			}
			if seen[v] {
				t.Fatalf("two updates answered version %d", v)
			}
			seen[v] = true
		}
	})
}

// A key revoked by many requests at once keeps the time of the first
// revocation: every answer and the stored row agree.
func TestConcurrentRevokeAPIKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		owner := as(t, c, w.owner)
		_, k, err := credential.CreateAPIKey(owner, c, apikey.Params{Name: "ci", OrganizationID: w.org.ID, Scopes: []string{permission.MemberRead}})
		if err != nil {
			t.Fatalf("CreateAPIKey: %v", err)
		}
		at := make([]time.Time, parallel)
		errs := race(parallel, func(i int) error {
			got, err := credential.RevokeAPIKey(owner, c, k.ID)
			if err == nil {
				at[i] = *got.RevokedAt
			}
			return err
		})
		expect(t, errs)
		stored := *c.APIKey.GetX(owner, k.ID).RevokedAt
		for i, a := range at {
			if errs[i] == nil && !a.Equal(stored) {
				t.Fatalf("request %d answered revoked at %s, the key says %s", i, a, stored)
			}
		}
	})
}

// Guarded writes through the ent client outside a transaction are refused
// with authz.ErrNeedsTx, and pass in one; unguarded writes need none.
func TestGuardedWritesNeedATransaction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		owner := as(t, c, w.owner)
		r := customRoles(t, w, 2)
		ownerM := c.Membership.Query().Where(membership.UserID(w.owner.ID)).OnlyIDX(sys())
		if _, err := tenancy.AssignRole(owner, c, ownerM, permission.MemberRoleID); err != nil {
			t.Fatal(err)
		}
		if _, err := tenancy.AssignRole(owner, c, w.adminM.ID, permission.OwnerRoleID); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name  string
			write func(c *ent.Client) error
			needs bool
		}{
			{"unassign a role", func(c *ent.Client) error {
				return c.Membership.UpdateOneID(w.memberM.ID).AddRoleIDs(r[0]).RemoveRoleIDs(permission.MemberRoleID).Exec(owner)
			}, true},
			{"replace the roles", func(c *ent.Client) error {
				return c.Membership.UpdateOneID(w.memberM.ID).ClearRoles().AddRoleIDs(permission.ViewerRoleID).Exec(owner)
			}, true},
			{"step down as owner", func(c *ent.Client) error {
				return c.Membership.UpdateOneID(ownerM).RemoveRoleIDs(permission.OwnerRoleID).Exec(owner)
			}, true},
			{"delete a role", func(c *ent.Client) error { return c.Role.DeleteOneID(r[1]).Exec(owner) }, true},
			{"assign a role", func(c *ent.Client) error {
				return c.Membership.UpdateOneID(w.adminM.ID).AddRoleIDs(r[0]).Exec(owner)
			}, false},
			{"change a title", func(c *ent.Client) error {
				return c.Membership.UpdateOneID(w.memberM.ID).SetTitle("Lead").Exec(owner)
			}, false},
			{"remove a member who is no owner", func(c *ent.Client) error {
				return c.Membership.DeleteOneID(w.memberM.ID).Exec(owner)
			}, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.write(c)
				if tt.needs {
					if !errors.Is(err, authz.ErrNeedsTx) {
						t.Fatalf("outside a transaction: %v, want ErrNeedsTx", err)
					}
					err = inTx(owner, c, tt.write)
				}
				if err != nil {
					t.Fatalf("in a transaction: %v", err)
				}
			})
		}
	})
}
