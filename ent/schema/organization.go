package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/cf/identity/internal/rule"
	"github.com/cf/identity/pulid"
)

// Organization is a tenant. Organizations are soft-deleted and may have a
// parent organization.
type Organization struct{ ent.Schema }

// Mixin of the Organization.
func (Organization) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("org"), timeMixin{}, softDeleteMixin{}, auditMixin{}}
}

// Fields of the Organization.
func (Organization) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("slug").
			Unique().
			Validate(validateSlug).
			Comment("URL-safe, unique across all organizations, deleted ones included.").
			Annotations(entgql.OrderField("SLUG")),
		field.String("plan").Default("free").MaxLen(64),
		field.Enum("status").
			Values("active", "suspended", "archived").
			Default("active").
			Annotations(entgql.OrderField("STATUS")),
		field.String("parent_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable(),
		field.JSON("metadata", map[string]any{}).Optional(),
	}
}

// Edges of the Organization.
func (Organization) Edges() []ent.Edge {
	noInput := entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)
	return []ent.Edge{
		edge.To("children", Organization.Type).
			Annotations(entgql.RelayConnection(), noInput).
			From("parent").Unique().Field("parent_id"),
		edge.To("memberships", Membership.Type).
			Annotations(entgql.RelayConnection(), noInput),
		edge.To("roles", Role.Type).
			Annotations(entgql.RelayConnection(), noInput),
		edge.To("api_keys", APIKey.Type).
			Annotations(entgql.RelayConnection(), noInput),
		edge.To("preferences", Preference.Type).
			Annotations(entgql.RelayConnection(), noInput),
		edge.To("invitations", Invitation.Type).
			Annotations(entgql.RelayConnection(), noInput),
	}
}

// Indexes of the Organization.
func (Organization) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("parent_id").StorageKey("cf_organizations_parent"),
		index.Fields("status", "created_at").StorageKey("cf_organizations_status_created"),
	}
}

// Hooks of the Organization.
func (Organization) Hooks() []ent.Hook {
	return []ent.Hook{lowerHook("slug"), jsonSizeHook("metadata")}
}

// Policy of the Organization.
func (Organization) Policy() ent.Policy { return rule.Organization() }

// Annotations of the Organization.
func (Organization) Annotations() []schema.Annotation {
	return table("cf_organizations", entgql.MutationCreate(), entgql.MutationUpdate())
}
