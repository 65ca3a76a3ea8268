package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/cf/identity/internal/rule"
	"github.com/cf/identity/secret"
)

// SigningKey is a key pair that signs access tokens. Its ID is the kid of
// the tokens it signs; the private key is sealed with the server's master
// key. The newest key signs; older keys keep verifying until verify_until.
type SigningKey struct{ ent.Schema }

// Mixin of the SigningKey.
func (SigningKey) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("sgk"), createdMixin{}, auditMixin{}}
}

// Fields of the SigningKey.
func (SigningKey) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("algorithm").Values("EdDSA").Default("EdDSA").Immutable(),
		field.Bytes("public_key").NotEmpty().Immutable(),
		field.Bytes("private_key").GoType(secret.Sealed{}).Immutable().Sensitive(),
		field.Time("verify_until").Optional().Nillable().
			Comment("Set when a newer key replaces this one: tokens it signed verify until then."),
	}
}

// Indexes of the SigningKey.
func (SigningKey) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("created_at").StorageKey("cf_signing_keys_created"),
	}
}

// Policy of the SigningKey.
func (SigningKey) Policy() ent.Policy { return rule.SigningKey() }

// Annotations of the SigningKey.
func (SigningKey) Annotations() []schema.Annotation {
	return []schema.Annotation{entsqlTable("cf_signing_keys"), entgql.Skip(entgql.SkipAll)}
}
