package schema

import (
	"context"
	"encoding/json"
	"fmt"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/cf/identity/ent/intercept"
	"github.com/cf/identity/internal/rule"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/softdelete"
	"github.com/cf/identity/validation"
)

// Preference is a JSON setting at the system, organization or user level.
// Keys are case-insensitive (stored lower-case); every update bumps version.
type Preference struct{ ent.Schema }

// Mixin of the Preference.
func (Preference) Mixin() []ent.Mixin {
	return []ent.Mixin{withPrefix("prf"), timeMixin{}, auditMixin{}}
}

// Fields of the Preference.
func (Preference) Fields() []ent.Field {
	return []ent.Field{
		field.Enum("scope").Values("system", "organization", "user").Immutable(),
		field.String("organization_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable(),
		field.String("user_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable().Immutable(),
		field.String("key").Validate(validatePrefKey).Immutable().
			Annotations(entgql.OrderField("KEY")),
		field.JSON("value", json.RawMessage{}).
			Annotations(entgql.Type("JSON")),
		field.Int("version").Default(1).Positive().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.String("updated_by_id").GoType(pulid.ID("")).SchemaType(idType()).Optional().Nillable(),
	}
}

// Edges of the Preference.
func (Preference) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("organization", Organization.Type).
			Ref("preferences").Field("organization_id").Unique().Immutable(),
		edge.From("user", User.Type).
			Ref("preferences").Field("user_id").Unique().Immutable(),
		edge.To("updated_by", User.Type).Unique().Field("updated_by_id"),
	}
}

// Indexes of the Preference: one value per key and scope owner.
func (Preference) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("key").Unique().StorageKey("cf_preferences_system_key").
			Annotations(entsql.IndexWhere("scope = 'system'")),
		index.Fields("organization_id", "key").Unique().StorageKey("cf_preferences_organization_key").
			Annotations(entsql.IndexWhere("scope = 'organization'")),
		index.Fields("user_id", "key").Unique().StorageKey("cf_preferences_user_key").
			Annotations(entsql.IndexWhere("scope = 'user'")),
	}
}

// Hooks of the Preference.
func (Preference) Hooks() []ent.Hook {
	return []ent.Hook{lowerHook("key"), preferenceHook, jsonSizeHook("value")}
}

// preferenceHook checks that the scope matches the owner columns and bumps
// version on every update.
func preferenceHook(next ent.Mutator) ent.Mutator {
	type versioned interface{ AddVersion(int) }
	return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
		switch {
		case m.Op().Is(ent.OpCreate):
			scope, _ := m.Field("scope")
			_, hasOrg := m.Field("organization_id")
			_, hasUser := m.Field("user_id")
			want := map[string][2]bool{"system": {false, false}, "organization": {true, false}, "user": {false, true}}
			w, ok := want[fmt.Sprint(scope)]
			if ok && (w[0] != hasOrg || w[1] != hasUser) {
				return nil, validation.Errorf("scope", "a %s preference needs organization=%v and user=%v", scope, w[0], w[1])
			}
		case m.Op().Is(ent.OpUpdate | ent.OpUpdateOne):
			if v, ok := m.(versioned); ok {
				v.AddVersion(1)
			}
		}
		return next.Mutate(ctx, m)
	})
}

// Interceptors of the Preference: a deleted preference is kept as a
// tombstone (value null) so that its key's version keeps growing (package
// preference); queries leave tombstones out unless the context includes
// tombstones (softdelete.WithTombstones).
func (Preference) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{
		intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
			if !softdelete.Tombstones(ctx) {
				q.WhereP(notTombstone)
			}
			return nil
		}),
	}
}

// notTombstone keeps rows whose value is not JSON null.
func notTombstone(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.Where(sql.ExprP(s.C("value") + " <> 'null'::jsonb"))
		return
	}
	s.Where(sql.NEQ(s.C("value"), "null"))
}

// Policy of the Preference.
func (Preference) Policy() ent.Policy { return rule.Preference() }

// Annotations of the Preference.
func (Preference) Annotations() []schema.Annotation {
	return table("cf_preferences")
}
