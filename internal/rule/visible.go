package rule

import (
	"context"
	"fmt"

	"entgo.io/ent"
	"entgo.io/ent/entql"

	gen "github.com/cf/identity/ent"
	"github.com/cf/identity/ent/apikey"
	"github.com/cf/identity/ent/invitation"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/oauthaccount"
	"github.com/cf/identity/ent/organization"
	"github.com/cf/identity/ent/preference"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/refreshtoken"
	"github.com/cf/identity/ent/role"
	"github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/pulid"
)

// filterOf returns the entql filter of a mutation of the model.
func filterOf(m ent.Mutation) (privacy.Filter, error) {
	switch m := m.(type) {
	case *gen.APIKeyMutation:
		return m.Filter(), nil
	case *gen.ActivityMutation:
		return m.Filter(), nil
	case *gen.MembershipMutation:
		return m.Filter(), nil
	case *gen.InvitationMutation:
		return m.Filter(), nil
	case *gen.OAuthAccountMutation:
		return m.Filter(), nil
	case *gen.OrganizationMutation:
		return m.Filter(), nil
	case *gen.PreferenceMutation:
		return m.Filter(), nil
	case *gen.RefreshTokenMutation:
		return m.Filter(), nil
	case *gen.RoleMutation:
		return m.Filter(), nil
	case *gen.SessionMutation:
		return m.Filter(), nil
	case *gen.UserMutation:
		return m.Filter(), nil
	}
	return nil, fmt.Errorf("rule: unexpected mutation %T", m)
}

// existsFor reports whether row id exists for the actor of ctx, restricted
// further by p unless p is nil.
func existsFor(ctx context.Context, c *gen.Client, typ string, id pulid.ID, p entql.P) (bool, error) {
	type query interface {
		Exist(context.Context) (bool, error)
	}
	var q query
	var f privacy.Filter
	switch typ {
	case "Organization":
		x := c.Organization.Query().Where(organization.ID(id))
		q, f = x, x.Filter()
	case "Membership":
		x := c.Membership.Query().Where(membership.ID(id))
		q, f = x, x.Filter()
	case "Role":
		x := c.Role.Query().Where(role.ID(id))
		q, f = x, x.Filter()
	case "User":
		x := c.User.Query().Where(user.ID(id))
		q, f = x, x.Filter()
	case "APIKey":
		x := c.APIKey.Query().Where(apikey.ID(id))
		q, f = x, x.Filter()
	case "OAuthAccount":
		x := c.OAuthAccount.Query().Where(oauthaccount.ID(id))
		q, f = x, x.Filter()
	case "RefreshToken":
		x := c.RefreshToken.Query().Where(refreshtoken.ID(id))
		q, f = x, x.Filter()
	case "Preference":
		x := c.Preference.Query().Where(preference.ID(id))
		q, f = x, x.Filter()
	case "Session":
		x := c.Session.Query().Where(session.ID(id))
		q, f = x, x.Filter()
	case "Invitation":
		x := c.Invitation.Query().Where(invitation.ID(id))
		q, f = x, x.Filter()
	default:
		return false, nil
	}
	if p != nil {
		f.Where(p)
	}
	return q.Exist(ctx)
}

// restrict applies write predicate p to m. For a single-row update or
// delete of a row the actor can see but not change, it refuses with a
// reason (FORBIDDEN) instead of letting the write miss the row; a row the
// actor cannot see stays NOT_FOUND, so its existence is not revealed.
func restrict(ctx context.Context, m ent.Mutation, p entql.P, perm string) error {
	if p == nil {
		return nil
	}
	f, err := filterOf(m)
	if err != nil {
		return err
	}
	if m.Op().Is(ent.OpUpdateOne | ent.OpDeleteOne) {
		if mx, ok := m.(interface {
			ID() (pulid.ID, bool)
			Client() *gen.Client
		}); ok {
			if id, ok := mx.ID(); ok {
				writable, err := existsFor(ctx, mx.Client(), m.Type(), id, p)
				if err != nil {
					return err
				}
				if !writable {
					visible, err := existsFor(ctx, mx.Client(), m.Type(), id, nil)
					if err != nil {
						return err
					}
					if visible {
						return privacy.Denyf("you may see this %s, but changing it needs %s", m.Type(), perm)
					}
				}
			}
		}
	}
	f.Where(p)
	return nil
}
