// Package apikey issues and checks API keys.
//
// A key looks like "cfk_<prefix>_<secret>". The prefix is public and stored
// in clear, to find the key; of the secret only a SHA-256 digest is stored,
// compared in constant time. The full key is returned once, by Create.
package apikey

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/apikey"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/validation"
)

// Kind is the token kind prefix of API keys.
const Kind = "cfk"

// ErrInvalidKey is matched (errors.Is) by every error of Authenticate that
// means the key does not authenticate anyone: malformed, unknown, revoked,
// expired, or owned by a user who cannot sign in. Any other error of
// Authenticate is a failure to check the key (the database did not answer)
// and says nothing about the key.
var ErrInvalidKey = errors.New("apikey: invalid key")

// Reasons a key is invalid, returned by Authenticate. Each matches
// ErrInvalidKey; the distinction is for logs, not for the caller.
var (
	ErrMalformed error = invalidKey("malformed key")
	ErrUnknown   error = invalidKey("unknown key")
	ErrRevoked   error = invalidKey("key revoked")
	ErrExpired   error = invalidKey("key expired")
	ErrOwner     error = invalidKey("owner cannot sign in")
)

// invalidKey is the type of the reasons a key is invalid.
type invalidKey string

func (e invalidKey) Error() string { return "apikey: " + string(e) }

// Is reports whether target is ErrInvalidKey.
func (e invalidKey) Is(target error) bool { return target == ErrInvalidKey }

// Params describes a key to create.
type Params struct {
	Name           string
	OwnerID        pulid.ID
	OrganizationID pulid.ID // empty for a personal key
	Scopes         []string
	ExpiresAt      *time.Time
}

// ErrPastExpiry is matched (errors.Is) by the error of Create for an expiry
// that is not in the future; the error is also a *validation.Error for the
// field expiresAt.
var ErrPastExpiry = errors.New("apikey: expiry is not in the future")

// Create stores a new key for p and returns the key, to be shown once, and
// its row. It runs with the actor of ctx and under the APIKey policy. An
// expiry that is not in the future is refused with ErrPastExpiry.
func Create(ctx context.Context, client *ent.Client, p Params) (string, *ent.APIKey, error) {
	if p.ExpiresAt != nil && !p.ExpiresAt.After(time.Now()) {
		return "", nil, fmt.Errorf("%w: %w", ErrPastExpiry, validation.Errorf("expiresAt",
			"%s is not in the future; send a later time, or none for a key that does not expire", p.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	token, prefix, err := secret.NewToken(Kind)
	if err != nil {
		return "", nil, err
	}
	c := client.APIKey.Create().
		SetName(p.Name).
		SetUserID(p.OwnerID).
		SetPrefix(prefix).
		SetSecretHash(secret.DigestOf(token)).
		SetScopes(p.Scopes).
		SetNillableExpiresAt(p.ExpiresAt)
	if p.OrganizationID != "" {
		c.SetOrganizationID(p.OrganizationID)
	}
	k, err := c.Save(ctx)
	if err != nil {
		return "", nil, err
	}
	return token, k, nil
}

// Authenticate checks token and returns the actor it stands for. The lookup
// runs as the system actor "authenticate": it is the one read that happens
// before anyone is known. An error matching ErrInvalidKey means the key does
// not authenticate; any other error (wrapping the database's, or ctx's) means
// the key could not be checked.
func Authenticate(ctx context.Context, client *ent.Client, token string, now time.Time) (*actor.Actor, error) {
	prefix, err := secret.SplitToken(Kind, token)
	if err != nil {
		return nil, ErrMalformed
	}
	sys := actor.NewContext(ctx, actor.System("authenticate"))
	k, err := client.APIKey.Query().
		Where(apikey.Prefix(prefix)).
		WithOwner(func(q *ent.UserQuery) {
			q.Select(user.FieldPlatformRole, user.FieldStatus, user.FieldBannedAt, user.FieldBanExpiresAt)
		}).
		Only(sys)
	switch {
	case ent.IsNotFound(err):
		// Spend the same digest work as a found key.
		secret.Digest{}.Matches(token)
		return nil, ErrUnknown
	case err != nil:
		return nil, fmt.Errorf("apikey: looking up key: %w", err)
	}
	if !k.SecretHash.Matches(token) {
		return nil, ErrUnknown
	}
	if k.RevokedAt != nil {
		return nil, ErrRevoked
	}
	if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return nil, ErrExpired
	}
	o := k.Edges.Owner
	if o == nil || o.Status != user.StatusActive || (o.BannedAt != nil && (o.BanExpiresAt == nil || now.Before(*o.BanExpiresAt))) {
		return nil, ErrOwner
	}
	var org pulid.ID
	if k.OrganizationID != nil {
		org = *k.OrganizationID
	}
	// Record use at most once a minute per key, so reads stay reads.
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
		_ = client.APIKey.UpdateOneID(k.ID).SetLastUsedAt(now).Exec(sys)
	}
	return actor.APIKey(k.ID, k.UserID, actor.PlatformRole(o.PlatformRole), org, k.Scopes), nil
}
