package schema

import (
	"context"
	"fmt"
	"strings"
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"

	"github.com/cf/identity/actor"
	gen "github.com/cf/identity/ent"
	"github.com/cf/identity/ent/hook"
	"github.com/cf/identity/ent/intercept"
	"github.com/cf/identity/ent/usertoken"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/softdelete"
)

// PrefixAnnotation records the ID prefix of an entity; the pulid template
// turns it into the prefix-to-table map used by node lookups.
type PrefixAnnotation struct {
	Prefix string
}

// Name implements schema.Annotation.
func (PrefixAnnotation) Name() string { return "PULID" }

// idMixin gives an entity a type-prefixed, time-ordered ID.
type idMixin struct {
	mixin.Schema
	prefix string
}

func withPrefix(prefix string) idMixin { return idMixin{prefix: prefix} }

// Fields of the idMixin.
func (m idMixin) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").
			GoType(pulid.ID("")).
			DefaultFunc(func() pulid.ID { return pulid.New(m.prefix) }).
			Immutable().
			SchemaType(idType()).
			Validate(func(s string) error {
				if p := pulid.ID(s).Prefix(); p != m.prefix {
					return fmt.Errorf("id %q does not have the prefix %q", s, m.prefix)
				}
				return nil
			}),
	}
}

// Annotations of the idMixin.
func (m idMixin) Annotations() []schema.Annotation {
	return []schema.Annotation{PrefixAnnotation{Prefix: m.prefix}}
}

// idType is the column type of every ID and ID reference: a fixed-width
// string ("usr_" + 26 ULID characters fits in 31).
func idType() map[string]string {
	return map[string]string{"postgres": "varchar(31)", "sqlite3": "varchar(31)"}
}

// timeMixin adds created_at and updated_at.
type timeMixin struct{ mixin.Schema }

// Fields of the timeMixin.
func (timeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").
			Default(time.Now).
			Immutable().
			Annotations(entgql.OrderField("CREATED_AT"), entgql.Skip(entgql.SkipMutationCreateInput)),
		field.Time("updated_at").
			Default(time.Now).
			UpdateDefault(time.Now).
			Annotations(entgql.OrderField("UPDATED_AT"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// createdMixin adds created_at only, for rows that never change.
type createdMixin struct{ mixin.Schema }

// Fields of the createdMixin.
func (createdMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").
			Default(time.Now).
			Immutable().
			Annotations(entgql.OrderField("CREATED_AT"), entgql.Skip(entgql.SkipMutationCreateInput)),
	}
}

// softDeleteMixin adds deleted_at: queries skip rows where it is set and a
// delete sets it instead of removing the row (see package softdelete).
type softDeleteMixin struct{ mixin.Schema }

// Fields of the softDeleteMixin.
func (softDeleteMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("deleted_at").
			Optional().
			Nillable().
			Annotations(entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

type whereP interface {
	WhereP(...func(*sql.Selector))
}

// Interceptors of the softDeleteMixin hide soft-deleted rows.
func (softDeleteMixin) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{
		intercept.TraverseFunc(func(ctx context.Context, q intercept.Query) error {
			if !softdelete.Included(ctx) {
				q.WhereP(sql.FieldIsNull("deleted_at"))
			}
			return nil
		}),
	}
}

// Hooks of the softDeleteMixin turn deletes into updates of deleted_at.
func (softDeleteMixin) Hooks() []ent.Hook {
	type softDeleter interface {
		whereP
		SetOp(ent.Op)
		SetDeletedAt(time.Time)
		Client() *gen.Client
	}
	return []ent.Hook{
		hook.On(func(next ent.Mutator) ent.Mutator {
			return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
				if softdelete.Purging(ctx) {
					return next.Mutate(ctx, m)
				}
				mx, ok := m.(softDeleter)
				if !ok {
					return nil, fmt.Errorf("softdelete: unexpected mutation type %T", m)
				}
				mx.WhereP(sql.FieldIsNull("deleted_at"))
				mx.SetOp(ent.OpUpdate)
				mx.SetDeletedAt(time.Now())
				return mx.Client().Mutate(ctx, m)
			})
		}, ent.OpDeleteOne|ent.OpDelete),
	}
}

// lowerHook stores the named string fields in lower case.
func lowerHook(fields ...string) ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			for _, f := range fields {
				if v, ok := m.Field(f); ok {
					if s, ok := v.(string); ok {
						if err := m.SetField(f, strings.ToLower(strings.TrimSpace(s))); err != nil {
							return nil, err
						}
					}
				}
			}
			return next.Mutate(ctx, m)
		})
	}
}

// table returns the annotations that name an entity's table and expose it
// through GraphQL as a Relay connection with filters.
func table(name string, mutations ...entgql.MutationOption) []schema.Annotation {
	ants := []schema.Annotation{
		entsqlTable(name),
		entgql.RelayConnection(),
		entgql.QueryField(),
		entgql.MultiOrder(),
	}
	if len(mutations) > 0 {
		ants = append(ants, entgql.Mutations(mutations...))
	}
	return ants
}

// unverifyEmailHook marks a changed email address as unverified, unless the
// same mutation sets email_verified itself (a verification link applying
// the address it proved).
func unverifyEmailHook() ent.Hook {
	return hook.On(func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			if v, ok := m.Field("email"); ok {
				if om, ok := m.(interface {
					OldEmail(context.Context) (string, error)
				}); ok && m.Op().Is(ent.OpUpdateOne) {
					if old, err := om.OldEmail(ctx); err == nil && old == v {
						return next.Mutate(ctx, m)
					}
				}
				if _, set := m.Field("email_verified"); !set {
					if err := m.SetField("email_verified", false); err != nil {
						return nil, err
					}
					if err := m.ClearField("email_verified_at"); err != nil {
						return nil, err
					}
					// Links mailed before the change (a verification of
					// the old address, a reset sent there) stop working.
					if err := voidMailedTokens(ctx, m); err != nil {
						return nil, err
					}
				}
			}
			return next.Mutate(ctx, m)
		})
	}, ent.OpUpdate|ent.OpUpdateOne)
}

// voidMailedTokens marks the unused mailed tokens of the users m updates as
// used, as the system.
func voidMailedTokens(ctx context.Context, m ent.Mutation) error {
	um, ok := m.(*gen.UserMutation)
	if !ok {
		return fmt.Errorf("schema: unexpected mutation %T", m)
	}
	sys := trail.Domain(actor.NewContext(ctx, actor.System("email changed")))
	ids, err := um.IDs(sys)
	if err != nil || len(ids) == 0 {
		return err
	}
	return um.Client().UserToken.Update().
		Where(usertoken.UserIDIn(ids...), usertoken.UsedAtIsNil()).
		SetUsedAt(time.Now()).Exec(sys)
}
