package rule_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/tenancy"
	"github.com/cf/identity/validation"
)

// roster is one organization with an owner, for the membership guard's
// tests through the ent client.
type roster struct {
	c      *ent.Client
	sys    context.Context
	org    pulid.ID
	owner  pulid.ID // the owner's user
	n      int
	others pulid.ID // a second organization
}

func newRoster(t *testing.T, db testdb.Target) *roster {
	t.Helper()
	c, _ := testdb.Migrated(t, db)
	r := &roster{c: c, sys: actor.NewContext(context.Background(), actor.System("test"))}
	r.org = c.Organization.Create().SetName("Acme").SetSlug("acme").SaveX(r.sys).ID
	r.others = c.Organization.Create().SetName("Other").SetSlug("other").SaveX(r.sys).ID
	o := r.add(t, r.org, permission.OwnerRoleID, membership.StatusActive)
	r.owner = o.UserID
	return r
}

// add creates a user and its membership of org in status (through the
// system; a suspended one is created active, then suspended).
func (r *roster) add(t *testing.T, org, role pulid.ID, status membership.Status) *ent.Membership {
	t.Helper()
	r.n++
	u := r.c.User.Create().SetEmail(fmt.Sprintf("u%03d@example.com", r.n)).SetStatus(user.StatusActive).SaveX(r.sys)
	create := status
	if status == membership.StatusSuspended {
		create = membership.StatusActive
	}
	m := r.c.Membership.Create().SetOrganizationID(org).SetUserID(u.ID).AddRoleIDs(role).SetStatus(create).SaveX(r.sys)
	if status != create {
		m = r.c.Membership.UpdateOne(m).SetStatus(status).SaveX(r.sys)
	}
	return m
}

// inTx runs f in a transaction of r's client.
func (r *roster) inTx(ctx context.Context, f func(*ent.Client) error) error {
	tx, err := r.c.Tx(ctx)
	if err != nil {
		return err
	}
	if err := f(tx.Client()); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

var memberStatuses = []membership.Status{membership.StatusInvited, membership.StatusActive, membership.StatusSuspended}

// TestMembershipStatusGraph: every pair of statuses, written through the
// ent client by the system and by the owner: the graph's moves pass, every
// other one is a *tenancy.MemberTransitionError with nothing written.
func TestMembershipStatusGraph(t *testing.T) {
	allowed := map[[2]membership.Status]bool{
		{membership.StatusInvited, membership.StatusActive}:   true,
		{membership.StatusActive, membership.StatusSuspended}: true,
		{membership.StatusSuspended, membership.StatusActive}: true,
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		r := newRoster(t, db)
		owner := as(t, r.c, actor.User(r.owner, actor.PlatformNone))
		writers := []struct {
			name string
			ctx  context.Context
		}{{"system", r.sys}, {"owner", owner}}
		for _, w := range writers {
			for _, from := range memberStatuses {
				for _, to := range memberStatuses {
					want := allowed[[2]membership.Status{from, to}]
					if want != tenancy.MemberTransitionAllowed(from, to) {
						t.Errorf("MemberTransitionAllowed(%s, %s) = %v, want %v", from, to, !want, want)
					}
					t.Run(fmt.Sprintf("%s/%s→%s", w.name, from, to), func(t *testing.T) {
						m := r.add(t, r.org, permission.MemberRoleID, from)
						err := r.inTx(w.ctx, func(c *ent.Client) error {
							return c.Membership.UpdateOneID(m.ID).SetStatus(to).Exec(w.ctx)
						})
						got := r.c.Membership.GetX(r.sys, m.ID).Status
						if want {
							if err != nil || got != to {
								t.Fatalf("refused: %v (status %s)", err, got)
							}
							return
						}
						var te *tenancy.MemberTransitionError
						if !errors.As(err, &te) || te.From != from || te.To != to || !errors.Is(err, tenancy.ErrMemberTransition) {
							t.Fatalf("err = %v, want MemberTransitionError{%s, %s}", err, from, to)
						}
						if got != from {
							t.Fatalf("status = %s after a refusal, want %s", got, from)
						}
					})
				}
			}
		}
		for _, s := range memberStatuses {
			t.Run("create "+string(s), func(t *testing.T) {
				u := r.c.User.Create().SetEmail("new-" + string(s) + "@example.com").SetStatus(user.StatusActive).SaveX(r.sys)
				err := r.c.Membership.Create().SetOrganizationID(r.org).SetUserID(u.ID).AddRoleIDs(permission.MemberRoleID).SetStatus(s).Exec(r.sys)
				var te *tenancy.MemberTransitionError
				switch s {
				case membership.StatusSuspended:
					if !errors.As(err, &te) || te.From != "" || te.To != s {
						t.Fatalf("creating a suspended membership = %v, want MemberTransitionError{\"\", suspended}", err)
					}
				default:
					if err != nil {
						t.Fatalf("creating an %s membership: %v", s, err)
					}
				}
			})
		}
	})
}

// TestManagerGuard: the manager rules hold for writes through the ent
// client by anyone, the system included, in bulk too.
func TestManagerGuard(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		r := newRoster(t, db)
		a := r.add(t, r.org, permission.MemberRoleID, membership.StatusActive).ID
		b := r.add(t, r.org, permission.MemberRoleID, membership.StatusActive).ID
		x := r.add(t, r.org, permission.MemberRoleID, membership.StatusActive).ID
		foreign := r.add(t, r.others, permission.MemberRoleID, membership.StatusActive).ID
		field := func(name string, target error) func(*testing.T, error) {
			return func(t *testing.T, err error) {
				var ve *validation.Error
				if !errors.As(err, &ve) || ve.Field != name || (target != nil && !errors.Is(err, target)) {
					t.Fatalf("err = %v, want a validation error on %s (%v)", err, name, target)
				}
			}
		}
		tests := []struct {
			name  string
			write func(ctx context.Context, c *ent.Client) error
			check func(*testing.T, error)
		}{
			{"a manager of another organization", func(ctx context.Context, c *ent.Client) error {
				return c.Membership.UpdateOneID(a).SetManagerID(foreign).Exec(ctx)
			}, field("managerID", tenancy.ErrForeignManager)},
			{"a new membership with a manager of another organization", func(ctx context.Context, c *ent.Client) error {
				u := c.User.Create().SetEmail("new@example.com").SetStatus(user.StatusActive).SaveX(ctx)
				return c.Membership.Create().SetOrganizationID(r.org).SetUserID(u.ID).AddRoleIDs(permission.MemberRoleID).SetManagerID(foreign).Exec(ctx)
			}, field("managerID", tenancy.ErrForeignManager)},
			{"oneself", func(ctx context.Context, c *ent.Client) error {
				return c.Membership.UpdateOneID(a).SetManagerID(a).Exec(ctx)
			}, field("managerID", tenancy.ErrManagerCycle)},
			{"a bulk write making one of its members the manager of all", func(ctx context.Context, c *ent.Client) error {
				return c.Membership.Update().Where(membership.IDIn(a, b)).SetManagerID(b).Exec(ctx)
			}, field("managerID", tenancy.ErrManagerCycle)},
			{"A→B→A in one transaction", func(ctx context.Context, c *ent.Client) error {
				if err := c.Membership.UpdateOneID(b).SetManagerID(a).Exec(ctx); err != nil {
					return err
				}
				return c.Membership.UpdateOneID(a).SetManagerID(b).Exec(ctx)
			}, field("managerID", tenancy.ErrManagerCycle)},
			{"reports through the manager's edge", func(ctx context.Context, c *ent.Client) error {
				return c.Membership.UpdateOneID(a).AddReportIDs(b).Exec(ctx)
			}, field("reportIDs", nil)},
			{"reports of a new membership", func(ctx context.Context, c *ent.Client) error {
				u := c.User.Create().SetEmail("new2@example.com").SetStatus(user.StatusActive).SaveX(ctx)
				return c.Membership.Create().SetOrganizationID(r.org).SetUserID(u.ID).AddRoleIDs(permission.MemberRoleID).AddReportIDs(a).Exec(ctx)
			}, field("reportIDs", nil)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := r.c.Membership.Query().Where(membership.ManagerIDNotNil()).CountX(r.sys)
				err := r.inTx(r.sys, func(c *ent.Client) error { return tt.write(r.sys, c) })
				if err == nil {
					t.Fatal("succeeded, want a refusal")
				}
				tt.check(t, err)
				if after := r.c.Membership.Query().Where(membership.ManagerIDNotNil()).CountX(r.sys); after != before {
					t.Fatalf("%d memberships have a manager after a refusal, %d before", after, before)
				}
			})
		}

		// Outside a transaction the chain is checked all the same.
		if err := r.c.Membership.UpdateOneID(b).SetManagerID(x).Exec(r.sys); err != nil {
			t.Fatalf("B→X: %v", err)
		}
		if err := r.c.Membership.UpdateOneID(x).SetManagerID(b).Exec(r.sys); !errors.Is(err, tenancy.ErrManagerCycle) {
			t.Fatalf("X→B after B→X = %v, want ErrManagerCycle", err)
		}
		// A bulk write is refused when the chain above its manager
		// reaches any of the members it writes (B reports to X)...
		if err := r.c.Membership.Update().Where(membership.IDIn(a, x)).SetManagerID(b).Exec(r.sys); !errors.Is(err, tenancy.ErrManagerCycle) {
			t.Fatalf("bulk A,X→B with B→X = %v, want ErrManagerCycle", err)
		}
		// ... and passes when it reaches none.
		r.c.Membership.UpdateOneID(b).ClearManager().ExecX(r.sys)
		if err := r.c.Membership.Update().Where(membership.IDIn(a, x)).SetManagerID(b).Exec(r.sys); err != nil {
			t.Fatalf("bulk A,X→B: %v", err)
		}
		if n := r.c.Membership.Query().Where(membership.ManagerID(b)).CountX(r.sys); n != 2 {
			t.Fatalf("%d reports of B, want 2", n)
		}
	})
}

// TestManagerChainBound: a chain of more than tenancy.MaxManagerDepth
// managers above the new manager is refused with a clear error instead of
// being walked without end.
func TestManagerChainBound(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		r := newRoster(t, db)
		// The chain: ids[0] at the top, each membership managed by the
		// one before it; n-1 managers above the last.
		n := tenancy.MaxManagerDepth + 2
		users := make([]*ent.UserCreate, n)
		for i := range users {
			users[i] = r.c.User.Create().SetEmail(fmt.Sprintf("chain%04d@example.com", i)).SetStatus(user.StatusActive)
		}
		var us []*ent.User
		for lo := 0; lo < n; lo += 200 {
			us = append(us, r.c.User.CreateBulk(users[lo:min(lo+200, n)]...).SaveX(r.sys)...)
		}
		ids := make([]pulid.ID, n)
		err := r.inTx(r.sys, func(c *ent.Client) error {
			for i := range ids {
				mc := c.Membership.Create().SetOrganizationID(r.org).SetUserID(us[i].ID).AddRoleIDs(permission.MemberRoleID)
				if i > 0 {
					mc.SetManagerID(ids[i-1])
				}
				m, err := mc.Save(r.sys)
				if err != nil {
					return err
				}
				ids[i] = m.ID
			}
			return nil
		})
		if err != nil {
			t.Fatalf("building the chain: %v", err)
		}
		x := r.add(t, r.org, permission.MemberRoleID, membership.StatusActive).ID
		set := func(id, mgr pulid.ID) error {
			return r.inTx(r.sys, func(c *ent.Client) error { return c.Membership.UpdateOneID(id).SetManagerID(mgr).Exec(r.sys) })
		}
		// Under the last: MaxManagerDepth+1 managers above it.
		err = set(x, ids[n-1])
		var ve *validation.Error
		if !errors.Is(err, tenancy.ErrManagerChainTooLong) || !errors.As(err, &ve) || ve.Field != "managerID" {
			t.Fatalf("err = %v, want ErrManagerChainTooLong on managerID", err)
		}
		if m := r.c.Membership.GetX(r.sys, x); m.ManagerID != nil {
			t.Fatalf("manager = %s after a refusal", *m.ManagerID)
		}
		// One level up, MaxManagerDepth managers: within the bound.
		if err := set(x, ids[n-2]); err != nil {
			t.Fatalf("a chain of %d managers: %v", tenancy.MaxManagerDepth, err)
		}
		// A loop closed at the far end of the bound is found.
		if err := set(ids[0], ids[n-2]); !errors.Is(err, tenancy.ErrManagerCycle) {
			t.Fatalf("closing a loop of %d = %v, want ErrManagerCycle", n-1, err)
		}
	})
}
