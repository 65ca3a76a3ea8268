package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/refreshtoken"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/validation"
)

// Revocation reasons stored with a session and its tokens.
const (
	RevokedLogout     = "logout"
	RevokedReuse      = "reuse_detected"
	RevokedByUser     = "revoked"
	RevokedSuperseded = "superseded"
	RevokedExpired    = "expired"
	// RevokedMembershipEnded: the user is no longer an active member of
	// the session's organization.
	RevokedMembershipEnded = "membership_ended"
	// RevokedUserDeleted and RevokedUserInactive: the user was deleted,
	// or may no longer sign in (banned, suspended, ...).
	RevokedUserDeleted  = "user_deleted"
	RevokedUserInactive = "user_inactive"
)

// lookup finds the refresh token presented and locks its session, so that
// every refresh of one session runs after the other.
func lookup(ctx context.Context, c *ent.Client, token string) (*ent.RefreshToken, *ent.Session, error) {
	if _, err := secret.SplitToken(RefreshKind, token); err != nil {
		return nil, nil, fmt.Errorf("%w: malformed", ErrInvalidRefreshToken)
	}
	digest := secret.DigestOf(token)
	t, err := c.RefreshToken.Query().Where(refreshtoken.TokenHash(digest)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return nil, nil, ErrInvalidRefreshToken
	case err != nil:
		return nil, nil, err
	}
	s, err := c.Session.Query().Where(entsession.ID(t.FamilyID), forUpdate).Only(ctx)
	if err != nil {
		return nil, nil, err
	}
	// Read the token again under the session's lock: a parallel refresh
	// may have used it meanwhile.
	t, err = c.RefreshToken.Query().Where(refreshtoken.ID(t.ID), forUpdate).Only(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !t.TokenHash.Matches(token) {
		return nil, nil, ErrInvalidRefreshToken
	}
	return t, s, nil
}

// Refresh rotates a refresh token: in one transaction it marks the token
// used (a conditional update: of parallel refreshes of one token exactly
// one consumes it) and issues its successor with a new access token.
//
// A token presented again after it was used revokes the session and
// returns ErrTokenReused, except within Config.Grace of its use by the
// same client (same address and user agent) while its successor is still
// unused: then a new pair replaces that successor, and the session lives
// on. A revoked session returns ErrSessionRevoked, an expired one
// ErrSessionExpired, a user who may no longer sign in a *StateError (the
// session is revoked); any of them matches ErrInvalidRefreshToken except
// the *StateError.
func (m *Manager) Refresh(ctx context.Context, token string, cl Client) (*Tokens, error) {
	if token == "" {
		return nil, validation.Errorf("refreshToken", "required")
	}
	sys := trail.Domain(system(ctx))
	key, err := m.keys.signer(ctx)
	if err != nil {
		return nil, err
	}
	return withTx(ctx, m.client, func(c *ent.Client) (*Tokens, error) {
		t, s, err := lookup(sys, c, token)
		if err != nil {
			return nil, err
		}
		now := m.now()
		switch {
		case s.RevokedAt != nil && t.RevokedReason == RevokedSuperseded:
			return nil, ErrTokenReused
		case s.RevokedAt != nil:
			return nil, ErrSessionRevoked
		case !now.Before(s.ExpiresAt) || !now.Before(s.IdleExpiresAt) || !now.Before(t.ExpiresAt):
			if err := m.end(sys, c, s, RevokedExpired); err != nil {
				return nil, err
			}
			return nil, keep(ErrSessionExpired)
		}
		u, err := c.User.Query().Where(user.ID(s.UserID)).Only(sys)
		switch {
		case ent.IsNotFound(err):
			// The user was deleted: the session ends.
			if err := m.end(sys, c, s, RevokedUserDeleted); err != nil {
				return nil, err
			}
			return nil, keep(ErrSessionRevoked)
		case err != nil:
			return nil, err
		}
		if serr := stateError(u, now); serr != nil {
			if err := m.end(sys, c, s, RevokedUserInactive); err != nil {
				return nil, err
			}
			return nil, keep(serr)
		}
		if s.OrganizationID != nil {
			if err := activeMember(sys, c, s.UserID, *s.OrganizationID); err != nil {
				if !errors.Is(err, ErrNotMember) {
					return nil, err
				}
				// The user left the session's organization: the session ends.
				if err := m.end(sys, c, s, RevokedMembershipEnded); err != nil {
					return nil, err
				}
				return nil, keep(ErrSessionRevoked)
			}
		}
		ua := actor.UserSession(u.ID, actor.PlatformRole(u.PlatformRole), s.ID)
		if s.ImpersonatorID != nil {
			// An impersonation lives while its impersonator may still
			// impersonate the user.
			ok, err := m.impersonationValid(sys, c, s, u)
			if err != nil {
				return nil, err
			}
			if !ok {
				if err := m.end(sys, c, s, RevokedImpersonationInvalid); err != nil {
					return nil, err
				}
				return nil, keep(ErrSessionRevoked)
			}
			ua = ua.ImpersonatedBy(*s.ImpersonatorID)
		}
		uctx, err := asUser(trail.Domain(ctx), c, ua)
		if err != nil {
			return nil, err
		}
		retry := false
		switch {
		case t.UsedAt == nil && t.RevokedAt == nil:
			n, err := c.RefreshToken.Update().
				Where(refreshtoken.ID(t.ID), refreshtoken.UsedAtIsNil(), refreshtoken.RevokedAtIsNil()).
				SetUsedAt(now).Save(uctx)
			if err != nil {
				return nil, err
			}
			if n != 1 {
				return nil, m.reused(sys, c, s, t)
			}
		case t.UsedAt != nil && m.cfg.Grace > 0 && now.Sub(*t.UsedAt) <= m.cfg.Grace:
			// A retry within the grace window: replace the unused
			// successor, if the same client asks.
			next, err := c.RefreshToken.Query().Where(refreshtoken.ParentID(t.ID), refreshtoken.UsedAtIsNil(), refreshtoken.RevokedAtIsNil()).All(sys)
			if err != nil {
				return nil, err
			}
			if len(next) != 1 || next[0].IP != truncate(cl.IP, 45) || next[0].UserAgent != truncate(cl.UserAgent, 512) {
				return nil, m.reused(sys, c, s, t)
			}
			if err := c.RefreshToken.UpdateOne(next[0]).SetRevokedAt(now).SetRevokedReason(RevokedSuperseded).Exec(uctx); err != nil {
				return nil, err
			}
			retry = true
		default:
			return nil, m.reused(sys, c, s, t)
		}
		// Keeping a session alive is the sign-in system's write: the
		// policy lets users and admins only revoke a session.
		s, err = c.Session.UpdateOne(s).
			SetLastUsedAt(now).SetLastIP(truncate(cl.IP, 45)).
			SetIdleExpiresAt(minTime(now.Add(m.cfg.IdleTTL), s.ExpiresAt)).
			Save(sys)
		if err != nil {
			return nil, err
		}
		refresh, err := m.issueRefresh(uctx, c, s, t.ID, cl)
		if err != nil {
			return nil, err
		}
		data := map[string]any{}
		if retry {
			data["grace_retry"] = true
		}
		if err := trail.Record(uctx, c, trail.Event{Verb: "session.refreshed", ObjectType: "Session", ObjectID: s.ID, Organization: orgOf(s), Data: data}); err != nil {
			return nil, err
		}
		return m.tokens(key, s, refresh)
	})
}

// reused revokes s after token t was presented again, records it, and
// returns ErrTokenReused with the revocation kept.
func (m *Manager) reused(ctx context.Context, c *ent.Client, s *ent.Session, t *ent.RefreshToken) error {
	if err := m.revoke(ctx, c, s, RevokedReuse); err != nil {
		return err
	}
	if err := trail.Record(ctx, c, trail.Event{Verb: "session.reuse_detected", ObjectType: "Session", ObjectID: s.ID, Organization: orgOf(s),
		Actor: actor.System("sign-in"), Data: map[string]any{"refresh_token": string(t.ID), "user_id": string(s.UserID)}}); err != nil {
		return err
	}
	return keep(ErrTokenReused)
}

// end revokes s as the sign-in system, found ended when it was presented,
// and records why.
func (m *Manager) end(ctx context.Context, c *ent.Client, s *ent.Session, reason string) error {
	if err := m.revoke(ctx, c, s, reason); err != nil {
		return err
	}
	data := map[string]any{"reason": reason, "user_id": string(s.UserID)}
	if s.ImpersonatorID != nil {
		data["impersonator_id"] = string(*s.ImpersonatorID)
	}
	return trail.Record(ctx, c, trail.Event{Verb: "session.revoked", ObjectType: "Session", ObjectID: s.ID, Organization: orgOf(s), Data: data})
}

// revoke revokes s in c as the actor of ctx, and its live tokens as the
// system: they follow their session, whatever organization they were
// issued in (a session that switched organization keeps older tokens).
func (m *Manager) revoke(ctx context.Context, c *ent.Client, s *ent.Session, reason string) error {
	now := m.now()
	if s.RevokedAt == nil {
		if err := c.Session.UpdateOne(s).SetRevokedAt(now).SetRevokedReason(reason).Exec(ctx); err != nil {
			return err
		}
	}
	return c.RefreshToken.Update().
		Where(refreshtoken.FamilyID(s.ID), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(now).SetRevokedReason(reason).Exec(system(ctx))
}

// revokeAll revokes sessions ss and their live refresh tokens, and records
// session.revoked for each (as the actor of ctx), in a constant number of
// statements. The sessions are written with write's actor, under the
// Session policy: a session it may see but not revoke refuses them all.
// The tokens follow their sessions, written by the system.
func (m *Manager) revokeAll(ctx, write context.Context, c *ent.Client, ss []*ent.Session, reason string) error {
	if len(ss) == 0 {
		return nil
	}
	now := m.now()
	ids := make([]pulid.ID, len(ss))
	events := make([]trail.Event, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
		events[i] = trail.Event{Verb: "session.revoked", ObjectType: "Session", ObjectID: s.ID, Organization: orgOf(s),
			Data: map[string]any{"reason": reason, "user_id": string(s.UserID)}}
	}
	write = trail.Domain(write)
	n, err := c.Session.Update().Where(entsession.IDIn(ids...), entsession.RevokedAtIsNil()).
		SetRevokedAt(now).SetRevokedReason(reason).Save(write)
	switch {
	case err != nil:
		return err
	case n != len(ids):
		return fmt.Errorf("%w: revoking these sessions needs session:revoke", privacy.Deny)
	}
	if err := c.RefreshToken.Update().
		Where(refreshtoken.FamilyIDIn(ids...), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(now).SetRevokedReason(reason).Exec(system(write)); err != nil {
		return err
	}
	return trail.RecordAll(ctx, c, events)
}

func orgOf(s *ent.Session) pulid.ID {
	if s.OrganizationID != nil {
		return *s.OrganizationID
	}
	return ""
}

// Logout revokes the session of a refresh token. A token of a session
// already revoked, or a used one, is refused like in Refresh (a used one
// outside the grace window is a reuse and still ends the session).
func (m *Manager) Logout(ctx context.Context, token string) error {
	if token == "" {
		return validation.Errorf("refreshToken", "required")
	}
	sys := trail.Domain(system(ctx))
	_, err := withTx(ctx, m.client, func(c *ent.Client) (struct{}, error) {
		t, s, err := lookup(sys, c, token)
		if err != nil {
			return struct{}{}, err
		}
		if s.RevokedAt != nil {
			return struct{}{}, ErrSessionRevoked
		}
		if t.RevokedAt != nil || (t.UsedAt != nil && (m.cfg.Grace == 0 || m.now().Sub(*t.UsedAt) > m.cfg.Grace)) {
			return struct{}{}, m.reused(sys, c, s, t)
		}
		if err := m.revoke(sys, c, s, RevokedLogout); err != nil {
			return struct{}{}, err
		}
		by := actor.User(s.UserID, actor.PlatformNone)
		if s.ImpersonatorID != nil {
			by = by.ImpersonatedBy(*s.ImpersonatorID)
		}
		return struct{}{}, trail.Record(sys, c, trail.Event{Verb: "session.revoked", ObjectType: "Session", ObjectID: s.ID, Organization: orgOf(s),
			Actor: by, Data: map[string]any{"reason": RevokedLogout}})
	})
	return err
}

// RevokeSession revokes a session as the actor of ctx (grants loaded, see
// authz.NewContext): one's own (scope session:revoke) or one active in an
// organization where the actor holds session:revoke. Access tokens of the
// session stop working on this server at once; offline verifiers accept
// them until they expire. Revoking a revoked session returns it unchanged.
func (m *Manager) RevokeSession(ctx context.Context, client *ent.Client, id pulid.ID) (*ent.Session, error) {
	return withTx(ctx, client, func(c *ent.Client) (*ent.Session, error) {
		s, err := c.Session.Query().Where(entsession.ID(id), forUpdate).Only(ctx)
		if err != nil {
			return nil, err
		}
		if s.RevokedAt != nil {
			return s, nil
		}
		dctx := trail.Domain(ctx)
		if err := m.revoke(dctx, c, s, RevokedByUser); err != nil {
			return nil, err
		}
		if err := trail.Record(ctx, c, trail.Event{Verb: "session.revoked", ObjectType: "Session", ObjectID: s.ID, Organization: orgOf(s),
			Data: map[string]any{"reason": RevokedByUser, "user_id": string(s.UserID)}}); err != nil {
			return nil, err
		}
		return c.Session.Get(ctx, id)
	})
}

// RevokeUserSessions revokes every live session of a user that the actor
// of ctx may revoke (see RevokeSession) and returns how many it revoked.
func (m *Manager) RevokeUserSessions(ctx context.Context, client *ent.Client, userID pulid.ID) (int, error) {
	return withTx(ctx, client, func(c *ent.Client) (int, error) {
		ss, err := c.Session.Query().Where(entsession.UserID(userID), entsession.RevokedAtIsNil(), forUpdate).All(ctx)
		if err != nil {
			return 0, err
		}
		if len(ss) == 0 {
			// Tell "nothing to revoke" from "not yours to see".
			if _, err := c.User.Get(ctx, userID); err != nil {
				return 0, err
			}
			return 0, nil
		}
		if err := m.revokeAll(ctx, ctx, c, ss, RevokedByUser); err != nil {
			return 0, err
		}
		return len(ss), nil
	})
}

// SwitchOrganization makes the session of the signed-in actor of ctx
// active in org (one the user is an active member of; empty for none) and
// returns a new access token for it. The refresh token stays as it is.
//
// The new token expires no later than notAfter (the expiry of the token
// that asked for the switch, when not zero): a switch never extends what a
// presented access token is worth, only a refresh does.
func (m *Manager) SwitchOrganization(ctx context.Context, org pulid.ID, notAfter time.Time) (*Tokens, error) {
	a := actor.FromContext(ctx)
	if a == nil || a.SessionID() == "" {
		return nil, fmt.Errorf("%w: switching organization needs a signed-in session (an access token)", authz.ErrNotLoaded)
	}
	if org != "" && org.Prefix() != "org" {
		return nil, validation.Errorf("organizationID", "want an organization ID (org_...)")
	}
	key, err := m.keys.signer(ctx)
	if err != nil {
		return nil, err
	}
	return withTx(ctx, m.client, func(c *ent.Client) (*Tokens, error) {
		now := m.now()
		s, err := c.Session.Query().Where(entsession.ID(a.SessionID()), entsession.UserID(a.UserID()),
			entsession.RevokedAtIsNil(), entsession.ExpiresAtGT(now), entsession.IdleExpiresAtGT(now), forUpdate).Only(ctx)
		if ent.IsNotFound(err) {
			return nil, ErrSessionRevoked
		}
		if err != nil {
			return nil, err
		}
		if org != "" {
			if err := activeMember(system(ctx), c, s.UserID, org); err != nil {
				return nil, err
			}
		}
		upd := c.Session.UpdateOne(s)
		if org == "" {
			upd.ClearOrganizationID()
		} else {
			upd.SetOrganizationID(org)
		}
		if s, err = upd.Save(trail.Domain(ctx)); err != nil {
			return nil, err
		}
		if err := trail.Record(ctx, c, trail.Event{Verb: "session.organization_switched", ObjectType: "Session", ObjectID: s.ID, Organization: org}); err != nil {
			return nil, err
		}
		return m.tokensUntil(key, s, "", notAfter)
	})
}
