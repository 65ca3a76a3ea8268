package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/privacy"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/validation"
)

// ErrImpersonation is matched by every *ImpersonationError.
var ErrImpersonation = errors.New("session: impersonation refused")

// ErrImpersonateSelf is matched by the error of an impersonation of
// oneself; it is also a *validation.Error for the field userID.
var ErrImpersonateSelf = errors.New("session: you cannot impersonate yourself")

// Reasons of an ImpersonationError.
const (
	// ImpersonationNotHolder: the caller does not hold
	// platform:impersonate (or does not act across organizations).
	ImpersonationNotHolder = "not_holder"
	// ImpersonationRank: the target's platform role is equal to or above
	// the caller's.
	ImpersonationRank = "rank"
	// ImpersonationInactive: the target is not active, or is banned.
	ImpersonationInactive = "inactive"
	// ImpersonationNested: the caller is itself an impersonation.
	ImpersonationNested = "nested"
	// ImpersonationCredential: the caller is not a signed-in user (an API
	// key, say).
	ImpersonationCredential = "credential"
)

// ImpersonationError refuses an impersonation; Reason is one of the
// Impersonation* constants and Detail says it in words.
type ImpersonationError struct {
	UserID pulid.ID
	Reason string
	Detail string
}

func (e *ImpersonationError) Error() string {
	return "session: impersonation refused: " + e.Detail
}

// Is reports whether target is ErrImpersonation or privacy.Deny: a refused
// impersonation is a denial of the policies.
func (e *ImpersonationError) Is(target error) bool {
	return target == ErrImpersonation || target == privacy.Deny
}

// ImpersonateInput starts an impersonation.
type ImpersonateInput struct {
	UserID pulid.ID
	// Reason is required and recorded with the impersonation.
	Reason string
	// Duration is how long the impersonation lasts; zero means
	// Config.ImpersonationTTL. Above Config.MaxImpersonationTTL it is
	// refused.
	Duration time.Duration
	Client   Client
}

// RevokedImpersonationStopped and RevokedImpersonationInvalid are the
// revocation reasons of impersonations stopped by stopImpersonation, and
// of those whose impersonator may no longer impersonate their user.
const (
	RevokedImpersonationStopped = "impersonation_stopped"
	RevokedImpersonationInvalid = "impersonation_invalid"
)

// Impersonate opens a session of in.UserID for the actor of ctx (grants
// loaded, see authz.NewContext) and returns its tokens: the access tokens
// carry the "act" claim naming the impersonator, act as the user under the
// user's own permissions, and every activity they record names the
// impersonator. The session lasts in.Duration and ends then however often
// it is refreshed; it starts with no active organization.
//
// The caller must be a signed-in user (not an API key, not itself an
// impersonation) holding platform:impersonate across organizations, and
// the user must be active, not banned, and of a lower platform role than
// the caller's: an *ImpersonationError otherwise (it matches
// ErrImpersonation and privacy.Deny). A missing reason, a duration out of
// bounds or the caller's own ID are validation errors. It records
// user.impersonation_started with the reason and the session.
func (m *Manager) Impersonate(ctx context.Context, client *ent.Client, in ImpersonateInput) (*Tokens, error) {
	reason := strings.TrimSpace(in.Reason)
	d := in.Duration
	if d == 0 {
		d = m.cfg.ImpersonationTTL
	}
	switch {
	case in.UserID == "":
		return nil, validation.Errorf("userID", "required")
	case in.UserID.Prefix() != "usr":
		return nil, validation.Errorf("userID", "want a user ID (usr_...)")
	case reason == "":
		return nil, validation.Errorf("reason", "required: say why you act as this user")
	case len(reason) > 500:
		return nil, validation.Errorf("reason", "at most 500 characters")
	case d < time.Minute:
		return nil, validation.Errorf("duration", "at least 1 minute, got %s", d)
	case d > m.cfg.MaxImpersonationTTL:
		return nil, validation.Errorf("duration", "at most %s, got %s", m.cfg.MaxImpersonationTTL, d)
	}
	a := actor.FromContext(ctx)
	g, ok := authz.FromContext(ctx)
	if a == nil || !ok {
		return nil, authz.ErrNotLoaded
	}
	refuse := func(reason, format string, args ...any) error {
		return &ImpersonationError{UserID: in.UserID, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	switch {
	case a.Impersonator() != "":
		return nil, refuse(ImpersonationNested, "an impersonated session cannot start another impersonation")
	case a.Kind() != actor.KindUser:
		return nil, refuse(ImpersonationCredential, "impersonation needs a signed-in user, not an API key")
	case in.UserID == a.UserID():
		return nil, validation.Wrap("userID", ErrImpersonateSelf)
	}
	if ok, why := g.PlatformCan(permission.PlatformImpersonate); !ok {
		return nil, refuse(ImpersonationNotHolder, "impersonation needs %s (%s)", permission.PlatformImpersonate, why)
	}
	key, err := m.keys.signer(ctx)
	if err != nil {
		return nil, err
	}
	return withTx(ctx, client, func(c *ent.Client) (*Tokens, error) {
		target, err := c.User.Query().Where(user.ID(in.UserID), forUpdate).Only(ctx)
		if err != nil {
			return nil, err
		}
		own := g.PlatformRole()
		if r := actor.PlatformRole(target.PlatformRole); r.Level() >= own.Level() {
			return nil, refuse(ImpersonationRank, "user %s has platform role %s, equal to or above yours (%s)", target.ID, r, own)
		}
		now := m.now()
		if serr := stateError(target, now); serr != nil {
			return nil, refuse(ImpersonationInactive, "user %s cannot sign in (%s)", target.ID, strings.TrimPrefix(serr.Error(), "session: "))
		}
		dctx := trail.Domain(ctx)
		end := now.Add(d)
		s, err := c.Session.Create().
			SetUserID(target.ID).
			SetImpersonatorID(a.UserID()).
			SetIP(truncate(in.Client.IP, 45)).SetUserAgent(truncate(in.Client.UserAgent, 512)).SetLastIP(truncate(in.Client.IP, 45)).
			SetLastUsedAt(now).
			SetIdleExpiresAt(end).
			SetExpiresAt(end).
			Save(dctx)
		if err != nil {
			return nil, err
		}
		// The first refresh token is the target's, as an impersonation.
		tctx, err := asUser(dctx, c, actor.UserSession(target.ID, actor.PlatformRole(target.PlatformRole), s.ID).ImpersonatedBy(a.UserID()))
		if err != nil {
			return nil, err
		}
		refresh, err := m.issueRefresh(tctx, c, s, "", in.Client)
		if err != nil {
			return nil, err
		}
		if err := trail.Record(ctx, c, trail.Event{Verb: "user.impersonation_started", ObjectType: "User", ObjectID: target.ID,
			Data: map[string]any{
				"reason": reason, "session_id": string(s.ID),
				"expires_at": end.Format(time.RFC3339), "duration_seconds": int(d / time.Second),
			}}); err != nil {
			return nil, err
		}
		return m.tokens(key, s, refresh)
	})
}

// StopImpersonation ends an impersonation session: id, or the session of
// the actor of ctx when id is empty (the impersonation stopping itself).
// The impersonated session itself and its impersonator may stop it; for
// others it is not found (or, when they may see it, refused). Stopping an
// ended impersonation returns it unchanged. It records
// user.impersonation_stopped.
func (m *Manager) StopImpersonation(ctx context.Context, client *ent.Client, id pulid.ID) (*ent.Session, error) {
	a := actor.FromContext(ctx)
	if a == nil {
		return nil, authz.ErrNotLoaded
	}
	if id == "" {
		if a.Impersonator() == "" {
			return nil, validation.Errorf("sessionID", "required: this request is not an impersonation")
		}
		id = a.SessionID()
	} else if id.Prefix() != "ses" {
		return nil, validation.Errorf("sessionID", "want a session ID (ses_...)")
	}
	return withTx(ctx, client, func(c *ent.Client) (*ent.Session, error) {
		s, err := c.Session.Query().Where(entsession.ID(id), forUpdate).Only(ctx)
		if err != nil {
			return nil, err
		}
		if s.ImpersonatorID == nil {
			return nil, validation.Errorf("sessionID", "session %s is not an impersonation", id)
		}
		itself := a.SessionID() == s.ID && a.UserID() == s.UserID
		if !itself && a.UserID() != *s.ImpersonatorID {
			return nil, fmt.Errorf("%w: only the impersonation itself or its impersonator stops it", privacy.Deny)
		}
		if s.RevokedAt != nil {
			return s, nil
		}
		if err := m.revoke(trail.Domain(ctx), c, s, RevokedImpersonationStopped); err != nil {
			return nil, err
		}
		if err := trail.Record(ctx, c, trail.Event{Verb: "user.impersonation_stopped", ObjectType: "User", ObjectID: s.UserID,
			Data: map[string]any{"session_id": string(s.ID), "impersonator_id": string(*s.ImpersonatorID)}}); err != nil {
			return nil, err
		}
		return c.Session.Get(ctx, id)
	})
}

// impersonationValid reports whether the impersonator of s may still
// impersonate u: active, not banned, holding platform:impersonate and of a
// higher platform role.
func (m *Manager) impersonationValid(ctx context.Context, c *ent.Client, s *ent.Session, u *ent.User) (bool, error) {
	imp, err := c.User.Query().Where(user.ID(*s.ImpersonatorID)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	}
	role := actor.PlatformRole(imp.PlatformRole)
	return stateError(imp, m.now()) == nil &&
		authz.PlatformCovers(role, permission.PlatformImpersonate) &&
		actor.PlatformRole(u.PlatformRole).Level() < role.Level(), nil
}
