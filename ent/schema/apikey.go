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
	"github.com/cf/identity/secret"
)

// APIKey is a long-lived credential. A personal key (no organization) acts as
// its owner narrowed by its scopes; an organization key acts in its
// organization. Only the public prefix and a digest of the key are stored.
type APIKey struct{ ent.Schema }

// Mixin of the APIKey.
func (APIKey) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("key"), timeMixin{}, auditMixin{}}
}

// Fields of the APIKey.
func (APIKey) Fields() []ent.Field {
	return []ent.Field{
		field.String("organization_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable().
			Comment("Empty for a personal key."),
		field.String("user_id").GoType(pulid.ID("")).SchemaType(idType()).Immutable().Comment("The owner of the key."),
		field.String("name").NotEmpty().MaxLen(200).
			Annotations(entgql.OrderField("NAME")),
		field.String("prefix").Unique().Immutable().
			Comment("Public part of the key, shown in lists to tell keys apart."),
		field.Bytes("secret_hash").GoType(secret.Digest{}).Unique().Immutable().Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Strings("scopes").Default([]string{}).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
		field.Time("expires_at").Optional().Nillable().
			Annotations(entgql.OrderField("EXPIRES_AT")),
		field.Time("last_used_at").Optional().Nillable().
			Annotations(entgql.OrderField("LAST_USED_AT")),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

// Edges of the APIKey.
func (APIKey) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("api_keys").Field("organization_id").Unique().Immutable(),
		edge.From("owner", User.Type).
			Ref("api_keys").Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the APIKey.
func (APIKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "created_at").StorageKey("cf_api_keys_organization"),
		index.Fields("user_id", "created_at").StorageKey("cf_api_keys_user"),
	}
}

// Policy of the APIKey.
func (APIKey) Policy() ent.Policy { return rule.APIKey() }

// Annotations of the APIKey.
func (APIKey) Annotations() []schema.Annotation {
	return append(table("cf_api_keys"), entgql.Type("APIKey"))
}
