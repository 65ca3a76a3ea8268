package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/cf/identity/internal/rule"
)

// ActivityChain is the head of one hash chain of the activity trail: the
// position and hash of its newest row, and the anchor its oldest kept row
// links to (after a prune). Writers of a chain take its head row's lock, so
// a chain's rows get their positions in commit order. System only; written
// by package trail and activitylog with SQL of their own.
type ActivityChain struct{ ent.Schema }

// Fields of the ActivityChain.
func (ActivityChain) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").MaxLen(64).Immutable().
			Comment("The chain: an organization's ID, or platform."),
		field.Int64("seq").Default(0).
			Comment("The position of the chain's newest row."),
		field.String("hash").Default("").MaxLen(64).
			Comment("The hash of the chain's newest row."),
		field.Int64("anchor_seq").Default(0).
			Comment("The position of the newest pruned row (0: nothing pruned)."),
		field.String("anchor_hash").Default("").MaxLen(64).
			Comment("The hash of the newest pruned row: the prev_hash of the oldest kept row."),
	}
}

// Policy of the ActivityChain.
func (ActivityChain) Policy() ent.Policy { return rule.SystemOnly() }

// Annotations of the ActivityChain.
func (ActivityChain) Annotations() []schema.Annotation {
	return []schema.Annotation{entsqlTable("cf_activity_chains"), entgql.Skip(entgql.SkipAll)}
}
