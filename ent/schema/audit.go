package schema

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"entgo.io/ent"
	"entgo.io/ent/schema/mixin"

	gen "github.com/cf/identity/ent"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/pulid"
)

// auditMixin records every successful create, update and delete of an
// entity as an Activity, in the same transaction when there is one.
type auditMixin struct{ mixin.Schema }

// quietFields change without being recorded: they are telemetry, not state.
var quietFields = []string{"updated_at", "last_used_at"}

// Hooks of the auditMixin.
func (auditMixin) Hooks() []ent.Hook {
	type mutation interface {
		ent.Mutation
		ID() (pulid.ID, bool)
		IDs(context.Context) ([]pulid.ID, error)
		Client() *gen.Client
	}
	return []ent.Hook{
		func(next ent.Mutator) ent.Mutator {
			return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
				mx, ok := m.(mutation)
				if !ok {
					return nil, fmt.Errorf("audit: unexpected mutation type %T", m)
				}
				if trail.IsDomain(ctx) {
					// The flow records this write in its own words.
					return next.Mutate(ctx, m)
				}
				changed := changedFields(m)
				if !m.Op().Is(ent.OpCreate|ent.OpDelete|ent.OpDeleteOne) && len(changed) == 0 {
					return next.Mutate(ctx, m)
				}
				var ids []pulid.ID
				if m.Op().Is(ent.OpUpdate | ent.OpDelete) {
					var err error
					if ids, err = mx.IDs(ctx); err != nil {
						return nil, err
					}
				}
				org := organizationOf(ctx, m)
				v, err := next.Mutate(ctx, m)
				if err != nil {
					return v, err
				}
				// A delete or bulk write that reached no row (a row out of
				// the actor's reach, or none at all) records nothing.
				if n, ok := v.(int); ok && n == 0 {
					return v, nil
				}
				if id, ok := mx.ID(); ok && len(ids) == 0 {
					ids = []pulid.ID{id}
				}
				if org == "" && m.Type() == "Organization" && len(ids) == 1 {
					org = ids[0]
				}
				if err := record(ctx, mx.Client(), m, verb(m), ids, org, changed); err != nil {
					return nil, err
				}
				return v, nil
			})
		},
	}
}

func changedFields(m ent.Mutation) []string {
	var fs []string
	for _, f := range append(append(m.Fields(), m.ClearedFields()...), append(m.AddedEdges(), m.RemovedEdges()...)...) {
		if !slices.Contains(quietFields, f) && !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	slices.Sort(fs)
	return fs
}

// organizationOf returns the organization a mutation touches, if the entity
// has one and the mutation names it.
func organizationOf(ctx context.Context, m ent.Mutation) pulid.ID {
	if v, ok := m.Field("organization_id"); ok {
		if id, ok := v.(pulid.ID); ok {
			return id
		}
	}
	if m.Op().Is(ent.OpUpdateOne | ent.OpDeleteOne) {
		if v, err := m.OldField(ctx, "organization_id"); err == nil {
			switch id := v.(type) {
			case pulid.ID:
				return id
			case *pulid.ID:
				if id != nil {
					return *id
				}
			}
		}
	}
	return ""
}

func verb(m ent.Mutation) string {
	object := strings.ToLower(m.Type())
	switch m.Type() {
	case "APIKey":
		object = "api_key"
	case "OAuthAccount":
		object = "oauth_account"
	case "RefreshToken":
		object = "refresh_token"
	case "SigningKey":
		object = "signing_key"
	}
	switch {
	case m.Op().Is(ent.OpCreate):
		return object + ".created"
	case m.Op().Is(ent.OpDelete | ent.OpDeleteOne):
		return object + ".deleted"
	}
	if v, ok := m.Field("deleted_at"); ok && v != nil {
		return object + ".deleted" // a soft delete
	}
	return object + ".updated"
}

// record writes one activity per affected row, in one statement (package
// trail). The Activity policy lets no actor but the system create
// activities, so trail writes through package bypass, after the audited
// mutation passed its own policy.
func record(ctx context.Context, c *gen.Client, m ent.Mutation, verb string, ids []pulid.ID, org pulid.ID, changed []string) error {
	events := make([]trail.Event, 0, len(ids))
	for _, id := range ids {
		e := trail.Event{Verb: verb, ObjectType: m.Type(), ObjectID: id, Data: map[string]any{"fields": changed}}
		switch {
		case org == "":
		case m.Type() == "Organization" && m.Op().Is(ent.OpDelete|ent.OpDeleteOne):
			// The organization row is gone: keep its ID in the data only.
			e.Data["organization_id"] = org
		default:
			e.Organization = org
		}
		events = append(events, e)
	}
	if err := trail.RecordAll(ctx, c, events); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}
