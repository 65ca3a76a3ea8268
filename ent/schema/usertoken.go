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

// UserToken is a single-use token mailed to a user: a password reset, or
// the proof that the user controls an email address (verification of the
// current address, or of a new one before it replaces the current). Only
// its digest is stored. Read and written by the system only.
type UserToken struct{ ent.Schema }

// Mixin of the UserToken.
func (UserToken) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("utk"), createdMixin{}, auditMixin{}}
}

// Fields of the UserToken.
func (UserToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").GoType(pulid.ID("")).SchemaType(idType()).Immutable(),
		field.Enum("purpose").Values("password_reset", "email_verification").Immutable(),
		field.String("email").MaxLen(254).Immutable().
			Comment("The address the token was sent to; for a verification, the address it proves."),
		field.Bytes("token_digest").GoType(secret.Digest{}).Sensitive().Immutable(),
		field.Time("expires_at").Immutable(),
		field.Time("used_at").Optional().Nillable(),
	}
}

// Edges of the UserToken.
func (UserToken) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("tokens").Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the UserToken.
func (UserToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("token_digest").Unique().StorageKey("cf_user_tokens_token"),
		index.Fields("user_id", "purpose", "created_at").StorageKey("cf_user_tokens_user"),
		index.Fields("expires_at").StorageKey("cf_user_tokens_expires"),
	}
}

// Policy of the UserToken.
func (UserToken) Policy() ent.Policy { return rule.SystemOnly() }

// Annotations of the UserToken.
func (UserToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entsqlTable("cf_user_tokens"), entgql.Skip(entgql.SkipAll)}
}
