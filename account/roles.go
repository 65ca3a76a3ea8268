package account

import (
	"context"
	"errors"
	"fmt"

	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/internal/txn"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/validation"
)

// ErrLastSuperadmin is returned for a write that would leave the platform
// without an active superadmin: demoting, suspending, banning or deleting
// the last one. The guard is a hook of the schema, so every path (the ent
// client included) meets it; concurrent writes are serialized on the
// superadmins' rows.
var ErrLastSuperadmin = errors.New("account: the platform keeps at least one active superadmin")

// GrantPlatformRole gives user id a platform role (support, admin or
// superadmin), with a required reason, as a superadmin (the actor of ctx).
// Records user.platform_role_granted with the role before and after.
func GrantPlatformRole(ctx context.Context, client *ent.Client, id pulid.ID, role user.PlatformRole, reason string) (*ent.User, error) {
	if role == user.PlatformRoleNone {
		return nil, validation.Errorf("role", "grant support, admin or superadmin; revoke with revokePlatformRole")
	}
	return setPlatformRole(ctx, client, id, role, reason, "user.platform_role_granted")
}

// RevokePlatformRole takes user id's platform role away (back to none),
// with a required reason, as a superadmin. The last active superadmin
// keeps theirs (ErrLastSuperadmin).
func RevokePlatformRole(ctx context.Context, client *ent.Client, id pulid.ID, reason string) (*ent.User, error) {
	return setPlatformRole(ctx, client, id, user.PlatformRoleNone, reason, "user.platform_role_revoked")
}

func setPlatformRole(ctx context.Context, client *ent.Client, id pulid.ID, role user.PlatformRole, reason, verb string) (*ent.User, error) {
	r, err := reasonOf(reason)
	if err != nil {
		return nil, err
	}
	if err := user.PlatformRoleValidator(role); err != nil {
		return nil, validation.Errorf("role", "%q is not a platform role", role)
	}
	g, ok := authz.FromContext(ctx)
	if !ok {
		return nil, authz.ErrNotLoaded
	}
	if !g.IsSystem() {
		if ok, why := g.PlatformCan(permission.PlatformRoleGrant); !ok {
			return nil, fmt.Errorf("%w: platform roles are granted by superadmins (%s needed: %s)", privacy.Deny, permission.PlatformRoleGrant, why)
		}
	}
	return txn.Run(ctx, client, func(c *ent.Client) (*ent.User, error) {
		u, err := c.User.Query().Where(user.ID(id), txn.ForUpdate).Only(ctx)
		if err != nil {
			return nil, err
		}
		from := u.PlatformRole
		if from == role {
			return nil, validation.Errorf("role", "the user already has the platform role %s", role)
		}
		if u, err = c.User.UpdateOne(u).SetPlatformRole(role).Save(trail.Domain(ctx)); err != nil {
			return nil, err
		}
		return u, trail.Record(ctx, c, trail.Event{Verb: verb, ObjectType: "User", ObjectID: id,
			Data: map[string]any{"changes": trail.Changes(map[string]any{"platform_role": string(from)}, map[string]any{"platform_role": string(role)}), "reason": r}})
	})
}
