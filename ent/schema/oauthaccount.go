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

// OAuthAccount links a user to an account at an OAuth provider. Provider
// tokens are stored sealed (AES-256-GCM), never in plaintext.
type OAuthAccount struct{ ent.Schema }

// Mixin of the OAuthAccount.
func (OAuthAccount) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("oac"), timeMixin{}, auditMixin{}}
}

// Fields of the OAuthAccount.
func (OAuthAccount) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").GoType(pulid.ID("")).SchemaType(idType()).Immutable(),
		field.String("provider").NotEmpty().MaxLen(64).Immutable().
			Annotations(entgql.OrderField("PROVIDER")),
		field.String("provider_user_id").NotEmpty().MaxLen(255).Immutable(),
		field.String("provider_email").Default("").MaxLen(254),
		field.Bytes("access_token").GoType(secret.Sealed{}).Optional().Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bytes("refresh_token").GoType(secret.Sealed{}).Optional().Sensitive().
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("token_expires_at").Optional().Nillable(),
		field.Strings("scopes").Default([]string{}).
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

// Edges of the OAuthAccount.
func (OAuthAccount) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("oauth_accounts").Field("user_id").Unique().Required().Immutable(),
	}
}

// Indexes of the OAuthAccount.
func (OAuthAccount) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("provider", "provider_user_id").Unique().StorageKey("cf_oauth_accounts_provider_user"),
		index.Fields("user_id").StorageKey("cf_oauth_accounts_user"),
	}
}

// Policy of the OAuthAccount.
func (OAuthAccount) Policy() ent.Policy { return rule.OAuthAccount() }

// Annotations of the OAuthAccount.
func (OAuthAccount) Annotations() []schema.Annotation {
	return table("cf_oauth_accounts")
}
