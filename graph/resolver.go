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
	entinvitation "github.com/cf/identity/ent/invitation"
	"github.com/cf/identity/features"
	"github.com/cf/identity/invitation"
	"github.com/cf/identity/oauthlink"
	"github.com/cf/identity/session"
	"github.com/cf/identity/validation"
)

// Resolver is the root resolver. Resolvers run inside the request's
// transaction (entgql.Transactioner) and reach the database only through
// ent.FromContext(ctx) in mutations, or the client in queries.
type Resolver struct {
	client   *ent.Client
	sessions *session.Manager // nil: no sign-in (API keys only)
	flows    Flows
}

// Flows are the mailed-link flows, OAuth links and flow switches a server
// offers; each nil one answers its mutations with ErrNotConfigured.
type Flows struct {
	// Invitations serves inviteMember, resendInvitation, revokeInvitation,
	// acceptInvitation and POST /auth/invitations/accept.
	Invitations *invitation.Service
	// Recovery serves requestEmailVerification, requestEmailChange and
	// POST /auth/password-reset/*, /auth/verify-email and /auth/signup.
	Recovery *session.Recovery
	// OAuth serves unlinkOAuthAccount.
	OAuth *oauthlink.Linker
	// Features serves features, setFeature and GET /auth/features.
	Features *features.Gates
}

// ErrNotConfigured is returned by a mutation whose flow the server was
// built without (see Flows).
var ErrNotConfigured = errors.New("graph: this flow is not configured on this server")

func need[T any](v *T) (*T, error) {
	if v == nil {
		return nil, ErrNotConfigured
	}
	return v, nil
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

// effectiveStatus is the status of inv now: a pending invitation past its
// expiry reads as expired before the sweep writes it.
// It reads the clock of the invitation flows when the server has them.
// A pending invitation read without its expiry (the field collection
// selects only the fields asked for) has it read first.
func (r *Resolver) effectiveStatus(ctx context.Context, inv *ent.Invitation) (entinvitation.Status, error) {
	if inv.Status == entinvitation.StatusPending && inv.ExpiresAt.IsZero() {
		full, err := r.client.Invitation.Get(ctx, inv.ID)
		if err != nil {
			return "", err
		}
		inv = full
	}
	if r.flows.Invitations != nil {
		return r.flows.Invitations.Status(inv), nil
	}
	return invitation.Status(inv, time.Now()), nil
}

// featureStates lists the states of the flows of g (the defaults of
// package features without one).
func featureStates(ctx context.Context, g *features.Gates) ([]*features.State, error) {
	if g == nil {
		g = features.New(nil, nil)
	}
	ss, err := g.States(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*features.State, len(ss))
	for i := range ss {
		out[i] = &ss[i]
	}
	return out, nil
}
