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

// RefreshToken is one link of a session's rotating refresh-token chain. All
// tokens of a session share a family ID; only a digest of the token is stored.
type RefreshToken struct{ ent.Schema }

// Mixin of the RefreshToken.
func (RefreshToken) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("rtk"), createdMixin{}, auditMixin{}}
}

// Fields of the RefreshToken.
func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").GoType(pulid.ID("")).SchemaType(idType()).Immutable(),
		field.String("organization_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable().
			Comment("The active organization of the session."),
		field.String("family_id").GoType(pulid.ID("")).SchemaType(idType()).Immutable().
			Comment("The session: every token of one rotation chain shares it."),
		field.String("parent_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable(),
		field.Bytes("token_hash").GoType(secret.Digest{}).Unique().Immutable().Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("expires_at").Immutable().
			Annotations(entgql.OrderField("EXPIRES_AT")),
		field.Time("used_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
		field.String("revoked_reason").Default("").MaxLen(200),
		field.String("impersonator_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable(),
		field.String("ip").Default("").MaxLen(45).Immutable(),
		field.String("user_agent").Default("").MaxLen(512).Immutable(),
	}
}

// Edges of the RefreshToken.
func (RefreshToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("refresh_tokens").Field("user_id").Unique().Required().Immutable(),
		edge.To("organization", Organization.Type).
			Unique().Field("organization_id").Immutable(),
		edge.From("session", Session.Type).
			Ref("refresh_tokens").Field("family_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("children", RefreshToken.Type).
			From("parent").Unique().Field("parent_id").Immutable(),
		edge.To("impersonator", User.Type).
			Unique().Field("impersonator_id").Immutable(),
	}
}

// Indexes of the RefreshToken.
func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "created_at").StorageKey("cf_refresh_tokens_user"),
		index.Fields("family_id").StorageKey("cf_refresh_tokens_family"),
		index.Fields("expires_at").StorageKey("cf_refresh_tokens_expires"),
	}
}

// Policy of the RefreshToken.
func (RefreshToken) Policy() ent.Policy { return rule.RefreshToken() }

// Annotations of the RefreshToken.
func (RefreshToken) Annotations() []schema.Annotation {
	return table("cf_refresh_tokens")
}
