package session

import (
	"context"
	"fmt"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/privacy"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/ent/usertoken"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/validation"
)

// hash checks pw against the rules (with the user's own data) and hashes
// it. A refusal is a *password.RuleError, also a *validation.Error for the
// field.
func (m *Manager) hash(ctx context.Context, field, pw string, personal ...string) (secret.PasswordHash, error) {
	var (
		h   secret.PasswordHash
		err error
	)
	if werr := m.hashing(ctx, func() {
		if err = m.cfg.Password.Check(pw, personal...); err != nil {
			err = validation.Wrap(field, err)
			return
		}
		h, err = secret.HashPasswordWith(pw, m.cfg.Argon2)
	}); werr != nil {
		return secret.PasswordHash{}, werr
	}
	return h, err
}

// CreateUser creates a user from input as the actor of ctx (platform
// user_manage, under the User policy), with an initial password when pw
// is not nil. The password must pass Config.Password; it is stored as an
// argon2id hash only and recorded nowhere else.
func (m *Manager) CreateUser(ctx context.Context, client *ent.Client, input ent.CreateUserInput, pw *string) (*ent.User, error) {
	var h *secret.PasswordHash
	if pw != nil {
		first, last, display := "", "", ""
		if input.FirstName != nil {
			first = *input.FirstName
		}
		if input.LastName != nil {
			last = *input.LastName
		}
		if input.DisplayName != nil {
			display = *input.DisplayName
		}
		ph, err := m.hash(ctx, "password", *pw, input.Email, first, last, display)
		if err != nil {
			return nil, err
		}
		h = &ph
	}
	return withTx(ctx, client, func(c *ent.Client) (*ent.User, error) {
		q := c.User.Create().SetInput(input)
		if h != nil {
			q.SetPasswordHash(*h)
		}
		return q.Save(ctx)
	})
}

// SetPassword sets the password of user id as the actor of ctx (platform
// user_manage for another user) and revokes the user's sessions.
func (m *Manager) SetPassword(ctx context.Context, client *ent.Client, id pulid.ID, pw string) error {
	// Setting a password without the current one is an administration
	// act, on users of a lower platform rank (the User policy), never on
	// oneself: users change theirs with ChangePassword.
	if err := authz.Impersonated(ctx, "setting a password"); err != nil {
		return err
	}
	if g, ok := authz.FromContext(ctx); !ok || !g.IsSystem() && !g.Platform(permission.PlatformUserManage) {
		return fmt.Errorf("%w: setting a password needs %s; change your own with changePassword", privacy.Deny, permission.PlatformUserManage)
	}
	u, err := client.User.Get(ctx, id)
	if err != nil {
		return err
	}
	h, err := m.hash(ctx, "password", pw, u.Email, u.FirstName, u.LastName, u.DisplayName)
	if err != nil {
		return err
	}
	_, err = withTx(ctx, client, func(c *ent.Client) (struct{}, error) {
		if err := c.User.UpdateOneID(id).SetPasswordHash(h).Exec(trail.Domain(ctx)); err != nil {
			return struct{}{}, err
		}
		if err := m.revokeAllOf(ctx, c, id, "", "password_set"); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, trail.Record(ctx, c, trail.Event{Verb: "user.password_set", ObjectType: "User", ObjectID: id})
	})
	return err
}

// ChangePassword changes the password of the signed-in user of ctx after
// checking the current one (a wrong one counts as a failed sign-in and
// returns ErrWrongPassword). Every other session of the user is revoked;
// the one of ctx, if any, stays.
func (m *Manager) ChangePassword(ctx context.Context, client *ent.Client, current, next string) error {
	a := actor.FromContext(ctx)
	if a == nil || a.Kind() != actor.KindUser {
		return fmt.Errorf("%w: changing one's password needs a signed-in user (an access token), not an API key", authz.ErrNotLoaded)
	}
	if err := authz.Impersonated(ctx, "changing the password"); err != nil {
		return err
	}
	if current == "" {
		return validation.Errorf("currentPassword", "required")
	}
	sys := trail.Domain(system(ctx))
	u, err := client.User.Query().Where(user.ID(a.UserID())).Only(sys)
	if err != nil {
		return err
	}
	// Locked: the current password is not checked, as in Login; a wrong
	// one counts as a failed sign-in.
	if err := m.checkCurrent(ctx, client, u, current); err != nil {
		return err
	}
	if next == current {
		return validation.Wrap("newPassword", ErrPasswordUnchanged)
	}
	h, err := m.hash(ctx, "newPassword", next, u.Email, u.FirstName, u.LastName, u.DisplayName)
	if err != nil {
		return err
	}
	_, err = withTx(ctx, client, func(c *ent.Client) (struct{}, error) {
		cur, err := c.User.Query().Where(user.ID(u.ID), forUpdate).Only(sys)
		if err != nil {
			return struct{}{}, err
		}
		if cur.LockedUntil != nil && m.now().Before(*cur.LockedUntil) {
			return struct{}{}, keep(m.lockedActivity(sys, c, cur.ID, *cur.LockedUntil))
		}
		if !samePassword(cur.PasswordHash, u.PasswordHash) {
			// Changed by another request since it was checked.
			return struct{}{}, validation.Wrap("currentPassword", ErrWrongPassword)
		}
		// The current password was checked above: the sign-in system
		// writes the new hash (users may not set password_hash).
		if err := c.User.UpdateOneID(u.ID).SetPasswordHash(h).SetFailedLogins(0).Exec(sys); err != nil {
			return struct{}{}, err
		}
		// Links mailed before (a reset, a pending change of address)
		// stop working.
		if err := c.UserToken.Update().Where(usertoken.UserID(u.ID), usertoken.UsedAtIsNil()).
			SetUsedAt(m.now()).Exec(sys); err != nil {
			return struct{}{}, err
		}
		if err := m.revokeAllOf(ctx, c, u.ID, a.SessionID(), "password_changed"); err != nil {
			return struct{}{}, err
		}
		return struct{}{}, trail.Record(ctx, c, trail.Event{Verb: "user.password_changed", ObjectType: "User", ObjectID: u.ID})
	})
	return err
}

// revokeAllOf revokes the live sessions of user uid but keepID, as the
// sign-in system (recorded with the actor of ctx).
func (m *Manager) revokeAllOf(ctx context.Context, c *ent.Client, uid, keepID pulid.ID, reason string) error {
	sys := trail.Domain(system(ctx))
	q := c.Session.Query().Where(entsession.UserID(uid), entsession.RevokedAtIsNil())
	if keepID != "" {
		q.Where(entsession.IDNEQ(keepID))
	}
	ss, err := q.All(sys)
	if err != nil {
		return err
	}
	return m.revokeAll(ctx, sys, c, ss, reason)
}

// UnlockUser lifts the sign-in lock of user id and resets its count of
// failed logins, as the actor of ctx (platform user_manage).
func (m *Manager) UnlockUser(ctx context.Context, client *ent.Client, id pulid.ID) (*ent.User, error) {
	return withTx(ctx, client, func(c *ent.Client) (*ent.User, error) {
		u, err := c.User.Query().Where(user.ID(id), forUpdate).Only(ctx)
		if err != nil {
			return nil, err
		}
		// The User policy lets only platform user_manage change the count.
		if err := c.User.UpdateOne(u).SetFailedLogins(0).ClearLockedUntil().Exec(trail.Domain(ctx)); err != nil {
			return nil, err
		}
		if err := trail.Record(ctx, c, trail.Event{Verb: "user.unlocked", ObjectType: "User", ObjectID: id,
			Data: map[string]any{"failed_logins": u.FailedLogins}}); err != nil {
			return nil, err
		}
		return c.User.Get(ctx, id)
	})
}
