package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/mixin"

	"github.com/cf/identity/actor"
	gen "github.com/cf/identity/ent"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/pulid"
)

// auditMixin records every successful create, update and delete of an
// entity as an Activity, in the same transaction when there is one.
type auditMixin struct{ mixin.Schema }

// quietFields change without being recorded: they are telemetry, not state.
var quietFields = []string{"updated_at", "last_used_at", "created_at"}

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

				// The privacy hook ran first: its filters are on the mutation.
				// The rows it reaches are listed as the system, since an
				// actor may change rows it may not read (a key with
				// session:revoke alone).
				sys := actor.NewContext(ctx, actor.System("audit"))
				changes, err := changesOf(sys, m)
				if err != nil {
					return nil, err
				}
				if !m.Op().Is(ent.OpCreate|ent.OpDelete|ent.OpDeleteOne) && len(changes) == 0 {
					// Nothing changes (every field keeps its value): a
					// no-op records nothing.
					return next.Mutate(ctx, m)
				}
				var ids []pulid.ID
				if m.Op().Is(ent.OpUpdate | ent.OpDelete) {
					if ids, err = mx.IDs(sys); err != nil {
						return nil, err
					}
				}
				org := organizationOf(sys, m)
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
				if err := record(ctx, mx.Client(), m, verb(m), ids, org, changes); err != nil {
					return nil, err
				}
				return v, nil
			})
		},
	}
}

// change is one field's change: its old value (when the mutation knows it:
// an update of one row) and its new one; a sensitive field shows neither.
type change struct {
	Old      any  `json:"old,omitempty"`
	New      any  `json:"new,omitempty"`
	Cleared  bool `json:"cleared,omitempty"`
	Redacted bool `json:"redacted,omitempty"`
}

// changesOf returns the changes m makes (its old values read through
// sys, a system context), by field (and edge) name, leaving
// out quiet fields and, for an update of one row, fields set to the value
// they hold. Sensitive fields (ent's Sensitive, see sensitive) are named
// without values.
func changesOf(sys context.Context, m ent.Mutation) (map[string]change, error) {
	out := map[string]change{}
	one := m.Op().Is(ent.OpUpdateOne)
	hidden := sensitive(m.Type())
	for _, f := range m.Fields() {
		if slices.Contains(quietFields, f) {
			continue
		}
		nv, _ := m.Field(f)
		if hidden[f] {
			out[f] = change{Redacted: true}
			continue
		}
		c := change{New: nv}
		if one {
			ov, err := m.OldField(sys, f)
			if err != nil {
				return nil, fmt.Errorf("audit: the old value of %s.%s: %w", m.Type(), f, err)
			}
			if sameValue(ov, nv) {
				continue
			}
			c.Old = ov
		}
		out[f] = c
	}
	for _, f := range m.ClearedFields() {
		if slices.Contains(quietFields, f) {
			continue
		}
		if hidden[f] {
			out[f] = change{Redacted: true, Cleared: true}
			continue
		}
		c := change{Cleared: true}
		if one {
			ov, err := m.OldField(sys, f)
			if err != nil {
				return nil, fmt.Errorf("audit: the old value of %s.%s: %w", m.Type(), f, err)
			}
			if isNil(ov) {
				continue
			}
			c.Old = ov
		}
		out[f] = c
	}
	// An edge kept in a field of its own (organization: organization_id)
	// is recorded once, as the field.
	field := func(e string) bool {
		_, ok := out[e+"_id"]
		return ok
	}
	for _, e := range m.AddedEdges() {
		if field(e) {
			continue
		}
		if ids := m.AddedIDs(e); len(ids) > 0 {
			c := out[e]
			c.New = map[string]any{"added": ids}
			out[e] = c
		}
	}
	for _, e := range m.RemovedEdges() {
		if field(e) {
			continue
		}
		if ids := m.RemovedIDs(e); len(ids) > 0 {
			c := out[e]
			if added, ok := c.New.(map[string]any); ok {
				added["removed"] = ids
			} else {
				c.New = map[string]any{"removed": ids}
			}
			out[e] = c
		}
	}
	for _, e := range m.ClearedEdges() {
		if _, ok := out[e]; !ok && !field(e) {
			out[e] = change{Cleared: true}
		}
	}
	return out, nil
}

// sameValue reports whether an old and a new value of a field are equal,
// pointers and JSON compared by what they hold.
func sameValue(old, new any) bool {
	ov, nv := deref(old), deref(new)
	if ob, ok := ov.(json.RawMessage); ok {
		nb, ok := nv.(json.RawMessage)
		return ok && jsonEqual(ob, nb)
	}
	if ot, ok := ov.(time.Time); ok {
		nt, ok := nv.(time.Time)
		return ok && ot.Equal(nt)
	}
	return reflect.DeepEqual(ov, nv)
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}

func deref(v any) any {
	rv := reflect.ValueOf(v)
	for rv.IsValid() && rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return nil
	}
	return rv.Interface()
}

func isNil(v any) bool { return deref(v) == nil }

// schemas lists the audited schemas, for their sensitive fields.
var schemas = map[string]ent.Interface{
	"APIKey": APIKey{}, "Invitation": Invitation{}, "Membership": Membership{}, "OAuthAccount": OAuthAccount{},
	"Organization": Organization{}, "Preference": Preference{}, "RefreshToken": RefreshToken{}, "Role": Role{},
	"Session": Session{}, "SigningKey": SigningKey{}, "User": User{}, "UserToken": UserToken{},
}

var sensitiveFields = sync.OnceValue(func() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for name, s := range schemas {
		fs := map[string]bool{}
		for _, f := range s.Fields() {
			if d := f.Descriptor(); d.Sensitive {
				fs[d.Name] = true
			}
		}
		for _, mx := range s.Mixin() {
			for _, f := range mx.Fields() {
				if d := f.Descriptor(); d.Sensitive {
					fs[d.Name] = true
				}
			}
		}
		out[name] = fs
	}
	return out
})

// sensitive returns the fields of entity type t whose values the trail
// never shows: those the schema marks Sensitive (password hashes, token
// digests, sealed secrets).
func sensitive(t string) map[string]bool { return sensitiveFields()[t] }

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
func record(ctx context.Context, c *gen.Client, m ent.Mutation, verb string, ids []pulid.ID, org pulid.ID, changes map[string]change) error {
	events := make([]trail.Event, 0, len(ids))
	fields := slices.Sorted(maps.Keys(changes))
	for _, id := range ids {
		e := trail.Event{Verb: verb, ObjectType: m.Type(), ObjectID: id, Data: map[string]any{"fields": fields}}
		if len(changes) > 0 {
			e.Data["changes"] = changes
		}
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
