// Package graph serves the GraphQL admin API: the schema (ent.graphql from
// entgql plus the hand-written *.graphql files), thin resolvers that call the
// ent client, error presentation and HTTP wiring.
package graph

import (
	"context"
	"errors"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/session"
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
