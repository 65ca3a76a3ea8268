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

// Session is a signed-in device of a user: the family of its rotating
// refresh tokens, its active organization, where it signed in from and when
// it was last used. Revoking it stops its refresh tokens and, at once, its
// access tokens on this server.
type Session struct{ ent.Schema }

// Mixin of the Session.
func (Session) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("ses"), createdMixin{}, auditMixin{}}
}

// Fields of the Session.
func (Session) Fields() []ent.Field {
	return []ent.Field{
		field.String("user_id").GoType(pulid.ID("")).SchemaType(idType()).Immutable(),
		field.String("organization_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().
			Comment("The active organization; changes when the session switches organization."),
		field.String("impersonator_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable(),
		field.String("ip").Default("").MaxLen(45).Immutable().
			Comment("Client address at sign-in."),
		field.String("user_agent").Default("").MaxLen(512).Immutable().
			Comment("User agent at sign-in."),
		field.String("last_ip").Default("").MaxLen(45).
			Comment("Client address of the last refresh."),
		field.Time("last_used_at").
			Annotations(entgql.OrderField("LAST_USED_AT")),
		field.Time("idle_expires_at").
			Comment("The session ends when it is not refreshed before this time."),
		field.Time("expires_at").Immutable().
			Comment("The session ends at this time however often it is refreshed.").
			Annotations(entgql.OrderField("EXPIRES_AT")),
		field.Time("revoked_at").Optional().Nillable(),
		field.String("revoked_reason").Default("").MaxLen(200),
	}
}

// Edges of the Session.
func (Session) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("user", User.Type).
			Ref("sessions").Field("user_id").Unique().Required().Immutable(),
		edge.To("organization", Organization.Type).
			Unique().Field("organization_id"),
		edge.To("impersonator", User.Type).
			Unique().Field("impersonator_id").Immutable(),
		edge.To("refresh_tokens", RefreshToken.Type).
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the Session.
func (Session) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "created_at").StorageKey("cf_sessions_user"),
		index.Fields("organization_id", "created_at").StorageKey("cf_sessions_organization"),
		index.Fields("expires_at").StorageKey("cf_sessions_expires"),
	}
}

// Policy of the Session.
func (Session) Policy() ent.Policy { return rule.Session() }

// Annotations of the Session.
func (Session) Annotations() []schema.Annotation {
	return table("cf_sessions")
}
