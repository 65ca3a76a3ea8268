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

// Activity is one entry of the append-only audit trail.
type Activity struct{ ent.Schema }

// Mixin of the Activity.
func (Activity) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("act"), createdMixin{}}
}

// Fields of the Activity.
func (Activity) Fields() []ent.Field {
	return []ent.Field{
		field.String("organization_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable(),
		field.Enum("actor_type").Values("user", "api_key", "system").Immutable(),
		field.String("actor_user_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable(),
		field.String("actor_api_key_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable(),
		field.String("actor_label").Default("").MaxLen(200).Immutable().
			Comment("The reason of a system actor, or a display label."),
		field.String("impersonator_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable(),
		field.String("verb").Validate(validateVerb).MaxLen(100).Immutable().
			Annotations(entgql.OrderField("VERB")),
		field.String("object_type").Default("").MaxLen(64).Immutable(),
		field.String("object_id").Default("").MaxLen(64).Immutable(),
		field.String("channel").Default("").MaxLen(32).Immutable().
			Comment("graphql, client, cli or system."),
		field.String("ip").Default("").MaxLen(45).Immutable(),
		field.String("user_agent").Default("").MaxLen(512).Immutable(),
		field.String("request_id").Default("").MaxLen(64).Immutable(),
		field.JSON("data", map[string]any{}).Optional().Immutable(),
	}
}

// Edges of the Activity.
func (Activity) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("activities").Field("organization_id").Unique().Immutable(),
		edge.To("actor_user", User.Type).Unique().Field("actor_user_id").Immutable(),
		edge.To("actor_api_key", APIKey.Type).Unique().Field("actor_api_key_id").Immutable(),
		edge.To("impersonator", User.Type).Unique().Field("impersonator_id").Immutable(),
	}
}

// Indexes of the Activity.
func (Activity) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "created_at").StorageKey("cf_activities_organization_created"),
		index.Fields("actor_user_id", "created_at").StorageKey("cf_activities_actor_created"),
		index.Fields("object_type", "object_id").StorageKey("cf_activities_object"),
	}
}

// Policy of the Activity: append-only for everyone.
func (Activity) Policy() ent.Policy { return rule.Activity() }

// Annotations of the Activity.
func (Activity) Annotations() []schema.Annotation {
	return table("cf_activities")
}
