package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/cf/identity/internal/rule"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/pulid"
)

// Activity is one entry of the append-only audit trail.
type Activity struct{ ent.Schema }

// Mixin of the Activity.
func (Activity) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("act"), createdMixin{}}
}

// Fields of the Activity. The actor, organization and objects are kept as
// IDs, not as foreign keys: no later delete may rewrite a row of the trail.
func (Activity) Fields() []ent.Field {
	return []ent.Field{
		field.String("organization_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.Enum("actor_type").Values("user", "api_key", "system").Immutable(),
		field.String("actor_user_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.String("actor_api_key_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.String("actor_label").Default("").MaxLen(200).Immutable().
			Comment("The reason of a system actor, or a display label."),
		field.String("actor_display").Default("").MaxLen(320).Immutable().
			Comment("Who acted, as shown when the row was written: the user's display name or email, the system's reason."),
		field.String("impersonator_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable().
			Annotations(entgql.Type("ID")),
		field.String("verb").Validate(validateVerb).MaxLen(100).Immutable().
			Annotations(entgql.OrderField("VERB")),
		field.String("object_type").Default("").MaxLen(64).Immutable(),
		field.String("object_id").Default("").MaxLen(64).Immutable(),
		field.JSON("targets", []string{}).Optional().Immutable().
			Comment("Further objects the action touched, as Type:ID."),
		field.String("channel").Default("").MaxLen(32).Immutable().
			Comment("graphql, client, cli or system."),
		field.String("ip").Default("").MaxLen(45).Immutable(),
		field.String("user_agent").Default("").MaxLen(512).Immutable(),
		field.String("request_id").Default("").MaxLen(64).Immutable(),
		// Declared in graph/activity.graphql: its resolver makes the field
		// collection load the whole row, which masking needs (trail.Mask).
		field.JSON("data", map[string]any{}).Optional().Immutable().
			Annotations(entgql.Skip(entgql.SkipType)),
		// The chain fields are for `identity activity verify` and exports,
		// not for the admin API: a position would tell a reader how many
		// rows others wrote in between (the platform chain is shared).
		field.String("chain").MaxLen(64).Immutable().
			Comment("The hash chain of the row: its organization's ID, or platform.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int64("seq").Immutable().
			Comment("The row's position in its chain, from 1.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("prev_hash").MaxLen(64).Immutable().
			Comment("The hash of the previous row of the chain (hex SHA-256); empty for the first.").
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("hash").MaxLen(64).Immutable().
			Comment("SHA-256 (hex) of prev_hash and the row's canonical content: see package activitylog.").
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the Activity.
func (Activity) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("organization_id", "created_at", "id").StorageKey("cf_activities_organization_created"),
		index.Fields("created_at", "id").StorageKey("cf_activities_created"),
		index.Fields("actor_user_id", "created_at").StorageKey("cf_activities_actor_created"),
		index.Fields("object_type", "object_id").StorageKey("cf_activities_object"),
		index.Fields("chain", "seq").Unique().StorageKey("cf_activities_chain_seq"),
	}
}

// Interceptors of the Activity: platform staff reading another
// organization's rows see their data as configured (see trail.Mask).
func (Activity) Interceptors() []ent.Interceptor { return []ent.Interceptor{trail.Mask()} }

// Policy of the Activity: append-only for everyone.
func (Activity) Policy() ent.Policy { return rule.Activity() }

// Annotations of the Activity.
func (Activity) Annotations() []schema.Annotation {
	return table("cf_activities")
}
