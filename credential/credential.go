// Package credential turns the bearer credential of a request into an
// actor, and issues and revokes API keys.
//
// A bearer credential is either an API key ("cfk_<prefix>_<secret>", see
// package apikey) or an access token (a JWT signed by package session);
// Authenticate tells them apart by their shape. An access token is checked
// offline (signature, issuer, audience, expiry) and then against its
// session with one indexed lookup, so a revoked session stops working at
// once on this server.
package credential

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cf/identity/accesstoken"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/session"
)

// ErrInvalid is matched (errors.Is) by every error of Authenticate that
// means the credential authenticates nobody: malformed, unknown, revoked,
// expired, or of a user who cannot sign in. It also matches
// apikey.ErrInvalidKey or session.ErrInvalidAccessToken, for the kind of
// credential presented. Any other error means the credential could not be
// checked (the database did not answer) and says nothing about it.
var ErrInvalid = errors.New("credential: invalid credential")

// ErrMalformed is matched by the error of a credential that is neither an
// API key nor an access token in shape; it also matches ErrInvalid. No
// lookup was made for it.
var ErrMalformed = errors.New("credential: neither an API key nor an access token")

// Kind says which sort of credential was presented.
type Kind int

// Kinds of credentials.
const (
	KindUnknown Kind = iota
	KindAPIKey
	KindAccessToken
)

// KindOf tells the kind of a bearer credential from its shape alone.
func KindOf(bearer string) Kind {
	switch {
	case strings.HasPrefix(bearer, apikey.Kind+"_"):
		return KindAPIKey
	case accesstoken.LooksLikeJWT(bearer):
		return KindAccessToken
	}
	return KindUnknown
}

type invalid struct{ err error }

func (e invalid) Error() string { return e.err.Error() }
func (e invalid) Unwrap() []error {
	return []error{ErrInvalid, e.err}
}

// Authenticate checks bearer and returns its actor. sessions checks access
// tokens; when nil, only API keys are accepted. The actor's grants are not
// loaded yet: pass it to authz.NewContext. An API key's use is written on
// the caller's path, at most once a minute per key; a server uses an
// Authenticator with a UsageRecorder instead.
func Authenticate(ctx context.Context, client *ent.Client, sessions *session.Manager, bearer string, now time.Time) (*actor.Actor, error) {
	return (&Authenticator{Client: client, Sessions: sessions}).Authenticate(ctx, bearer, now)
}

// An Authenticator turns bearer credentials into actors.
type Authenticator struct {
	// Client looks up API keys when Usage is nil; a UsageRecorder looks
	// them up with the client it was made with.
	Client *ent.Client
	// Sessions checks access tokens; when nil, only API keys are accepted.
	Sessions *session.Manager
	// Usage, when set, records the use of API keys in the background, so
	// that authenticating writes nothing; when nil a key's use is written
	// on the caller's path, at most once a minute per key.
	Usage *apikey.UsageRecorder
}

// Authenticate is the package's Authenticate with a's settings.
func (a *Authenticator) Authenticate(ctx context.Context, bearer string, now time.Time) (*actor.Actor, error) {
	switch KindOf(bearer) {
	case KindAPIKey:
		var (
			act *actor.Actor
			err error
		)
		if a.Usage != nil {
			act, err = a.Usage.Authenticate(ctx, bearer, now)
		} else {
			act, err = apikey.Authenticate(ctx, a.Client, bearer, now)
		}
		if errors.Is(err, apikey.ErrInvalidKey) {
			return nil, invalid{err}
		}
		return act, err
	case KindAccessToken:
		if a.Sessions == nil {
			return nil, invalid{fmt.Errorf("%w: access tokens are not accepted here", session.ErrInvalidAccessToken)}
		}
		act, err := a.Sessions.Authenticate(ctx, bearer)
		if errors.Is(err, session.ErrInvalidAccessToken) {
			return nil, invalid{err}
		}
		return act, err
	}
	return nil, invalid{ErrMalformed}
}
