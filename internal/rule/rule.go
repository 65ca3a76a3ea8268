// Package rule holds the privacy policies of the model.
//
// Every policy is fail-closed: a context without an actor is denied; the
// system actor is allowed; a user or API key actor needs its grants
// resolved (package authz) and then sees, through SQL predicates on indexed
// tenant columns, only the rows its permissions reach, and writes only rows
// in organizations where it holds the permission. Platform superadmins pass
// while they act across organizations.
//
// The active organization (actor.WithOrganization, the X-Organization-ID
// header) restricts every actor, platform staff included:
//
//   - organization rows (organizations, memberships, custom roles,
//     organization keys and preferences, sessions and activities of an
//     organization) are read and written in the active organization only,
//     the actor's own rows of other organizations included (its
//     memberships, sessions and activities there);
//   - a platform role counts as organization permissions of the active
//     organization only (authz.Grants.Can) and its platform permissions
//     are not in effect (authz.Grants.Platform), so a superadmin acting in
//     A sees the users of A through user:read like an administrator of A
//     does (its own row too), and creating users, granting platform roles or
//     impersonating needs a request without an active organization;
//   - rows of no organization that are the actor's own (its user row,
//     personal keys, OAuth accounts, user preferences, sessions and
//     activities recorded outside any organization) stay its own; built-in
//     roles and system preferences stay readable by everyone.
package rule

import (
	"context"
	"fmt"
	"strings"

	"entgo.io/ent"
	"entgo.io/ent/entql"
	"github.com/cf/identity/ent/privacy"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	gen "github.com/cf/identity/ent"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
)

// DenyIfNoActor denies any query or mutation whose context has no actor.
func DenyIfNoActor() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if actor.FromContext(ctx) == nil {
			return privacy.Denyf("no actor on the context")
		}
		return privacy.Skip
	})
}

// AllowIfSystem allows the system actor.
func AllowIfSystem() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if actor.FromContext(ctx).IsSystem() {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// DenyIfNotLoaded denies a user or API key actor whose grants were not
// resolved with authz.NewContext.
func DenyIfNotLoaded() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if _, ok := authz.FromContext(ctx); !ok {
			return fmt.Errorf("%w: %w", privacy.Deny, authz.ErrNotLoaded)
		}
		return privacy.Skip
	})
}

// AllowIfSuperadmin allows a platform superadmin acting with full rights
// (per the database, not per the caller's claim) across organizations. A
// superadmin acting in one organization is skipped (authz.Grants.Platform
// is false then) and meets the rules of the other actors.
func AllowIfSuperadmin() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if g, ok := authz.FromContext(ctx); ok && g.Platform(permission.PlatformRoleGrant) {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// head is the start of every policy.
func head() []privacy.QueryMutationRule {
	return []privacy.QueryMutationRule{DenyIfNoActor(), AllowIfSystem(), DenyIfNotLoaded()}
}

// filter is a filter rule built from the actor's grants.
type filter func(ctx context.Context, g *authz.Grants) entql.P

// filterRule applies the predicate of f to the query or mutation, or allows
// it when f returns nil.
func filterRule(f filter) privacy.QueryMutationRule {
	return privacy.FilterFunc(func(ctx context.Context, fl privacy.Filter) error {
		g, _ := authz.FromContext(ctx)
		p := f(ctx, g)
		if p == nil {
			return privacy.Allow
		}
		fl.Where(p)
		return privacy.Allow
	})
}

// nothing is a predicate no row satisfies (IDs are never empty).
var nothing = entql.FieldEQ("id", "")

// or combines predicates; a nil entry means "everything".
func or(ps ...entql.P) entql.P {
	var out []entql.P
	for _, p := range ps {
		if p == nil {
			return nil
		}
		if p != nothing {
			out = append(out, p)
		}
	}
	switch len(out) {
	case 0:
		return nothing
	case 1:
		return out[0]
	}
	return entql.Or(out[0], out[1], out[2:]...)
}

// inOrgs returns "field IN organizations where the actor holds perm".
func inOrgs(g *authz.Grants, field, perm string) entql.P {
	orgs, all := g.OrgsWith(perm)
	if all {
		return nil
	}
	if len(orgs) == 0 {
		return nothing
	}
	return entql.FieldIn(field, ids(orgs)...)
}

// self returns "field = acting user" when the actor may use scope on its own
// rows, for rows without an organization column.
func self(g *authz.Grants, field, scope string) entql.P {
	if id := g.Self(scope); id != "" {
		return entql.FieldEQ(field, string(id))
	}
	return nothing
}

// selfIn is self for rows with an organization column orgField: while the
// actor acts in one organization, only its own rows of that organization
// (or of no organization) are reached.
func selfIn(g *authz.Grants, field, orgField, scope string) entql.P {
	id := g.Self(scope)
	if id == "" {
		return nothing
	}
	p := entql.FieldEQ(field, string(id))
	if a := g.ActiveOrganization(); a != "" {
		return entql.And(p, entql.Or(entql.FieldNil(orgField), entql.FieldEQ(orgField, string(a))))
	}
	return p
}

func ids(in []pulid.ID) []any {
	out := make([]any, len(in))
	for i, id := range in {
		out[i] = string(id)
	}
	return out
}

// policy assembles a policy from its read filter and mutation rules.
func policy(read filter, mutation ...privacy.MutationRule) ent.Policy {
	q := privacy.QueryPolicy{allowIfOff()}
	for _, r := range head() {
		q = append(q, r)
	}
	q = append(q, AllowIfSuperadmin(), filterRule(read))
	m := privacy.MutationPolicy{allowIfOff()}
	for _, r := range head() {
		m = append(m, r)
	}
	m = append(m, denyOwnershipEdges(), limitImpersonation(), checkImpersonation(), AllowIfSuperadmin())
	m = append(m, mutation...)
	m = append(m, privacy.AlwaysDenyRule())
	return privacy.Policy{Query: q, Mutation: m}
}

// editableEdges are the edges a mutation of each type may change; writes
// through any other edge (which would re-parent rows behind their own
// policy) are denied for everyone but the system.
var editableEdges = map[string][]string{
	"Membership":   {"roles", "manager", "invited_by", "organization", "user"},
	"Organization": {"parent"},
	"Preference":   {"updated_by", "organization", "user"},
	"Role":         {"organization"},
	"APIKey":       {"organization", "owner"},
	"OAuthAccount": {"user"},
	"RefreshToken": {"user", "session", "organization", "parent", "impersonator"},
	"Session":      {"user", "organization", "impersonator"},
	"SigningKey":   {},
	"UserToken":    {},
	"Invitation":   {"organization", "roles", "inviter"},
	"Activity":     {"organization", "actor_user", "actor_api_key", "impersonator"},
	"User":         {},
}

func denyOwnershipEdges() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(_ context.Context, m ent.Mutation) error {
		allowed := editableEdges[m.Type()]
		for _, list := range [][]string{m.AddedEdges(), m.RemovedEdges(), m.ClearedEdges()} {
			for _, e := range list {
				ok := false
				for _, a := range allowed {
					ok = ok || a == e
				}
				if !ok {
					return privacy.Denyf("the %s edge of %s cannot be written directly", e, m.Type())
				}
			}
		}
		return privacy.Skip
	})
}

// limitImpersonation refuses an impersonated actor (actor.Impersonator)
// what would take the account over, whatever its permissions: any write of
// API keys or linked OAuth accounts, a change of a user's email or
// password, opening a session (another impersonation, say), and revoking
// sessions other than its own. A refresh token it writes carries its own
// impersonator. Refusals match authz.ErrImpersonated.
func limitImpersonation() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		a := actor.FromContext(ctx)
		if a.Impersonator() == "" {
			return privacy.Skip
		}
		switch m.Type() {
		case "APIKey":
			return authz.Impersonated(ctx, "writing API keys")
		case "OAuthAccount":
			return authz.Impersonated(ctx, "linking or unlinking OAuth accounts")
		case "User":
			for _, f := range append(m.Fields(), m.ClearedFields()...) {
				if f == "email" || f == "password_hash" {
					return authz.Impersonated(ctx, "changing the "+strings.TrimSuffix(f, "_hash"))
				}
			}
		case "Session":
			if m.Op().Is(ent.OpCreate) {
				return authz.Impersonated(ctx, "opening a session")
			}
			if err := restrict(ctx, m, entql.FieldEQ("id", string(a.SessionID())), "the impersonated session itself"); err != nil {
				return err
			}
		case "RefreshToken":
			if m.Op().Is(ent.OpCreate) {
				if fieldID(m, "impersonator_id") != a.Impersonator() {
					return privacy.Denyf("a refresh token of an impersonation names its impersonator")
				}
				break
			}
			if err := restrict(ctx, m, entql.FieldEQ("family_id", string(a.SessionID())), "the impersonated session itself"); err != nil {
				return err
			}
		}
		return privacy.Skip
	})
}

// checkImpersonation decides the creation of an impersonation session
// (a Session with an impersonator), for superadmins too: see
// impersonation.
func checkImpersonation() privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		sm, ok := m.(*gen.SessionMutation)
		if !ok {
			return privacy.Skip
		}
		imp := fieldID(m, "impersonator_id")
		if imp == "" {
			return privacy.Skip
		}
		g, _ := authz.FromContext(ctx)
		return impersonation(ctx, g, sm, g.Self(actor.ScopeAll), imp)
	}), ent.OpCreate)
}

// onCreate runs rule for creates only.
func onCreate(rule func(context.Context, *authz.Grants, ent.Mutation) error) privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		g, _ := authz.FromContext(ctx)
		return rule(ctx, g, m)
	}), ent.OpCreate)
}

// onWrite restricts updates and deletes to the rows f allows; perm names
// the permission in refusals.
func onWrite(ops ent.Op, perm string, f filter) privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		g, _ := authz.FromContext(ctx)
		if err := restrict(ctx, m, f(ctx, g), perm); err != nil {
			return err
		}
		return privacy.Allow
	}), ops)
}

const (
	opUpdate = ent.OpUpdate | ent.OpUpdateOne
	opDelete = ent.OpDelete | ent.OpDeleteOne
)

// fieldID returns the ID value of field f set on m, or "".
func fieldID(m ent.Mutation, f string) pulid.ID {
	v, ok := m.Field(f)
	if !ok {
		return ""
	}
	switch id := v.(type) {
	case pulid.ID:
		return id
	case *pulid.ID:
		if id != nil {
			return *id
		}
	}
	return ""
}

// requireIn allows a create when the actor holds perm in the organization
// named by the mutation's organization_id field.
func requireIn(perm string) func(context.Context, *authz.Grants, ent.Mutation) error {
	return func(_ context.Context, g *authz.Grants, m ent.Mutation) error {
		org := fieldID(m, "organization_id")
		if org == "" {
			return privacy.Denyf("%s needs an organization", m.Type())
		}
		if ok, why := g.Can(perm, org); !ok {
			return privacy.Denyf("%s in organization %s: %s", perm, org, why)
		}
		return privacy.Allow
	}
}

// requireSelf allows a create of a row owned by the acting user.
func requireSelf(scope string) func(context.Context, *authz.Grants, ent.Mutation) error {
	return func(_ context.Context, g *authz.Grants, m ent.Mutation) error {
		if me := g.Self(scope); me != "" && fieldID(m, "user_id") == me {
			return privacy.Allow
		}
		return privacy.Skip
	}
}
