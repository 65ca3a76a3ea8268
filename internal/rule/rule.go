// Package rule holds the privacy rules shared by every entity of the model.
//
// The rules read the actor from the context (package actor). They are
// fail-closed: a policy built with Base denies a context without an actor,
// lets the system and the platform superadmin through, and denies everyone
// else until an entity adds finer rules in front of the final deny.
package rule

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/privacy"

	"github.com/cf/identity/actor"
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

// AllowIfSuperadmin allows a platform superadmin acting with full rights.
func AllowIfSuperadmin() privacy.QueryMutationRule {
	return privacy.ContextQueryMutationRule(func(ctx context.Context) error {
		if actor.FromContext(ctx).IsSuperadmin() {
			return privacy.Allow
		}
		return privacy.Skip
	})
}

// Base returns the policy every entity starts from: no actor is denied, the
// system and superadmins are allowed, and everyone else is denied.
func Base() ent.Policy {
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			DenyIfNoActor(),
			AllowIfSystem(),
			AllowIfSuperadmin(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			DenyIfNoActor(),
			AllowIfSystem(),
			AllowIfSuperadmin(),
			privacy.AlwaysDenyRule(),
		},
	}
}

// AppendOnly returns a policy for append-only entities: like Base, but no
// actor, the system included, may update or delete a row.
func AppendOnly() ent.Policy {
	deny := privacy.MutationRuleFunc(func(_ context.Context, m ent.Mutation) error {
		if m.Op().Is(ent.OpUpdate | ent.OpUpdateOne | ent.OpDelete | ent.OpDeleteOne) {
			return privacy.Denyf("%s is append-only", m.Type())
		}
		return privacy.Skip
	})
	return privacy.Policy{
		Query: privacy.QueryPolicy{
			DenyIfNoActor(),
			AllowIfSystem(),
			AllowIfSuperadmin(),
			privacy.AlwaysDenyRule(),
		},
		Mutation: privacy.MutationPolicy{
			DenyIfNoActor(),
			deny,
			AllowIfSystem(),
			AllowIfSuperadmin(),
			privacy.AlwaysDenyRule(),
		},
	}
}
