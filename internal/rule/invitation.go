package rule

import (
	"context"
	"fmt"

	"entgo.io/ent"
	"entgo.io/ent/entql"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	gen "github.com/cf/identity/ent"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
)

// Invitation: read and revoked with member:invite in its organization.
// Creation, resending (a new token) and acceptance are written by the
// system only (package invitation, after checking the actor's right and,
// for an acceptance, the token): an actor that could write a token digest
// could mint an invitation whose token it knows and accept it itself. Nobody
// deletes an invitation: it is the record of who was asked to join.
func Invitation() ent.Policy {
	return policy(
		func(_ context.Context, g *authz.Grants) entql.P {
			return inOrgs(g, "organization_id", permission.MemberInvite)
		},
		onCreate(func(context.Context, *authz.Grants, ent.Mutation) error {
			return privacy.Denyf("invitations are created by package invitation (inviteMember)")
		}),
		onlyFields(opUpdate, "status", "revoked_at", "updated_at"),
		privacy.OnMutationOperation(privacy.MutationRuleFunc(func(_ context.Context, m ent.Mutation) error {
			if v, ok := m.Field("status"); ok && fmt.Sprint(v) != "revoked" {
				return privacy.Denyf("an invitation is resent, accepted or expired by package invitation only")
			}
			return privacy.Skip
		}), opUpdate),
		onWrite(opUpdate, permission.MemberInvite, func(_ context.Context, g *authz.Grants) entql.P {
			return inOrgs(g, "organization_id", permission.MemberInvite)
		}),
	)
}

// CheckInvitationRoles refuses, for an invitation to org by the actor of
// g, roles that are neither built-in nor of org (authz.ErrForeignRole) or
// above the actor's level there (authz.ErrAboveLevel): the check of
// InvitationGuard, which package invitation runs with the inviter's grants
// before it writes the invitation as the system. c joins the transaction.
func CheckInvitationRoles(ctx context.Context, c *gen.Client, g *authz.Grants, org pulid.ID, roles []pulid.ID) error {
	// The roles are locked (share) on PostgreSQL: inside the caller's
	// transaction until it ends, outside one for the statement only.
	isSystem := g == nil || g.IsSystem()
	return checkAddedRoles(system(ctx), c, g, true, isSystem, roles, map[pulid.ID]bool{org: true})
}

// SystemOnly: rows read and written by the system only (signing keys,
// mailed single-use tokens); nobody else reaches them, through GraphQL or
// the client.
func SystemOnly() ent.Policy {
	q := privacy.QueryPolicy{allowIfOff(), DenyIfNoActor(), AllowIfSystem(), privacy.AlwaysDenyRule()}
	m := privacy.MutationPolicy{allowIfOff(), DenyIfNoActor(), AllowIfSystem(), privacy.AlwaysDenyRule()}
	return privacy.Policy{Query: q, Mutation: m}
}

// InvitationGuard checks the roles of a new invitation as MembershipGuard
// checks a membership's: built-in or of the invitation's organization, and
// not above the inviter's level there. The roles of an invitation are set
// when it is created; only the system changes them later.
func InvitationGuard() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			im, ok := m.(interface {
				ent.Mutation
				RolesIDs() []pulid.ID
				RemovedRolesIDs() []pulid.ID
				RolesCleared() bool
				OrganizationID() (pulid.ID, bool)
				Client() *gen.Client
				Tx() (*gen.Tx, error)
			})
			if !ok {
				return nil, fmt.Errorf("rule: unexpected mutation %T", m)
			}
			isSystem := actor.FromContext(ctx).IsSystem() || bypassed(ctx)
			if !m.Op().Is(ent.OpCreate) {
				if !isSystem && (len(im.RolesIDs()) > 0 || len(im.RemovedRolesIDs()) > 0 || im.RolesCleared()) {
					return nil, fmt.Errorf("%w: the roles of an invitation are set when it is created; revoke it and invite again", privacy.Deny)
				}
				return next.Mutate(ctx, m)
			}
			if added := im.RolesIDs(); len(added) > 0 {
				org, _ := im.OrganizationID()
				g, _ := authz.FromContext(ctx)
				if err := checkAddedRoles(system(ctx), im.Client(), g, inTx(im), isSystem, added, map[pulid.ID]bool{org: true}); err != nil {
					return nil, authz.Concurrent(err)
				}
			}
			v, err := next.Mutate(ctx, m)
			return v, authz.Concurrent(err)
		})
	}
}
