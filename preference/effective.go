package preference

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/organization"
	"github.com/cf/identity/ent/predicate"
	entpref "github.com/cf/identity/ent/preference"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/pulid"
)

// Layer is the value of a key at one level.
type Layer struct {
	Level   Level
	Value   json.RawMessage
	Version int
}

// Resolved is the effective value of a key: as it applies to a user in an
// organization.
type Resolved struct {
	Key string
	// Value is the layers resolved: JSON objects merge key by key
	// (recursively) from the broad level to the narrow one; any other
	// value of a narrower level replaces the broader one.
	Value json.RawMessage
	// Source is the narrowest level that sets the key.
	Source Level
	// Layers are the levels that set the key, broadest first.
	Layers []Layer
}

// Effective returns the effective preferences of user userID (the actor's
// own user when empty) in organization orgID (none when empty: the system
// and user levels only), for keys (case-insensitive; every key set when
// there are none), sorted by key, as the actor of ctx may read them.
//
// A level contributes what the actor may read of it: the system level
// always; the organization level with preference:read there (an actor
// without it, such as the built-in viewer role, gets the other levels
// only); the user level when it is the actor's own (or the actor is a
// platform superadmin). An organization or a user the actor may not see
// at all is an *ent.NotFoundError (GraphQL NOT_FOUND). A key that no
// readable level sets, or that is deleted everywhere, is left out. Keys
// that are not preference keys are a *validation.Error for field "keys".
//
// Effective reads with at most three statements, whatever the number of
// keys.
func Effective(ctx context.Context, client *ent.Client, orgID, userID pulid.ID, keys []string) ([]Resolved, error) {
	return Default.Effective(ctx, client, orgID, userID, keys)
}

// Effective is the package's Effective; it does not depend on the schemas
// of s.
func (s *Service) Effective(ctx context.Context, client *ent.Client, orgID, userID pulid.ID, keys []string) ([]Resolved, error) {
	norm := make([]string, 0, len(keys))
	for _, k := range keys {
		nk, err := normalizeKey("keys", k)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(norm, nk) {
			norm = append(norm, nk)
		}
	}
	if orgID != "" {
		if _, err := client.Organization.Query().Where(organization.ID(orgID)).OnlyID(ctx); err != nil {
			return nil, fmt.Errorf("preference: organization %s: %w", orgID, err)
		}
	}
	me := viewer(ctx)
	if userID == "" {
		userID = me
	} else if userID != me {
		if _, err := client.User.Query().Where(user.ID(userID)).OnlyID(ctx); err != nil {
			return nil, fmt.Errorf("preference: user %s: %w", userID, err)
		}
	}
	levels := []predicate.Preference{entpref.ScopeEQ(System)}
	if orgID != "" {
		levels = append(levels, entpref.And(entpref.ScopeEQ(Organization), entpref.OrganizationID(orgID)))
	}
	if userID != "" {
		levels = append(levels, entpref.And(entpref.ScopeEQ(User), entpref.UserID(userID)))
	}
	q := client.Preference.Query().Where(entpref.Or(levels...))
	if len(norm) > 0 {
		q.Where(entpref.KeyIn(norm...))
	}
	rows, err := q.Order(ent.Asc(entpref.FieldKey)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("preference: reading effective preferences: %w", err)
	}
	byKey := map[string][]*ent.Preference{}
	var order []string
	for _, p := range rows {
		if isNull(p.Value) {
			continue
		}
		if _, ok := byKey[p.Key]; !ok {
			order = append(order, p.Key)
		}
		byKey[p.Key] = append(byKey[p.Key], p)
	}
	slices.Sort(order)
	out := make([]Resolved, 0, len(order))
	for _, k := range order {
		e, err := resolve(k, byKey[k])
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// resolve merges the rows of one key (one per level at most).
func resolve(key string, rows []*ent.Preference) (Resolved, error) {
	slices.SortFunc(rows, func(a, b *ent.Preference) int {
		return slices.Index(Levels, a.Scope) - slices.Index(Levels, b.Scope)
	})
	e := Resolved{Key: key, Layers: make([]Layer, len(rows))}
	var merged any
	for i, p := range rows {
		e.Layers[i] = Layer{Level: p.Scope, Value: p.Value, Version: p.Version}
		v, err := decode(p.Value)
		if err != nil {
			return Resolved{}, fmt.Errorf("preference: the stored %s value of %q is not JSON: %w", p.Scope, key, err)
		}
		if i == 0 {
			merged = v
		} else {
			merged = Merge(merged, v)
		}
		e.Source = p.Scope
	}
	if len(rows) == 1 {
		e.Value = rows[0].Value
		return e, nil
	}
	b, err := encode(merged)
	if err != nil {
		return Resolved{}, fmt.Errorf("preference: encoding the effective value of %q: %w", key, err)
	}
	e.Value = b
	return e, nil
}

// Merge returns narrow laid over broad, as decoded JSON (encoding/json's
// map[string]any and []any): when both are objects, the result has the
// members of both, a member of both being the Merge of the two; otherwise
// it is narrow. Arrays are replaced, not concatenated. Neither argument is
// changed.
func Merge(broad, narrow any) any {
	b, ok1 := broad.(map[string]any)
	n, ok2 := narrow.(map[string]any)
	if !ok1 || !ok2 {
		return narrow
	}
	out := make(map[string]any, len(b)+len(n))
	for k, v := range b {
		out[k] = v
	}
	for k, v := range n {
		if bv, ok := out[k]; ok {
			out[k] = Merge(bv, v)
		} else {
			out[k] = v
		}
	}
	return out
}
