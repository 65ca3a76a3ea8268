// Package oauthlink links users to their accounts at OAuth providers, for
// applications that run the OAuth dance themselves (with
// golang.org/x/oauth2, say) and keep the result with the user.
//
// Provider tokens are sealed with AES-256-GCM under the server's master key
// (the Sealer of the session Manager); each sealed value carries the ID of
// its key, and `identity keys rotate` re-seals them under a new master key.
// They are never readable through GraphQL or the ent client: Tokens opens
// them for the account's owner or the system only.
package oauthlink

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/oauthaccount"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/internal/txn"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/validation"
)

// ErrLinkedElsewhere is returned by Link when the provider account is
// linked to another user. GraphQL answers CONFLICT.
var ErrLinkedElsewhere = errors.New("oauthlink: this provider account is linked to another user")

// ErrLastSignIn is returned by Unlink for the last way the user can sign
// in: no password and no other linked account.
var ErrLastSignIn = errors.New("oauthlink: this is the user's last way to sign in (no password, no other linked account); set a password first")

// ErrNotOwner is returned by Tokens for an actor that is neither the
// account's owner nor the system.
var ErrNotOwner = fmt.Errorf("%w: provider tokens are read by the account's owner or the system only", privacy.Deny)

// Linker links and unlinks provider accounts. It is safe for concurrent
// use.
type Linker struct {
	client *ent.Client
	sealer *secret.Sealer
}

// New returns a Linker over client that seals tokens with sealer (use
// (*session.Manager).Sealer(), so that tokens are sealed with the master
// key and re-sealed by key rotation).
func New(client *ent.Client, sealer *secret.Sealer) (*Linker, error) {
	if sealer == nil {
		return nil, errors.New("oauthlink: a sealer is required")
	}
	return &Linker{client: client, sealer: sealer}, nil
}

// LinkInput is the outcome of an OAuth dance, for one user.
type LinkInput struct {
	UserID pulid.ID
	// Provider names the provider ("github", "google", ...): lower-case
	// letters, digits, _ and -; up to 64.
	Provider string
	// ProviderUserID is the user's stable ID at the provider.
	ProviderUserID string
	ProviderEmail  string
	// AccessToken and RefreshToken are sealed before they are stored;
	// empty ones are stored as nothing.
	AccessToken, RefreshToken string
	ExpiresAt                 *time.Time
	Scopes                    []string
}

var providerRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// Context strings bind a sealed token to its row and column.
func accessContext(id pulid.ID) string  { return string(id) + ":access_token" }
func refreshContext(id pulid.ID) string { return string(id) + ":refresh_token" }

// Link links in.UserID to the provider account, as the actor of ctx: the
// user itself (an access token, or a personal key with every scope) or the
// system. Linking an account linked to the same user already replaces its
// tokens, email, expiry and scopes. Recorded as oauth_account.linked (or
// oauth_account.updated). A provider account linked to another user is
// ErrLinkedElsewhere.
func (l *Linker) Link(ctx context.Context, client *ent.Client, in LinkInput) (*ent.OAuthAccount, error) {
	in.Provider = strings.TrimSpace(in.Provider)
	in.ProviderUserID = strings.TrimSpace(in.ProviderUserID)
	switch {
	case !providerRE.MatchString(in.Provider):
		return nil, validation.Errorf("provider", "want lower-case letters, digits, _ and - (up to 64), got %q", in.Provider)
	case in.ProviderUserID == "" || len(in.ProviderUserID) > 255:
		return nil, validation.Errorf("providerUserID", "required, up to 255 characters")
	case len(in.ProviderEmail) > 254:
		return nil, validation.Errorf("providerEmail", "at most 254 characters")
	case len(in.AccessToken) > 8192 || len(in.RefreshToken) > 8192:
		return nil, validation.Errorf("accessToken", "provider tokens of at most 8 KiB")
	}
	if in.Scopes == nil {
		in.Scopes = []string{}
	}
	return txn.Run(ctx, client, func(c *ent.Client) (*ent.OAuthAccount, error) {
		sys := actor.NewContext(ctx, actor.System("oauth link"))
		cur, err := c.OAuthAccount.Query().
			Where(oauthaccount.Provider(in.Provider), oauthaccount.ProviderUserID(in.ProviderUserID), txn.ForUpdate).
			Only(sys)
		if err != nil && !ent.IsNotFound(err) {
			return nil, err
		}
		if cur != nil && cur.UserID != in.UserID {
			return nil, ErrLinkedElsewhere
		}
		id := pulid.New("oac")
		if cur != nil {
			id = cur.ID
		}
		access, refresh, err := l.seal(id, in.AccessToken, in.RefreshToken)
		if err != nil {
			return nil, err
		}
		dctx := trail.Domain(ctx)
		verb := "oauth_account.linked"
		var acc *ent.OAuthAccount
		if cur == nil {
			q := c.OAuthAccount.Create().SetID(id).SetUserID(in.UserID).SetProvider(in.Provider).
				SetProviderUserID(in.ProviderUserID).SetProviderEmail(strings.ToLower(strings.TrimSpace(in.ProviderEmail))).
				SetNillableTokenExpiresAt(in.ExpiresAt).SetScopes(in.Scopes)
			if !access.IsZero() {
				q.SetAccessToken(access)
			}
			if !refresh.IsZero() {
				q.SetRefreshToken(refresh)
			}
			acc, err = q.Save(dctx)
			if ent.IsConstraintError(err) {
				return nil, ErrLinkedElsewhere
			}
		} else {
			verb = "oauth_account.updated"
			q := c.OAuthAccount.UpdateOne(cur).SetProviderEmail(strings.ToLower(strings.TrimSpace(in.ProviderEmail))).SetScopes(in.Scopes)
			if in.ExpiresAt != nil {
				q.SetTokenExpiresAt(*in.ExpiresAt)
			} else {
				q.ClearTokenExpiresAt()
			}
			if access.IsZero() {
				q.ClearAccessToken()
			} else {
				q.SetAccessToken(access)
			}
			if refresh.IsZero() {
				q.ClearRefreshToken()
			} else {
				q.SetRefreshToken(refresh)
			}
			acc, err = q.Save(dctx)
		}
		if err != nil {
			return nil, err
		}
		return acc, trail.Record(ctx, c, trail.Event{Verb: verb, ObjectType: "OAuthAccount", ObjectID: acc.ID,
			Data: map[string]any{"user": string(acc.UserID), "provider": acc.Provider, "scopes": acc.Scopes}})
	})
}

func (l *Linker) seal(id pulid.ID, access, refresh string) (a, r secret.Sealed, err error) {
	if access != "" {
		if a, err = l.sealer.Seal([]byte(access), accessContext(id)); err != nil {
			return
		}
	}
	if refresh != "" {
		r, err = l.sealer.Seal([]byte(refresh), refreshContext(id))
	}
	return
}

// Unlink removes linked account id as the actor of ctx: its owner
// (oauth_account:unlink for a personal key) or a holder of
// oauth_account:unlink in an organization of the owner. The last way the
// owner can sign in is kept (ErrLastSignIn). Recorded as
// oauth_account.unlinked.
func (l *Linker) Unlink(ctx context.Context, client *ent.Client, id pulid.ID) error {
	_, err := txn.Run(ctx, client, func(c *ent.Client) (struct{}, error) {
		acc, err := c.OAuthAccount.Get(ctx, id)
		if err != nil {
			return struct{}{}, err
		}
		sys := actor.NewContext(ctx, actor.System("oauth link"))
		// Unlinks of one user run one after the other, so that two of
		// them cannot each leave the other's account as the last.
		u, err := c.User.Query().Where(user.ID(acc.UserID), txn.ForUpdate).Only(sys)
		if err != nil {
			return struct{}{}, err
		}
		others, err := c.OAuthAccount.Query().Where(oauthaccount.UserID(u.ID), oauthaccount.IDNEQ(acc.ID)).Count(sys)
		if err != nil {
			return struct{}{}, err
		}
		if others == 0 && u.PasswordHash.IsZero() {
			return struct{}{}, ErrLastSignIn
		}
		if err := c.OAuthAccount.DeleteOneID(acc.ID).Exec(trail.Domain(ctx)); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, trail.Record(ctx, c, trail.Event{Verb: "oauth_account.unlinked", ObjectType: "OAuthAccount", ObjectID: acc.ID,
			Data: map[string]any{"user": string(acc.UserID), "provider": acc.Provider}})
	})
	return err
}

// Tokens are the provider tokens of a linked account, opened.
type Tokens struct {
	AccessToken, RefreshToken string
	ExpiresAt                 *time.Time
	Scopes                    []string
}

// Tokens opens the provider tokens of linked account id for the actor of
// ctx: the account's owner (an access token, or a personal key with every
// scope) or the system; anyone else gets ErrNotOwner, and an account the
// actor cannot see is not found.
func (l *Linker) Tokens(ctx context.Context, client *ent.Client, id pulid.ID) (*Tokens, error) {
	a := actor.FromContext(ctx)
	if a == nil {
		return nil, fmt.Errorf("%w: no actor", privacy.Deny)
	}
	acc, err := client.OAuthAccount.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !a.IsSystem() {
		g, ok := authz.FromContext(ctx)
		if !ok || g.Self(actor.ScopeAll) != acc.UserID {
			return nil, ErrNotOwner
		}
		if err := authz.Impersonated(ctx, "reading provider tokens"); err != nil {
			return nil, err
		}
	}
	// The policy hides the sealed columns from nobody (they are
	// Sensitive, never serialized); read them as stored.
	out := &Tokens{ExpiresAt: acc.TokenExpiresAt, Scopes: slices.Clone(acc.Scopes)}
	if !acc.AccessToken.IsZero() {
		b, err := l.sealer.Open(acc.AccessToken, accessContext(acc.ID))
		if err != nil {
			return nil, fmt.Errorf("oauthlink: opening the access token of %s: %w", acc.ID, err)
		}
		out.AccessToken = string(b)
	}
	if !acc.RefreshToken.IsZero() {
		b, err := l.sealer.Open(acc.RefreshToken, refreshContext(acc.ID))
		if err != nil {
			return nil, fmt.Errorf("oauthlink: opening the refresh token of %s: %w", acc.ID, err)
		}
		out.RefreshToken = string(b)
	}
	return out, nil
}
