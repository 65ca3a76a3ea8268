package rule_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"entgo.io/ent/privacy"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/session"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
)

// who builds the actor of a case in world w (keys are stored in c).
type who func(t *testing.T, c *ent.Client, w tenants) *actor.Actor

func userOf(id func(tenants) pulid.ID, role actor.PlatformRole) who {
	return func(_ *testing.T, _ *ent.Client, w tenants) *actor.Actor { return actor.User(id(w), role) }
}

func inOrg(p who, org func(tenants) pulid.ID) who {
	return func(t *testing.T, c *ent.Client, w tenants) *actor.Actor { return p(t, c, w).WithOrganization(org(w)) }
}

func personalKeyOf(id func(tenants) pulid.ID, scopes ...string) who {
	return func(t *testing.T, c *ent.Client, w tenants) *actor.Actor {
		return personalKey(t, c, id(w), actor.PlatformNone, scopes...)
	}
}

// orgKeyOf is an organization key of B created by B's owner.
func orgKeyOf(scopes ...string) who {
	return func(t *testing.T, c *ent.Client, w tenants) *actor.Actor {
		t.Helper()
		sys := actor.NewContext(context.Background(), actor.System("test"))
		_, k, err := apikey.Create(sys, c, apikey.Params{Name: "B key", OwnerID: w.ownerB, OrganizationID: w.b, Scopes: scopes})
		if err != nil {
			t.Fatalf("organization key: %v", err)
		}
		return actor.APIKey(k.ID, w.ownerB, actor.PlatformNone, w.b, scopes)
	}
}

var (
	both       = userOf(func(w tenants) pulid.ID { return w.both }, actor.PlatformNone)
	ownerA     = userOf(func(w tenants) pulid.ID { return w.ownerA }, actor.PlatformNone)
	ownerB     = userOf(func(w tenants) pulid.ID { return w.ownerB }, actor.PlatformNone)
	support    = userOf(func(w tenants) pulid.ID { return w.support }, actor.PlatformSupport)
	admin      = userOf(func(w tenants) pulid.ID { return w.admin }, actor.PlatformAdmin)
	superadmin = userOf(func(w tenants) pulid.ID { return w.superadmin }, actor.PlatformSuperadmin)
	orgA       = func(w tenants) pulid.ID { return w.a }
	orgB       = func(w tenants) pulid.ID { return w.b }
	bothKey    = func(scopes ...string) who {
		return personalKeyOf(func(w tenants) pulid.ID { return w.both }, scopes...)
	}
)

// Sessions are read as the Session policy says: users see their own
// (personal keys with the session:read scope), session:read reaches the
// sessions active in an organization, platform staff read every session
// through their platform role, and an active organization narrows all of
// them to the sessions of that organization (and one's own of none).
func TestSessionReads(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		w := setupTenants(t, c)
		all := []pulid.ID{w.sesA, w.sesB, w.sesN, w.sesOwnerB}
		tests := []struct {
			name string
			who  who
			want func(w tenants) []pulid.ID
		}{
			{"user: its own sessions", both, func(w tenants) []pulid.ID { return []pulid.ID{w.sesA, w.sesB, w.sesN} }},
			{"user acting in A: its own of A and of no organization", inOrg(both, orgA), func(w tenants) []pulid.ID { return []pulid.ID{w.sesA, w.sesN} }},
			{"personal key with session:read", bothKey(permission.SessionRead), func(w tenants) []pulid.ID { return []pulid.ID{w.sesA, w.sesB, w.sesN} }},
			{"personal key with member:read", bothKey(permission.MemberRead), func(tenants) []pulid.ID { return nil }},
			{"owner of B: B's sessions, its own among them", ownerB, func(w tenants) []pulid.ID { return []pulid.ID{w.sesB, w.sesOwnerB} }},
			{"owner of A: A's sessions", ownerA, func(w tenants) []pulid.ID { return []pulid.ID{w.sesA} }},
			{"owner of A acting in A", inOrg(ownerA, orgA), func(w tenants) []pulid.ID { return []pulid.ID{w.sesA} }},
			{"organization key of B with session:read", orgKeyOf(permission.SessionRead), func(w tenants) []pulid.ID { return []pulid.ID{w.sesB, w.sesOwnerB} }},
			{"organization key of B with member:read", orgKeyOf(permission.MemberRead), func(tenants) []pulid.ID { return nil }},
			{"support", support, func(tenants) []pulid.ID { return all }},
			{"support acting in B", inOrg(support, orgB), func(w tenants) []pulid.ID { return []pulid.ID{w.sesB, w.sesOwnerB} }},
			{"admin", admin, func(tenants) []pulid.ID { return all }},
			{"superadmin", superadmin, func(tenants) []pulid.ID { return all }},
			{"superadmin acting in A", inOrg(superadmin, orgA), func(w tenants) []pulid.ID { return []pulid.ID{w.sesA} }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := as(t, c, tt.who(t, c, w))
				want := tt.want(w)
				got, err := c.Session.Query().IDs(ctx)
				if err != nil || !sameIDs(got, want) {
					t.Errorf("sessions = %v, %v; want %v", got, err, want)
				}
				for _, id := range all {
					_, err := c.Session.Get(ctx, id)
					switch visible := slices.Contains(want, id); {
					case visible && err != nil:
						t.Errorf("Get(%s) = %v, want the session", id, err)
					case !visible && !ent.IsNotFound(err):
						t.Errorf("Get(%s) = %v, want not found", id, err)
					}
				}
			})
		}
	})
}

// sessionWrite is one write of the Session policy matrix.
type sessionWrite struct {
	name    string
	who     who
	do      func(ctx context.Context, c *ent.Client, w tenants) error
	done    func(sys context.Context, c *ent.Client, w tenants) bool // the write took effect
	allowed bool
	// bulk writes refuse by reaching no row, without an error.
	bulk bool
}

func revokeOp(id func(tenants) pulid.ID) sessionOp {
	return sessionOp{func(ctx context.Context, c *ent.Client, w tenants) error {
		return c.Session.UpdateOneID(id(w)).SetRevokedAt(time.Now()).Exec(ctx)
	}, func(sys context.Context, c *ent.Client, w tenants) bool {
		return c.Session.GetX(sys, id(w)).RevokedAt != nil
	}}
}

// switchOp sets the organization of session id to org ("" clears it).
func switchOp(id, org func(tenants) pulid.ID) sessionOp {
	return sessionOp{func(ctx context.Context, c *ent.Client, w tenants) error {
		u := c.Session.UpdateOneID(id(w))
		if o := org(w); o != "" {
			u.SetOrganizationID(o)
		} else {
			u.ClearOrganizationID()
		}
		return u.Exec(ctx)
	}, func(sys context.Context, c *ent.Client, w tenants) bool {
		return ptrID(c.Session.GetX(sys, id(w)).OrganizationID) == org(w)
	}}
}

// openOp creates a session of user u active in org ("" for none); imp sets
// an impersonator.
func openOp(u, org, imp func(tenants) pulid.ID) sessionOp {
	return sessionOp{func(ctx context.Context, c *ent.Client, w tenants) error {
		var o *pulid.ID
		if id := org(w); id != "" {
			o = &id
		}
		m := newSession(c, u(w), o).SetIP("10.9.9.9")
		if imp != nil {
			m.SetImpersonatorID(imp(w))
		}
		return m.Exec(ctx)
	}, func(sys context.Context, c *ent.Client, w tenants) bool {
		return c.Session.Query().Where(session.IP("10.9.9.9")).ExistX(sys)
	}}
}

func deleteOp(id func(tenants) pulid.ID) sessionOp {
	return sessionOp{func(ctx context.Context, c *ent.Client, w tenants) error {
		return c.Session.DeleteOneID(id(w)).Exec(ctx)
	}, func(sys context.Context, c *ent.Client, w tenants) bool {
		return !c.Session.Query().Where(session.ID(id(w))).ExistX(sys)
	}}
}

// sessionOp is a write and the check that it took effect.
type sessionOp struct {
	do   func(ctx context.Context, c *ent.Client, w tenants) error
	done func(sys context.Context, c *ent.Client, w tenants) bool
}

func sessionCase(name string, p who, allowed bool, op sessionOp) sessionWrite {
	return sessionWrite{name: name, who: p, do: op.do, done: op.done, allowed: allowed}
}

var (
	sesA      = func(w tenants) pulid.ID { return w.sesA }
	sesB      = func(w tenants) pulid.ID { return w.sesB }
	sesN      = func(w tenants) pulid.ID { return w.sesN }
	sesOwnerB = func(w tenants) pulid.ID { return w.sesOwnerB }
	noOrg     = func(tenants) pulid.ID { return "" }
	gone      = func(w tenants) pulid.ID { return w.gone }
	userBoth  = func(w tenants) pulid.ID { return w.both }
	userOwnB  = func(w tenants) pulid.ID { return w.ownerB }
	userOwnA  = func(w tenants) pulid.ID { return w.ownerA }
	userSup   = func(w tenants) pulid.ID { return w.support }
)

// sessionWrites is the write matrix of the Session policy: users revoke
// their own sessions (scope session:revoke) and session:revoke revokes the
// sessions of an organization; opening a session and switching its
// organization is for its own user (scope *), to one of its organizations;
// deleting is for superadmins (and the system) only; an active organization
// keeps every actor to the sessions of that organization (and its own of
// none); superadmins acting across organizations pass every rule.
func sessionWrites() []sessionWrite {
	return []sessionWrite{
		// Revoking.
		sessionCase("user revokes its own session", both, true, revokeOp(sesB)),
		sessionCase("user acting in A revokes its own session of no organization", inOrg(both, orgA), true, revokeOp(sesN)),
		sessionCase("user acting in A revokes its own session of B", inOrg(both, orgA), false, revokeOp(sesB)),
		sessionCase("personal key with session:revoke revokes its owner's session", bothKey(permission.SessionRevoke), true, revokeOp(sesB)),
		sessionCase("personal key with session:read revokes its owner's session", bothKey(permission.SessionRead), false, revokeOp(sesB)),
		sessionCase("owner of B revokes a member's session of B", ownerB, true, revokeOp(sesB)),
		sessionCase("owner of B revokes a member's session of A", ownerB, false, revokeOp(sesA)),
		sessionCase("owner of B revokes a member's session of no organization", ownerB, false, revokeOp(sesN)),
		sessionCase("owner of A revokes a member's session of A", ownerA, true, revokeOp(sesA)),
		sessionCase("organization key of B with session:revoke revokes a session of B", orgKeyOf(permission.SessionRevoke), true, revokeOp(sesB)),
		sessionCase("organization key of B with session:read revokes a session of B", orgKeyOf(permission.SessionRead), false, revokeOp(sesB)),
		sessionCase("support revokes a session", support, false, revokeOp(sesB)),
		sessionCase("platform admin revokes a session", admin, false, revokeOp(sesB)),
		sessionCase("superadmin revokes a session", superadmin, true, revokeOp(sesB)),
		sessionCase("superadmin acting in A revokes a session of A", inOrg(superadmin, orgA), true, revokeOp(sesA)),
		sessionCase("superadmin acting in A revokes a session of B", inOrg(superadmin, orgA), false, revokeOp(sesB)),
		{name: "owner of B revokes every session in bulk: B's only", who: ownerB, allowed: true,
			do: func(ctx context.Context, c *ent.Client, _ tenants) error {
				_, err := c.Session.Update().SetRevokedAt(time.Now()).Save(ctx)
				return err
			},
			done: func(sys context.Context, c *ent.Client, w tenants) bool {
				revoked := c.Session.Query().Where(session.RevokedAtNotNil()).IDsX(sys)
				return sameIDs(revoked, []pulid.ID{w.sesB, w.sesOwnerB})
			}},

		// Switching the active organization.
		sessionCase("user switches its own session of no organization to A", both, true, switchOp(sesN, orgA)),
		sessionCase("user switches its own session of A to B", both, true, switchOp(sesA, orgB)),
		sessionCase("user clears the organization of its own session", both, true, switchOp(sesA, noOrg)),
		sessionCase("user switches its own session to a deleted organization", both, false, switchOp(sesN, gone)),
		sessionCase("owner of B switches its own session to A, not one of its organizations", ownerB, false, switchOp(sesOwnerB, orgA)),
		sessionCase("user acting in A switches its own session of no organization to A", inOrg(both, orgA), true, switchOp(sesN, orgA)),
		sessionCase("user acting in A switches its own session of no organization to B", inOrg(both, orgA), false, switchOp(sesN, orgB)),
		// An active organization keeps the user to its sessions of that
		// organization (and of none): its session of B is out of reach.
		sessionCase("user acting in A switches its own session of B to A", inOrg(both, orgA), false, switchOp(sesB, orgA)),
		{name: "user acting in A switches its own sessions to A in bulk: those of A and of none only", who: inOrg(both, orgA), bulk: true,
			do: func(ctx context.Context, c *ent.Client, w tenants) error {
				_, err := c.Session.Update().Where(session.UserID(w.both)).SetOrganizationID(w.a).Save(ctx)
				return err
			},
			done: func(sys context.Context, c *ent.Client, w tenants) bool {
				return ptrID(c.Session.GetX(sys, w.sesB).OrganizationID) == w.a
			}},
		sessionCase("owner of B clears the organization of a member's session of B", ownerB, false, switchOp(sesB, noOrg)),
		sessionCase("owner of B switches a member's session of A to B", ownerB, false, switchOp(sesA, orgB)),
		sessionCase("personal key with session:revoke switches its owner's session", bothKey(permission.SessionRevoke), false, switchOp(sesN, orgA)),
		sessionCase("personal key with every scope switches its owner's session", bothKey(actor.ScopeAll), true, switchOp(sesN, orgA)),
		sessionCase("organization key of B switches a session of B", orgKeyOf(permission.SessionRevoke), false, switchOp(sesOwnerB, noOrg)),
		sessionCase("superadmin switches a member's session", superadmin, true, switchOp(sesB, orgA)),
		sessionCase("superadmin acting in A switches a member's session of A", inOrg(superadmin, orgA), false, switchOp(sesA, noOrg)),

		// Opening.
		sessionCase("user opens its own session", both, true, openOp(userBoth, noOrg, nil)),
		sessionCase("user opens its own session in A", both, true, openOp(userBoth, orgA, nil)),
		sessionCase("user acting in A opens its own session in A", inOrg(both, orgA), true, openOp(userBoth, orgA, nil)),
		sessionCase("user acting in A opens its own session in B", inOrg(both, orgA), false, openOp(userBoth, orgB, nil)),
		sessionCase("owner of B opens its own session in A, not one of its organizations", ownerB, false, openOp(userOwnB, orgA, nil)),
		sessionCase("user opens a session for another user", both, false, openOp(userOwnB, orgB, nil)),
		sessionCase("user opens its own session impersonated by another", both, false, openOp(userBoth, noOrg, userOwnA)),
		sessionCase("personal key with session:revoke opens a session", bothKey(permission.SessionRevoke), false, openOp(userBoth, noOrg, nil)),
		sessionCase("personal key with every scope opens a session", bothKey(actor.ScopeAll), true, openOp(userBoth, noOrg, nil)),
		sessionCase("organization key of B opens a session for its creator", orgKeyOf(permission.SessionRevoke), false, openOp(userOwnB, orgB, nil)),
		sessionCase("support opens its own session", support, true, openOp(userSup, noOrg, nil)),
		sessionCase("support opens a session for a user", support, false, openOp(userBoth, noOrg, nil)),
		sessionCase("superadmin opens a session for a user", superadmin, true, openOp(userBoth, orgA, nil)),
		sessionCase("superadmin acting in A opens a session for a user of A", inOrg(superadmin, orgA), false, openOp(userBoth, orgA, nil)),

		// Deleting: sessions are revoked, never deleted.
		sessionCase("user deletes its own session", both, false, deleteOp(sesN)),
		sessionCase("personal key with every scope deletes its owner's session", bothKey(actor.ScopeAll), false, deleteOp(sesN)),
		sessionCase("owner of B deletes a session of B", ownerB, false, deleteOp(sesB)),
		sessionCase("superadmin acting in A deletes a session of A", inOrg(superadmin, orgA), false, deleteOp(sesA)),
		sessionCase("superadmin deletes a session", superadmin, true, deleteOp(sesOwnerB)),
		{name: "user deletes its own sessions in bulk", who: both, bulk: true,
			do: func(ctx context.Context, c *ent.Client, w tenants) error {
				_, err := c.Session.Delete().Where(session.UserID(w.both)).Exec(ctx)
				return err
			},
			done: func(sys context.Context, c *ent.Client, w tenants) bool {
				return c.Session.Query().Where(session.UserID(w.both)).CountX(sys) < 3
			}},
	}
}

// TestSessionWrites runs the write matrix of the Session policy, each case
// in a world of its own (a transaction rolled back after it).
func TestSessionWrites(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		root, _ := testdb.Migrated(t, db)
		sys := actor.NewContext(context.Background(), actor.System("test"))
		for _, wr := range sessionWrites() {
			t.Run(wr.name, func(t *testing.T) {
				tx, err := root.Tx(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = tx.Rollback() })
				c := tx.Client()
				w := setupTenants(t, c)
				ctx := as(t, c, wr.who(t, c, w))
				err = wr.do(ctx, c, w)
				took := wr.done(sys, c, w)
				switch {
				case wr.allowed && (err != nil || !took):
					t.Errorf("%v (took effect: %v), want it done", err, took)
				case !wr.allowed && took:
					t.Errorf("the write took effect (err %v), want a refusal", err)
				case !wr.allowed && err == nil && !wr.bulk:
					t.Errorf("no error, want a refusal")
				case !wr.allowed && err != nil && !errors.Is(err, privacy.Deny) && !ent.IsNotFound(err):
					t.Errorf("refused with %v, want privacy.Deny or not found", err)
				}
			})
		}
	})
}

// A refresh token continues one of its user's own sessions: planting one in
// another user's session (family_id) would let its creator present it
// (session.Manager.Refresh acts as the session's user) and revoke that
// session as a reuse.
func TestRefreshTokenFamilyIsOwnSession(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		w := setupTenants(t, c)
		sys := actor.NewContext(context.Background(), actor.System("test"))
		tests := []struct {
			name    string
			who     who
			family  func(tenants) pulid.ID
			org     func(tenants) pulid.ID
			allowed bool
		}{
			{"user, its own session", both, sesN, noOrg, true},
			{"user, another user's session", both, sesOwnerB, noOrg, false},
			{"user, another user's session of an organization of both", both, sesOwnerB, orgB, false},
			{"user acting in A, its own session of B", inOrg(both, orgA), sesB, noOrg, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := as(t, c, tt.who(t, c, w))
				m := c.RefreshToken.Create().SetUserID(w.both).SetFamilyID(tt.family(w)).
					SetTokenHash(secret.DigestOf(string(pulid.New("tok")))).SetExpiresAt(time.Now().Add(time.Hour))
				if org := tt.org(w); org != "" {
					m.SetOrganizationID(org)
				}
				tok, err := m.Save(ctx)
				switch {
				case tt.allowed && err != nil:
					t.Errorf("%v, want the token", err)
				case !tt.allowed && err == nil:
					t.Errorf("created %s in session %s, want a refusal", tok.ID, tt.family(w))
					_ = c.RefreshToken.DeleteOne(tok).Exec(sys)
				case !tt.allowed && !errors.Is(err, privacy.Deny):
					t.Errorf("%v, want privacy.Deny", err)
				}
			})
		}
	})
}

// Signing keys are the system's: no other actor, a superadmin included,
// reads or writes them through the client.
func TestSigningKeysAreSystemOnly(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, _ := testdb.Migrated(t, db)
		w := setupTenants(t, c)
		sys := actor.NewContext(context.Background(), actor.System("test"))
		create, err := newSigningKey(c)
		if err != nil {
			t.Fatal(err)
		}
		key := create.SaveX(sys)
		ops := []struct {
			name string
			do   func(ctx context.Context) error
		}{
			{"Query().All", func(ctx context.Context) error { _, err := c.SigningKey.Query().All(ctx); return err }},
			{"Query().Count", func(ctx context.Context) error { _, err := c.SigningKey.Query().Count(ctx); return err }},
			{"Get", func(ctx context.Context) error { _, err := c.SigningKey.Get(ctx, key.ID); return err }},
			{"Create", func(ctx context.Context) error {
				m, err := newSigningKey(c)
				if err != nil {
					return err
				}
				return m.Exec(ctx)
			}},
			{"UpdateOneID", func(ctx context.Context) error {
				return c.SigningKey.UpdateOneID(key.ID).SetVerifyUntil(time.Now()).Exec(ctx)
			}},
			{"Update", func(ctx context.Context) error {
				_, err := c.SigningKey.Update().SetVerifyUntil(time.Now()).Save(ctx)
				return err
			}},
			{"DeleteOneID", func(ctx context.Context) error { return c.SigningKey.DeleteOneID(key.ID).Exec(ctx) }},
			{"Delete", func(ctx context.Context) error { _, err := c.SigningKey.Delete().Exec(ctx); return err }},
		}
		principals := []struct {
			name string
			a    *actor.Actor
		}{
			{"superadmin", actor.User(w.superadmin, actor.PlatformSuperadmin)},
			{"superadmin acting in A", actor.User(w.superadmin, actor.PlatformSuperadmin).WithOrganization(w.a)},
			{"platform admin", actor.User(w.admin, actor.PlatformAdmin)},
			{"support", actor.User(w.support, actor.PlatformSupport)},
			{"owner of A", actor.User(w.ownerA, actor.PlatformNone)},
			{"superadmin's personal key with every scope", personalKey(t, c, w.superadmin, actor.PlatformSuperadmin, actor.ScopeAll)},
		}
		for _, p := range principals {
			ctx := as(t, c, p.a)
			for _, op := range ops {
				if err := op.do(ctx); !errors.Is(err, privacy.Deny) {
					t.Errorf("%s: %s = %v, want privacy.Deny", p.name, op.name, err)
				}
			}
		}
		got := c.SigningKey.Query().AllX(sys)
		if len(got) != 1 || got[0].ID != key.ID || got[0].VerifyUntil != nil {
			t.Errorf("signing keys after the refused writes = %v, want the one key unchanged", got)
		}
		// The system reads and writes them.
		if err := c.SigningKey.UpdateOneID(key.ID).SetVerifyUntil(time.Now()).Exec(sys); err != nil {
			t.Errorf("system update: %v", err)
		}
		if err := c.SigningKey.DeleteOneID(key.ID).Exec(sys); err != nil {
			t.Errorf("system delete: %v", err)
		}
	})
}
