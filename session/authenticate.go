package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/cf/identity/accesstoken"
	"github.com/cf/identity/actor"
	entsession "github.com/cf/identity/ent/session"
)

// Authenticate checks an access token: its signature against the keys of
// the database, issuer, audience and expiry, and then that its session is
// neither revoked nor past its idle or absolute lifetime (one indexed
// lookup). It returns
// the actor of the session's user, active in the token's organization; the
// token of an impersonation (its act claim, which must name the session's
// impersonator) gives that actor its impersonator (actor.ImpersonatedBy).
// Errors that mean the token authenticates nobody match
// ErrInvalidAccessToken (and the accesstoken reason, such as
// accesstoken.ErrExpired); any other error means it could not be checked.
//
// Use package credential to accept API keys and access tokens alike.
func (m *Manager) Authenticate(ctx context.Context, token string) (*actor.Actor, error) {
	a, _, err := m.AuthenticateClaims(ctx, token)
	return a, err
}

// AuthenticateClaims is Authenticate that also returns the token's claims.
func (m *Manager) AuthenticateClaims(ctx context.Context, token string) (*actor.Actor, *accesstoken.Claims, error) {
	c, err := m.verifier.Verify(ctx, token)
	switch {
	case errors.Is(err, accesstoken.ErrInvalidToken):
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidAccessToken, err)
	case err != nil:
		return nil, nil, fmt.Errorf("session: checking an access token: %w", err)
	}
	// The act claim must be the session's own impersonator (or absent
	// for a session nobody impersonates): the same indexed lookup checks it.
	impersonator := entsession.ImpersonatorIDIsNil()
	if c.Actor != nil {
		impersonator = entsession.ImpersonatorID(c.Actor.Subject)
	}
	alive, err := m.client.Session.Query().Where(
		entsession.ID(c.SessionID),
		entsession.UserID(c.Subject),
		impersonator,
		entsession.RevokedAtIsNil(),
		entsession.ExpiresAtGT(m.now()),
		entsession.IdleExpiresAtGT(m.now()),
	).Exist(system(ctx))
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("session: looking up the session: %w", err)
	case !alive:
		return nil, nil, fmt.Errorf("%w: the session was revoked or has ended", ErrInvalidAccessToken)
	}
	a := actor.UserSession(c.Subject, actor.PlatformNone, c.SessionID)
	if c.Actor != nil {
		a = a.ImpersonatedBy(c.Actor.Subject)
	}
	if c.Organization != "" {
		a = a.WithOrganization(c.Organization)
	}
	return a, c, nil
}
