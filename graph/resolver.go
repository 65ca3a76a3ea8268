// Package graph serves the GraphQL admin API: the schema (ent.graphql from
// entgql plus the hand-written *.graphql files), thin resolvers that call the
// ent client, error presentation and HTTP wiring.
package graph

import (
	"context"
	"errors"
	"time"

	"github.com/cf/identity/audit"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/session"
	"github.com/cf/identity/validation"
)

// Resolver is the root resolver. Resolvers run inside the request's
// transaction (entgql.Transactioner) and reach the database only through
// ent.FromContext(ctx) in mutations, or the client in queries.
type Resolver struct {
	client   *ent.Client
	sessions *session.Manager // nil: no sign-in (API keys only)
}

// ErrNoSignIn is returned by the password and session mutations of a
// server built without a session.Manager (Options.Sessions).
var ErrNoSignIn = errors.New("graph: sign-in is not configured on this server")

func (r *Resolver) sessionManager() (*session.Manager, error) {
	if r.sessions == nil {
		return nil, ErrNoSignIn
	}
	return r.sessions, nil
}

// clientOf returns the transactional client of a mutation, or the root
// client for a mutation that runs its own transactions (see ownTx).
func (r *Resolver) clientOf(ctx context.Context) *ent.Client {
	if c := ent.FromContext(ctx); c != nil {
		return c
	}
	return r.client
}

// requestClient describes the client of a GraphQL request (its address
// and user agent, as the audit middleware recorded them) for the sessions
// a mutation opens.
func requestClient(ctx context.Context) session.Client {
	req := audit.FromContext(ctx)
	return session.Client{IP: req.IP, UserAgent: req.UserAgent}
}

// impersonationDuration turns the durationMinutes argument into a
// duration: zero (the server's default) when nil, refused outside 1 and
// the configured maximum.
func impersonationDuration(m *session.Manager, minutes *int) (time.Duration, error) {
	if minutes == nil {
		return 0, nil
	}
	limit := int(m.Config().MaxImpersonationTTL / time.Minute)
	if *minutes < 1 || *minutes > limit {
		return 0, validation.Errorf("durationMinutes", "between 1 and %d minutes, got %d", limit, *minutes)
	}
	return time.Duration(*minutes) * time.Minute, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
