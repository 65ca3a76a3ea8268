// Package bootstrap creates the first platform superadmin of a deployment.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/audit"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/pulid"
)

// Result is what Superadmin did.
type Result struct {
	UserID  pulid.ID
	Email   string
	Created bool // false when an existing user was promoted
	KeyID   pulid.ID
	// Key is the new personal API key; it is not stored and cannot be shown again.
	Key string
}

// Superadmin creates the user with email, or promotes the existing one, to
// platform superadmin with status active, and issues a personal API key with
// every scope. It runs as the system actor "bootstrap" in one transaction;
// the activity trail records the user and key writes.
func Superadmin(ctx context.Context, client *ent.Client, email, name string) (*Result, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return nil, errors.New("bootstrap: an email is required")
	}
	ctx = actor.NewContext(ctx, actor.System("bootstrap"))
	if audit.FromContext(ctx).Channel == audit.ChannelClient {
		ctx = audit.WithRequest(ctx, audit.Request{Channel: audit.ChannelCLI})
	}
	tx, err := client.Tx(ctx)
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	res, err := superadmin(ctx, tx.Client(), email, name)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return res, nil
}

func superadmin(ctx context.Context, c *ent.Client, email, name string) (*Result, error) {
	now := time.Now()
	res := &Result{}
	u, err := c.User.Query().Where(user.Email(email)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		u, err = c.User.Create().
			SetEmail(email).
			SetDisplayName(name).
			SetPlatformRole(user.PlatformRoleSuperadmin).
			SetStatus(user.StatusActive).
			SetStatusChangedAt(now).
			Save(ctx)
		if err != nil {
			return nil, err
		}
		res.Created = true
	case err != nil:
		return nil, err
	default:
		up := c.User.UpdateOne(u).SetPlatformRole(user.PlatformRoleSuperadmin)
		if u.Status != user.StatusActive {
			up.SetStatus(user.StatusActive).SetStatusChangedAt(now).SetStatusReason("bootstrap")
		}
		if u, err = up.Save(ctx); err != nil {
			return nil, err
		}
	}
	key, k, err := apikey.Create(ctx, c, apikey.Params{
		Name:    "bootstrap " + now.UTC().Format("2006-01-02 15:04"),
		OwnerID: u.ID,
		Scopes:  []string{actor.ScopeAll},
	})
	if err != nil {
		return nil, err
	}
	res.UserID, res.Email, res.KeyID, res.Key = u.ID, u.Email, k.ID, key
	return res, nil
}
