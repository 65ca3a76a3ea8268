package credential

import (
	"context"
	"fmt"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	apikeyent "github.com/cf/identity/ent/apikey"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/internal/txn"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/validation"
)

// CreateAPIKey issues a personal key (no organization) for the acting user
// or an organization key (api_key:create). The scopes of an organization key
// must each be held by the creator in the organization, and a personal
// key's by the creating credential; "*" is for personal keys only. The key
// is returned once.
func CreateAPIKey(ctx context.Context, client *ent.Client, p apikey.Params) (string, *ent.APIKey, error) {
	g, ok := authz.FromContext(ctx)
	if !ok {
		return "", nil, authz.ErrNotLoaded
	}
	if p.OwnerID == "" {
		p.OwnerID = g.Actor().UserID()
	}
	if len(p.Scopes) == 0 {
		return "", nil, validation.Errorf("scopes", "name at least one scope (a permission, or * for a personal key)")
	}
	for _, s := range p.Scopes {
		switch {
		case s == actor.ScopeAll && p.OrganizationID != "":
			return "", nil, validation.Errorf("scopes", "* is for personal keys; list the permissions of an organization key")
		case s == actor.ScopeAll:
		case !permission.Known(s):
			return "", nil, validation.Errorf("scopes", "%q is not a permission of the catalog", s)
		}
	}
	// The APIKey policy refuses scopes beyond the creator's own
	// (authz.ErrExceedsOwn), for this function and the client alike.
	type out struct {
		key string
		k   *ent.APIKey
	}
	o, err := txn.Run(ctx, client, func(c *ent.Client) (out, error) {
		key, k, err := apikey.Create(ctx, c, p)
		return out{key, k}, err
	})
	return o.key, o.k, err
}

// RevokeAPIKey revokes a key: it authenticates nobody from now on. A key
// already revoked keeps the time of its first revocation, also when several
// revocations run at once (the key is locked before it is read).
func RevokeAPIKey(ctx context.Context, client *ent.Client, id pulid.ID) (*ent.APIKey, error) {
	return txn.Run(ctx, client, func(c *ent.Client) (*ent.APIKey, error) {
		k, err := c.APIKey.Query().Where(apikeyent.ID(id), txn.ForUpdate).Only(ctx)
		if err != nil {
			return nil, err
		}
		if k.RevokedAt != nil {
			// Already revoked: answer only those who could have revoked it.
			g, ok := authz.FromContext(ctx)
			mayRevoke := ok && ((k.OrganizationID == nil && g.Self(permission.APIKeyRevoke) == k.UserID) ||
				(k.OrganizationID != nil && g.Allowed(permission.APIKeyRevoke, *k.OrganizationID)))
			if !mayRevoke {
				return nil, fmt.Errorf("%w: revoking keys needs %s", privacy.Deny, permission.APIKeyRevoke)
			}
			return k, nil
		}
		return c.APIKey.UpdateOne(k).SetRevokedAt(time.Now()).Save(ctx)
	})
}

// CreateAPIKeyInput describes a key to create for the acting user.
type CreateAPIKeyInput struct {
	Name string
	// OrganizationID makes an organization key; nil makes a personal key.
	OrganizationID *pulid.ID
	Scopes         []string
	ExpiresAt      *time.Time
}

// CreatedAPIKey is a new key, shown once, and its row.
type CreatedAPIKey struct {
	Key    string
	APIKey *ent.APIKey
}

// IssueAPIKey is CreateAPIKey for the acting user, from an input.
func IssueAPIKey(ctx context.Context, client *ent.Client, in CreateAPIKeyInput) (*CreatedAPIKey, error) {
	p := apikey.Params{Name: in.Name, Scopes: in.Scopes, ExpiresAt: in.ExpiresAt}
	if in.OrganizationID != nil {
		p.OrganizationID = *in.OrganizationID
	}
	key, k, err := CreateAPIKey(ctx, client, p)
	if err != nil {
		return nil, err
	}
	return &CreatedAPIKey{Key: key, APIKey: k}, nil
}
