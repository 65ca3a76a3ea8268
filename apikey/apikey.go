// Package apikey issues and checks API keys.
//
// A key looks like "cfk_<prefix>_<secret>". The prefix is public and stored
// in clear, to find the key; of the secret only a SHA-256 digest is stored,
// compared in constant time. The full key is returned once, by Create.
package apikey

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	entsql "entgo.io/ent/dialect/sql"

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
// before anyone is known. It is one statement, the key joined with its
// owner. When the key was last used more than a minute ago, Authenticate
// records the use itself, a write on the caller's path; a server uses a
// UsageRecorder instead, which does it in the background. An error matching
// ErrInvalidKey means the key does not authenticate; any other error
// (wrapping the database's, or ctx's) means the key could not be checked.
func Authenticate(ctx context.Context, client *ent.Client, token string, now time.Time) (*actor.Actor, error) {
	a, last, err := lookup(ctx, client, token, now)
	if err != nil {
		return nil, err
	}
	if due(last, now) {
		_ = recordUse(actor.NewContext(ctx, actor.System(usageReason)), client, map[pulid.ID]time.Time{a.APIKeyID(): now})
	}
	return a, nil
}

// keyRow is a key with the owner columns Authenticate needs.
type keyRow struct {
	ID             pulid.ID       `sql:"id"`
	UserID         pulid.ID       `sql:"user_id"`
	OrganizationID sql.NullString `sql:"organization_id"`
	SecretHash     secret.Digest  `sql:"secret_hash"`
	Scopes         []byte         `sql:"scopes"`
	ExpiresAt      sql.NullTime   `sql:"expires_at"`
	LastUsedAt     sql.NullTime   `sql:"last_used_at"`
	RevokedAt      sql.NullTime   `sql:"revoked_at"`
	OwnerStatus    sql.NullString `sql:"owner_status"`
	PlatformRole   sql.NullString `sql:"owner_platform_role"`
	BannedAt       sql.NullTime   `sql:"owner_banned_at"`
	BanExpiresAt   sql.NullTime   `sql:"owner_ban_expires_at"`
}

// lookup finds the key of token with its owner in one statement and checks
// both; it returns the actor and when the key was last used (nil: never).
func lookup(ctx context.Context, client *ent.Client, token string, now time.Time) (*actor.Actor, *time.Time, error) {
	prefix, err := secret.SplitToken(Kind, token)
	if err != nil {
		return nil, nil, ErrMalformed
	}
	sys := actor.NewContext(ctx, actor.System("authenticate"))
	var rows []keyRow
	err = client.APIKey.Query().
		Where(apikey.Prefix(prefix)).
		Select(apikey.FieldID, apikey.FieldUserID, apikey.FieldOrganizationID, apikey.FieldSecretHash, apikey.FieldScopes,
			apikey.FieldExpiresAt, apikey.FieldLastUsedAt, apikey.FieldRevokedAt).
		Modify(func(s *entsql.Selector) {
			// A soft-deleted owner joins as no owner.
			o := entsql.Table(user.Table).As("o")
			s.LeftJoin(o).OnP(entsql.And(
				entsql.ColumnsEQ(s.C(apikey.FieldUserID), o.C(user.FieldID)),
				entsql.IsNull(o.C(user.FieldDeletedAt)),
			))
			s.AppendSelect(
				entsql.As(o.C(user.FieldStatus), "owner_status"),
				entsql.As(o.C(user.FieldPlatformRole), "owner_platform_role"),
				entsql.As(o.C(user.FieldBannedAt), "owner_banned_at"),
				entsql.As(o.C(user.FieldBanExpiresAt), "owner_ban_expires_at"),
			)
		}).
		Scan(sys, &rows)
	if err != nil {
		return nil, nil, fmt.Errorf("apikey: looking up key: %w", err)
	}
	if len(rows) != 1 {
		// Spend the same digest work as a found key.
		secret.Digest{}.Matches(token)
		return nil, nil, ErrUnknown
	}
	k := rows[0]
	if !k.SecretHash.Matches(token) {
		return nil, nil, ErrUnknown
	}
	if k.RevokedAt.Valid {
		return nil, nil, ErrRevoked
	}
	if k.ExpiresAt.Valid && !now.Before(k.ExpiresAt.Time) {
		return nil, nil, ErrExpired
	}
	if !k.OwnerStatus.Valid || k.OwnerStatus.String != string(user.StatusActive) ||
		(k.BannedAt.Valid && (!k.BanExpiresAt.Valid || now.Before(k.BanExpiresAt.Time))) {
		return nil, nil, ErrOwner
	}
	var scopes []string
	if err := json.Unmarshal(k.Scopes, &scopes); err != nil {
		return nil, nil, fmt.Errorf("apikey: the scopes of key %s: %w", k.ID, err)
	}
	var last *time.Time
	if k.LastUsedAt.Valid {
		last = &k.LastUsedAt.Time
	}
	return actor.APIKey(k.ID, k.UserID, actor.PlatformRole(k.PlatformRole.String), pulid.ID(k.OrganizationID.String), scopes), last, nil
}
