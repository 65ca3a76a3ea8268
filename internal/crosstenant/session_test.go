package crosstenant_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/privacy"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/usertoken"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/session"
)

// systemOnly are the entities that only the system reads and writes
// through the client (package session keeps its signing keys there): every
// other actor, the control superadmin and support included, is refused.
var systemOnly = map[string]bool{"SigningKey": true, "UserToken": true}

// notAimed are entities the suite does not aim at: the heads of the
// activity hash chains, keyed by organization ID (or platform), which no
// actor but the system reads or writes (internal/rule TestEveryEntityHasAPolicy).
var notAimed = map[string]bool{"ActivityChain": true}

// newSessions returns a session manager over client; in an empty database
// it creates the signing key, the row of SigningKey the suite aims at.
func newSessions(t *testing.T, client *ent.Client) *session.Manager {
	t.Helper()
	cfg := session.DefaultConfig()
	cfg.MasterKey = bytes.Repeat([]byte("k"), 32)
	m, err := session.New(context.Background(), client, cfg)
	if err != nil {
		t.Fatalf("session manager: %v", err)
	}
	return m
}

// --- who may do what with sessions ---------------------------------------------

func userOf(p principal) pulid.ID {
	if p.actor == nil {
		return ""
	}
	return p.actor.UserID()
}

func orgKey(p principal) bool {
	return p.actor != nil && p.actor.Kind() == actor.KindAPIKey && p.actor.OrganizationID() != ""
}

// selfWith reports whether p acts on its user's own rows with scope (a user
// always; a personal key holding the scope).
func selfWith(p principal, scope string) bool {
	return p.actor != nil && !orgKey(p) && p.actor.HasScope(scope)
}

// revokesInB reports whether p holds session:revoke in B: B's owner, B's
// organization key (every organization permission of its owner) and the
// superadmin acting in B (its platform role counts in B).
func (s *suite) revokesInB(p principal) bool {
	u := userOf(p)
	return u == s.f.ownerB || (u == s.f.superadmin && p.org == s.f.orgB)
}

// sessionsSeen returns the fixture sessions that the Session policy lets p
// read: its own (scope session:read), those active in an organization
// where it holds session:read, every one for platform staff across
// organizations; an active organization keeps it to the sessions of that
// organization and its own of none.
func (s *suite) sessionsSeen(p principal) []pulid.ID {
	f := s.f
	var out []pulid.ID
	for org, byUser := range f.sessions {
		for u, id := range byUser {
			inScope := p.org == "" || org == "" || org == p.org
			own := userOf(p) == u && selfWith(p, permission.SessionRead)
			readsOrg := org == f.orgB && (userOf(p) == f.ownerB || userOf(p) == f.superadmin && p.org == f.orgB)
			if p.control || p.support || inScope && (own || readsOrg) {
				out = append(out, id)
			}
		}
	}
	return out
}

// sessionsOf returns the fixture sessions of user u, in any organization.
func (s *suite) sessionsOf(u pulid.ID) []pulid.ID {
	var out []pulid.ID
	for _, byUser := range s.f.sessions {
		if id, ok := byUser[u]; ok {
			out = append(out, id)
		}
	}
	return out
}

// compareSeen returns the rows got that p may not read (leaks) and the ones
// of want it does not get (refusals), among the fixture's sessions.
func (s *suite) compareSeen(got, want []pulid.ID) (leaks, refusals []string) {
	var fixture []pulid.ID
	for _, byUser := range s.f.sessions {
		for _, id := range byUser {
			fixture = append(fixture, id)
		}
	}
	for _, id := range got {
		if slices.Contains(fixture, id) && !slices.Contains(want, id) {
			leaks = append(leaks, fmt.Sprintf("gets session %s, which the policy keeps from it", id))
		}
	}
	for _, id := range want {
		if !slices.Contains(got, id) {
			refusals = append(refusals, fmt.Sprintf("does not get session %s, which the policy lets it read", id))
		}
	}
	return leaks, refusals
}

// sessionReads check, through the client, that every principal reads the
// sessions the policy lets it read: no fewer (a wrong refusal) and no more.
func (s *suite) sessionReads() []clientRead {
	return []clientRead{
		{name: "Session IDs: exactly the sessions the policy lets the caller read", run: func(ctx context.Context) (any, error) {
			return s.client.Session.Query().IDs(ctx)
		}, expect: func(p principal, v any) ([]string, []string) {
			return s.compareSeen(v.([]pulid.ID), s.sessionsSeen(p))
		}},
		{name: "Session Get of every fixture session: those the caller may read", run: func(ctx context.Context) (any, error) {
			var got []pulid.ID
			for _, byUser := range s.f.sessions {
				for _, id := range byUser {
					switch _, err := s.client.Session.Get(ctx, id); {
					case err == nil:
						got = append(got, id)
					case !ent.IsNotFound(err):
						return nil, err
					}
				}
			}
			return got, nil
		}, expect: func(p principal, v any) ([]string, []string) {
			return s.compareSeen(v.([]pulid.ID), s.sessionsSeen(p))
		}},
		{name: "Session Where(user is the caller) IDs: its own sessions it may read", run: func(ctx context.Context) (any, error) {
			return s.client.Session.Query().Where(entsession.UserID(actorOf(ctx))).IDs(ctx)
		}, expect: func(p principal, v any) ([]string, []string) {
			want := slices.DeleteFunc(s.sessionsSeen(p), func(id pulid.ID) bool { return !slices.Contains(s.sessionsOf(userOf(p)), id) })
			return s.compareSeen(v.([]pulid.ID), want)
		}},
	}
}

// sessionWrites are the writes of sessions through the client, each with
// the outcome the policy gives it per principal.
func (s *suite) sessionWrites() []clientWrite {
	f := s.f
	never := func(principal) bool { return false }
	exp := time.Now().Add(time.Hour)
	create := func(c *ent.Client, u pulid.ID) *ent.SessionCreate {
		return c.Session.Create().SetUserID(u).SetLastUsedAt(time.Now()).SetIdleExpiresAt(exp).SetExpiresAt(exp).SetUserAgent("evil")
	}
	ownB := func(p principal) pulid.ID { return f.sessions[f.orgB][userOf(p)] }
	hasOwnB := func(p principal) bool { return ownB(p) != "" }
	memberOfB := func(p principal) bool { return slices.Contains([]pulid.ID{f.memberB, f.ownerB, f.shared}, userOf(p)) }
	memberBSession := f.sessions[f.orgB][f.memberB]
	notMemberB := func(p principal) bool { return userOf(p) != f.memberB }
	var ws []clientWrite
	add := func(w clientWrite) {
		w.name = "Session " + w.name
		ws = append(ws, w)
	}

	// Opening sessions.
	for _, u := range []pulid.ID{f.ownerA, f.memberA} {
		for _, org := range []*pulid.ID{nil, &f.orgA} {
			add(clientWrite{name: fmt.Sprintf("create for A's user %s active in %s", u, ptr(org)), given: []pulid.ID{u, ptr(org)}, strict: true, allowed: never,
				run: func(ctx context.Context, c *ent.Client) error {
					return create(c, u).SetNillableOrganizationID(org).Exec(ctx)
				}})
		}
	}
	add(clientWrite{name: "create for another user of B", strict: true, allowed: never, only: notMemberB,
		run: func(ctx context.Context, c *ent.Client) error {
			return create(c, f.memberB).SetOrganizationID(f.orgB).Exec(ctx)
		}})
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		add(clientWrite{name: "create of self active in " + string(org), given: []pulid.ID{org}, strict: true, allowed: never,
			run: func(ctx context.Context, c *ent.Client) error {
				return create(c, selfOf(ctx, f)).SetOrganizationID(org).Exec(ctx)
			}})
	}
	add(clientWrite{name: "create of self impersonated by A's admin", given: []pulid.ID{f.adminA}, strict: true, allowed: never,
		run: func(ctx context.Context, c *ent.Client) error {
			return create(c, selfOf(ctx, f)).SetImpersonatorID(f.adminA).Exec(ctx)
		}})
	add(clientWrite{name: "create of self of no organization", allowed: func(p principal) bool { return selfWith(p, actor.ScopeAll) },
		run: func(ctx context.Context, c *ent.Client) error { return create(c, selfOf(ctx, f)).Exec(ctx) }})
	add(clientWrite{name: "create of self active in B", allowed: func(p principal) bool { return selfWith(p, actor.ScopeAll) && memberOfB(p) },
		run: func(ctx context.Context, c *ent.Client) error {
			return create(c, selfOf(ctx, f)).SetOrganizationID(f.orgB).Exec(ctx)
		}})

	// Switching the active organization.
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		add(clientWrite{name: "UpdateOneID switching one's own session of B to " + string(org), given: []pulid.ID{org}, allowed: never, only: hasOwnB,
			run: func(ctx context.Context, c *ent.Client) error {
				return c.Session.UpdateOneID(f.sessions[f.orgB][actorOf(ctx)]).SetOrganizationID(org).Exec(ctx)
			}})
	}
	add(clientWrite{name: "UpdateOneID switching another user's session of B to no organization", strict: true, allowed: never, only: notMemberB,
		run: func(ctx context.Context, c *ent.Client) error {
			return c.Session.UpdateOneID(memberBSession).ClearOrganizationID().Exec(ctx)
		}})
	for _, id := range f.aRows["Session"] {
		add(clientWrite{name: fmt.Sprintf("UpdateOneID switching A's session %s to B", id), given: []pulid.ID{id}, allowed: never,
			run: func(ctx context.Context, c *ent.Client) error {
				return c.Session.UpdateOneID(id).SetOrganizationID(f.orgB).Exec(ctx)
			}})
	}
	add(clientWrite{name: "Update switching every session to B", run: func(ctx context.Context, c *ent.Client) error {
		_, err := c.Session.Update().SetOrganizationID(f.orgB).Save(ctx)
		return err
	}})
	// A refresh token continues a session of its own user only.
	add(clientWrite{name: "RefreshToken create of self in A's session", given: []pulid.ID{f.sessions[f.orgA][f.memberA]}, strict: true, allowed: never,
		run: func(ctx context.Context, c *ent.Client) error {
			return c.RefreshToken.Create().SetUserID(selfOf(ctx, f)).SetFamilyID(f.sessions[f.orgA][f.memberA]).
				SetTokenHash(secret.DigestOf(string(pulid.New("tok")))).SetExpiresAt(exp).Exec(ctx)
		}})
	add(clientWrite{name: "RefreshToken create of self in another user's session of B", strict: true, allowed: never, only: notMemberB,
		run: func(ctx context.Context, c *ent.Client) error {
			return c.RefreshToken.Create().SetUserID(selfOf(ctx, f)).SetFamilyID(memberBSession).SetOrganizationID(f.orgB).
				SetTokenHash(secret.DigestOf(string(pulid.New("tok")))).SetExpiresAt(exp).Exec(ctx)
		}})
	add(clientWrite{name: "Update switching every session to A", given: []pulid.ID{f.orgA},
		run: func(ctx context.Context, c *ent.Client) error {
			_, err := c.Session.Update().SetOrganizationID(f.orgA).Save(ctx)
			return err
		}})

	// Revoking.
	add(clientWrite{name: "UpdateOneID revoking another user's session of B", allowed: s.revokesInB, only: notMemberB,
		run: func(ctx context.Context, c *ent.Client) error {
			return c.Session.UpdateOneID(memberBSession).SetRevokedAt(time.Now()).SetRevokedReason("revoked").Exec(ctx)
		}})
	add(clientWrite{name: "UpdateOneID revoking one's own session of B", only: hasOwnB,
		allowed: func(p principal) bool { return selfWith(p, permission.SessionRevoke) || s.revokesInB(p) },
		run: func(ctx context.Context, c *ent.Client) error {
			return c.Session.UpdateOneID(f.sessions[f.orgB][actorOf(ctx)]).SetRevokedAt(time.Now()).Exec(ctx)
		}})

	// Deleting: sessions are revoked, never deleted (but by superadmins
	// acting across organizations, and the system).
	add(clientWrite{name: "DeleteOneID of one's own session of B", strict: true, allowed: never, only: hasOwnB,
		run: func(ctx context.Context, c *ent.Client) error {
			return c.Session.DeleteOneID(f.sessions[f.orgB][actorOf(ctx)]).Exec(ctx)
		}})
	add(clientWrite{name: "DeleteOneID of another user's session of B", strict: true, allowed: never, only: notMemberB,
		run: func(ctx context.Context, c *ent.Client) error { return c.Session.DeleteOneID(memberBSession).Exec(ctx) }})
	add(clientWrite{name: "Delete of one's own sessions", strict: true, allowed: never,
		run: func(ctx context.Context, c *ent.Client) error {
			_, err := c.Session.Delete().Where(entsession.UserID(selfOf(ctx, f))).Exec(ctx)
			return err
		}})
	return ws
}

// selfOf is the user the context acts as, or B's member for the anonymous
// caller.
func selfOf(ctx context.Context, f *fixture) pulid.ID {
	if a := actorOf(ctx); a != "" {
		return a
	}
	return f.memberB
}

// --- system-only entities ------------------------------------------------------

// systemOnlyReads read entity e every way the client offers; the rows are
// the system's, so every caller must be refused.
func (s *suite) systemOnlyReads(e entityRef) []clientRead {
	ids := s.f.systemRows[e.name]
	name := func(format string, args ...any) string { return e.name + " " + fmt.Sprintf(format, args...) }
	cs := []clientRead{
		{name: name("All"), run: func(ctx context.Context) (any, error) { return result(call(e.query(), "All", ctx)) }},
		{name: name("IDs"), run: func(ctx context.Context) (any, error) { return result(call(e.query(), "IDs", ctx)) }},
		{name: name("Count"), run: func(ctx context.Context) (any, error) { return result(call(e.query(), "Count", ctx)) }},
		{name: name("Exist"), run: func(ctx context.Context) (any, error) { return result(call(e.query(), "Exist", ctx)) }},
		{name: name("Aggregate(Count)"), run: func(ctx context.Context) (any, error) {
			return result(call(call(e.query(), "Aggregate", ent.Count())[0], "Int", ctx))
		}},
		{name: name("Select(id).Strings"), run: func(ctx context.Context) (any, error) {
			return result(call(call(e.query(), "Select", "id")[0], "Strings", ctx))
		}},
		{name: name("GroupBy(id).Strings"), run: func(ctx context.Context) (any, error) {
			return result(call(call(e.query(), "GroupBy", "id")[0], "Strings", ctx))
		}},
		{name: name("Where(id in the system's).All"), run: func(ctx context.Context) (any, error) {
			return result(call(where(e.query(), idIn(ids)), "All", ctx))
		}},
	}
	for _, id := range ids {
		cs = append(cs,
			clientRead{name: name("Get(%s)", id), run: func(ctx context.Context) (any, error) { return result(call(e.client, "Get", ctx, id)) }},
			clientRead{name: fmt.Sprintf("Noder(%s)", id), run: func(ctx context.Context) (any, error) {
				return s.client.Noder(ctx, id, ent.WithNodeType(ent.IDToType))
			}},
		)
	}
	for i := range cs {
		cs[i].systemOnly = true
	}
	return cs
}

// runSystemOnlyRead checks a read of a system-only entity as p: privacy.Deny
// (Noder, which has no such node type: not found) and nothing of the rows.
func (s *suite) runSystemOnlyRead(t *testing.T, p principal, c clientRead, v any, err error) {
	t.Helper()
	s.count("client read")
	name := "client " + c.name
	got := mustJSON(v)
	for _, id := range s.f.systemRows {
		for _, x := range id {
			if strings.Contains(got, string(x)) {
				s.leak(t, p, name, "result holds the system's row %s", x)
			}
		}
	}
	switch {
	case c.eagerLoad && err == nil && (got == "null" || got == "[]"):
		// No start row to load the edge of.
	case strings.HasPrefix(c.name, "Noder") && ent.IsNotFound(err):
	case strings.HasPrefix(c.name, "Noder"):
		s.leak(t, p, name, "want not found, got %v (%s)", err, got)
	case c.eagerLoad && err == nil && s.mode.policiesOff:
		// The start rows are the caller's; the system's rows are not
		// among them (checked above).
		s.disagree("an eager load of a system-only edge loads nothing instead of privacy.Deny")
	case !errors.Is(err, privacy.Deny) && s.rlsRefusal(err, v):
		s.disagree("a read of a system-only entity gets nothing or not found instead of privacy.Deny")
	case !errors.Is(err, privacy.Deny):
		s.leak(t, p, name, "want privacy.Deny, got %v (%s)", err, got)
	}
}

// systemOnlyWrites write entity e every way the client offers, as every
// principal and the control: each must be refused and change nothing.
func (s *suite) systemOnlyWrites(e entityRef, fields []fieldValue) []clientWrite {
	name := e.name
	ids := s.f.systemRows[name]
	never := func(principal) bool { return false }
	var ws []clientWrite
	add := func(n string, run func(ctx context.Context, c *ent.Client) error) {
		ws = append(ws, clientWrite{name: name + " " + n, strict: true, control: true, allowed: never, given: ids, run: run})
	}
	for _, id := range ids {
		for _, fv := range fields {
			add(fmt.Sprintf("UpdateOneID(%s).Set(%s)", id, fv.field), func(ctx context.Context, c *ent.Client) error {
				b := call(entityOf(c, name).client, "UpdateOneID", id)[0]
				if err := set(b, fv); err != nil {
					return err
				}
				_, err := result(call(b, "Save", ctx))
				return err
			})
		}
		add(fmt.Sprintf("DeleteOneID(%s)", id), func(ctx context.Context, c *ent.Client) error {
			_, err := result(call(call(entityOf(c, name).client, "DeleteOneID", id)[0], "Exec", ctx))
			return err
		})
	}
	for _, fv := range fields {
		add(fmt.Sprintf("Update().Set(%s) on every row", fv.field), func(ctx context.Context, c *ent.Client) error {
			b := call(entityOf(c, name).client, "Update")[0]
			if err := set(b, fv); err != nil {
				return err
			}
			_, err := result(call(b, "Save", ctx))
			return err
		})
	}
	add("Delete() every row", func(ctx context.Context, c *ent.Client) error {
		_, err := result(call(call(entityOf(c, name).client, "Delete")[0], "Exec", ctx))
		return err
	})
	if name == "UserToken" {
		for _, u := range []pulid.ID{s.f.memberA, s.f.memberB} {
			add("Create of a password reset of "+string(u), func(ctx context.Context, c *ent.Client) error {
				return c.UserToken.Create().SetUserID(u).SetPurpose(usertoken.PurposePasswordReset).SetEmail("evil@evil.example").
					SetTokenDigest(secret.DigestOf("evil")).SetExpiresAt(time.Now().Add(time.Hour)).Exec(ctx)
			})
		}
	}
	if name == "SigningKey" {
		add("Create of a key pair", func(ctx context.Context, c *ent.Client) error {
			pub, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return err
			}
			sealer, err := secret.NewSealer(bytes.Repeat([]byte("e"), 32))
			if err != nil {
				return err
			}
			box, err := sealer.Seal(priv.Seed(), "evil")
			if err != nil {
				return err
			}
			return c.SigningKey.Create().SetPublicKey([]byte(pub)).SetPrivateKey(box).Exec(ctx)
		})
	}
	return ws
}

// --- GraphQL -------------------------------------------------------------------

// sessionGraphQLCases check the sessions each principal reads through
// GraphQL (the connection, and its own through viewer), and that the
// system's signing keys are no node to anyone, the control included.
func (s *suite) sessionGraphQLCases() []readCase {
	nodeIDs := func(data []byte, path ...string) []pulid.ID {
		var out []pulid.ID
		var walk func(v any, depth int)
		walk = func(v any, depth int) {
			m, _ := v.(map[string]any)
			if depth == len(path) {
				for _, e := range edgesOf(map[string]any{"x": m}, "x") {
					if n, ok := e["node"].(map[string]any); ok {
						out = append(out, pulid.ID(row(n).id()))
					}
				}
				return
			}
			walk(m[path[depth]], depth+1)
		}
		walk(decode(data), 0)
		return out
	}
	cases := []readCase{
		{name: "sessions: exactly the sessions the policy lets the caller read", query: `{ sessions(first: 1000) { totalCount edges { node { id } } } }`,
			check: func(p principal, r gqlResp) ([]string, []string) {
				return s.compareSeen(nodeIDs(r.data, "sessions"), s.sessionsSeen(p))
			}},
		{name: "viewer's user sessions: its own sessions it may read", query: `{ viewer { user { id sessions(first: 1000) { totalCount edges { node { id } } } } } }`,
			check: func(p principal, r gqlResp) ([]string, []string) {
				want := slices.DeleteFunc(s.sessionsSeen(p), func(id pulid.ID) bool { return !slices.Contains(s.sessionsOf(userOf(p)), id) })
				if strings.Contains(string(r.data), `"user":null`) {
					want = nil // a key whose scopes do not reach its owner's row
				}
				return s.compareSeen(nodeIDs(r.data, "viewer", "user", "sessions"), want)
			}},
	}
	var systemIDs []pulid.ID
	for _, e := range slices.Sorted(maps.Keys(s.f.systemRows)) {
		systemIDs = append(systemIDs, s.f.systemRows[e]...)
	}
	for _, id := range systemIDs {
		for _, q := range []struct{ name, query string }{
			{"node", `query($id: ID!) { node(id: $id) { id } }`},
			{"nodes", `query($id: ID!) { nodes(ids: [$id]) { id } }`},
		} {
			cases = append(cases, readCase{name: q.name + " of the system's row " + string(id), query: q.query, vars: map[string]any{"id": id},
				everyone: true, check: func(p principal, r gqlResp) ([]string, []string) {
					var leaks []string
					if strings.Contains(string(r.data), string(id)) {
						leaks = append(leaks, "the system's row is a node: "+string(r.raw))
					}
					if len(r.errors) != 1 || r.errors[0].code() != "NOT_FOUND" {
						leaks = append(leaks, "want NOT_FOUND, got "+string(r.raw))
					}
					return leaks, nil
				}})
		}
	}
	return cases
}
