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

// Membership places a user in an organization with one or more roles.
type Membership struct{ ent.Schema }

// Mixin of the Membership.
func (Membership) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("mem"), timeMixin{}, auditMixin{}}
}

// Fields of the Membership.
func (Membership) Fields() []ent.Field {
	return []ent.Field{
		field.String("organization_id").GoType(pulid.ID("")).SchemaType(idType()).Immutable(),
		field.String("user_id").GoType(pulid.ID("")).SchemaType(idType()).Immutable(),
		field.Enum("status").
			Values("invited", "active", "suspended").
			Default("active").
			Annotations(entgql.OrderField("STATUS")),
		field.String("manager_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable(),
		field.String("department").Default("").MaxLen(200),
		field.String("title").Default("").MaxLen(200),
		field.String("invited_by_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable(),
		field.Time("joined_at").Optional().Nillable().
			Annotations(entgql.OrderField("JOINED_AT")),
	}
}

// Edges of the Membership.
func (Membership) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("memberships").Field("organization_id").Unique().Required().Immutable(),
		edge.From("user", User.Type).
			Ref("memberships").Field("user_id").Unique().Required().Immutable(),
		edge.To("roles", Role.Type).
			StorageKey(edge.Table("cf_membership_roles"), edge.Columns("membership_id", "role_id")).
			Annotations(entgql.RelayConnection()),
		edge.To("reports", Membership.Type).
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)).
			From("manager").Unique().Field("manager_id"),
		edge.To("invited_by", User.Type).
			Unique().Field("invited_by_id"),
	}
}

// Indexes of the Membership.
func (Membership) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "user_id").Unique().StorageKey("cf_memberships_organization_user"),
		index.Fields("user_id").StorageKey("cf_memberships_user"),
		index.Fields("organization_id", "status").StorageKey("cf_memberships_organization_status"),
		index.Fields("manager_id").StorageKey("cf_memberships_manager"),
		// The API's default order of an organization's members (by ID): the
		// nested members connection pages through it without a sort.
		index.Fields("organization_id", "id").StorageKey("cf_memberships_organization_id"),
	}
}

// Hooks of the Membership.
func (Membership) Hooks() []ent.Hook { return []ent.Hook{rule.MembershipGuard()} }

// Policy of the Membership.
func (Membership) Policy() ent.Policy { return rule.Membership() }

// Annotations of the Membership.
func (Membership) Annotations() []schema.Annotation {
	return table("cf_memberships")
}
