package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/cf/identity/internal/rule"
	"github.com/cf/identity/pulid"
)

// Role is a named set of permissions. Built-in roles (owner, admin, member,
// viewer) have no organization and fixed IDs; custom roles belong to one
// organization.
type Role struct{ ent.Schema }

// Mixin of the Role.
func (Role) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("rol"), timeMixin{}, auditMixin{}}
}

// Fields of the Role.
func (Role) Fields() []ent.Field {
	return []ent.Field{
		field.String("organization_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable().
			Comment("Empty for built-in roles."),
		field.String("key").Validate(validateRoleKey).Immutable().
			Annotations(entgql.OrderField("KEY")),
		field.String("name").NotEmpty().MaxLen(100).
			Annotations(entgql.OrderField("NAME")),
		field.String("description").Default("").MaxLen(1000),
		field.Strings("permissions").Default([]string{}).Validate(validatePermissions).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.Int("level").Default(0).Range(0, 1000).
			Comment("Hierarchy level: nobody grants or edits a role above their own.").
			Annotations(entgql.OrderField("LEVEL")),
		field.Bool("full_data_access").Default(false),
		field.Bool("system").Default(false).Immutable().
			Comment("Built-in roles are system roles and cannot be changed.").
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// Edges of the Role.
func (Role) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("roles").Field("organization_id").Unique().Immutable(),
		edge.From("memberships", Membership.Type).
			Ref("roles").
			Annotations(entgql.RelayConnection(), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		edge.From("invitations", Invitation.Type).
			Ref("roles").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the Role.
func (Role) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "key").Unique().StorageKey("cf_roles_organization_key"),
		index.Fields("key").Unique().StorageKey("cf_roles_builtin_key").
			Annotations(entsql.IndexWhere("organization_id IS NULL")),
	}
}

// Hooks of the Role.
func (Role) Hooks() []ent.Hook { return []ent.Hook{rule.RoleGuard()} }

// Policy of the Role.
func (Role) Policy() ent.Policy { return rule.Role() }

// Annotations of the Role.
func (Role) Annotations() []schema.Annotation {
	return table("cf_roles", entgql.MutationCreate(), entgql.MutationUpdate())
}
