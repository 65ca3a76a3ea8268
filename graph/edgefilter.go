package graph

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/permission"
)

// MaxEdgeFilterRows bounds the related objects an edge filter (hasX,
// hasXWith) of a where input may match.
const MaxEdgeFilterRows = 10000

// edgeFilters makes the edge filters (hasX, hasXWith) of the where input
// of field fc see only the related objects the caller may read. ent evaluates them as SQL subqueries on the related table, out of
// reach of that table's privacy policy: without this, a caller who sees a
// user could ask whether that user has a membership, a session or a key in
// an organization the caller knows nothing of, and get the answer in which
// users come back.
//
// On a top-level connection, hasXWith: [w…] becomes a filter on the IDs of
// the X that the caller may read and that match w…, and hasX: true (false)
// one on having (not having) any X the caller may read. Connections nested
// in a selection are loaded with their parent, before their arguments
// reach the field middleware, so edge filters there are refused
// (BAD_USER_INPUT). Platform superadmins, who read everything, are left
// alone.
func edgeFilters(ctx context.Context, client *ent.Client, fc *graphql.FieldContext) error {
	v := reflect.ValueOf(fc.Args["where"])
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return nil
	}
	lowerEmails(v)
	if g, ok := authz.FromContext(ctx); ok && (g.IsSystem() || g.Platform(permission.PlatformRoleGrant)) {
		return nil
	}
	return restrictEdges(ctx, client, v, fc.Object != "Query")
}

// restrictEdges rewrites the edge filters of where input w (a pointer to an
// ent XWhereInput) in place.
func restrictEdges(ctx context.Context, client *ent.Client, w reflect.Value, nested bool) error {
	e := w.Elem()
	for i := range e.NumField() {
		f, fv := e.Type().Field(i), e.Field(i)
		switch {
		case f.Name == "Not":
			if !fv.IsNil() {
				if err := restrictEdges(ctx, client, fv, nested); err != nil {
					return err
				}
			}
		case f.Name == "And" || f.Name == "Or":
			for j := range fv.Len() {
				if err := restrictEdges(ctx, client, fv.Index(j), nested); err != nil {
					return err
				}
			}
		case strings.HasPrefix(f.Name, "Has") && strings.HasSuffix(f.Name, "With"):
			if fv.Len() == 0 {
				continue
			}
			if nested {
				return nestedEdgeFilter(f.Name)
			}
			for j := range fv.Len() {
				if err := restrictEdges(ctx, client, fv.Index(j), nested); err != nil {
					return err
				}
			}
			only, err := readable(ctx, client, fv)
			if err != nil {
				return err
			}
			fv.Set(only)
		case strings.HasPrefix(f.Name, "Has") && f.Type == reflect.TypeFor[*bool]():
			if fv.IsNil() {
				continue
			}
			if nested {
				return nestedEdgeFilter(f.Name)
			}
			with := e.FieldByName(f.Name + "With")
			if !with.IsValid() {
				return fmt.Errorf("graph: no %sWith next to %s", f.Name, f.Name)
			}
			only, err := readable(ctx, client, reflect.MakeSlice(with.Type(), 0, 0))
			if err != nil {
				return err
			}
			has := fv.Elem().Bool()
			fv.Set(reflect.Zero(f.Type))
			if has {
				with.Set(reflect.AppendSlice(with, only))
				continue
			}
			// Not having any readable X: and: [{not: {hasXWith: [only]}}].
			inner := reflect.New(e.Type())
			inner.Elem().FieldByName(f.Name + "With").Set(only)
			not := reflect.New(e.Type())
			not.Elem().FieldByName("Not").Set(inner)
			and := e.FieldByName("And")
			and.Set(reflect.Append(and, not))
		}
	}
	return nil
}

// readable returns, for the where inputs ws of some type X, one where
// input that matches by ID the X the caller may read and that match all of
// ws.
func readable(ctx context.Context, client *ent.Client, ws reflect.Value) (reflect.Value, error) {
	elem := ws.Type().Elem() // *XWhereInput
	typ := strings.TrimSuffix(elem.Elem().Name(), "WhereInput")
	ec := reflect.ValueOf(client).Elem().FieldByName(typ)
	if !ec.IsValid() {
		return reflect.Value{}, fmt.Errorf("graph: no client for %s", typ)
	}
	q := ec.MethodByName("Query").Call(nil)[0]
	for j := range ws.Len() {
		out := ws.Index(j).MethodByName("P").Call(nil)
		if err, _ := out[1].Interface().(error); err != nil {
			if strings.Contains(err.Error(), "empty predicate") {
				continue // {} matches any X
			}
			return reflect.Value{}, err
		}
		q = q.MethodByName("Where").Call(out[:1])[0]
	}
	q = q.MethodByName("Limit").Call([]reflect.Value{reflect.ValueOf(MaxEdgeFilterRows + 1)})[0]
	out := q.MethodByName("IDs").Call([]reflect.Value{reflect.ValueOf(ctx)})
	if err, _ := out[1].Interface().(error); err != nil {
		return reflect.Value{}, err
	}
	ids := make([]any, out[0].Len())
	for i := range ids {
		ids[i] = fmt.Sprint(out[0].Index(i).Interface())
	}
	if len(ids) > MaxEdgeFilterRows {
		return reflect.Value{}, &gqlerror.Error{
			Message:    fmt.Sprintf("an edge filter on %s matches more than %d objects; filter on them directly", typ, MaxEdgeFilterRows),
			Extensions: map[string]any{"code": CodeBadUserInput},
		}
	}
	w := reflect.New(elem.Elem())
	add := w.MethodByName("AddPredicates")
	pred := func(s *entsql.Selector) { s.Where(entsql.In(s.C("id"), ids...)) }
	add.Call([]reflect.Value{reflect.ValueOf(pred).Convert(add.Type().In(0).Elem())})
	only := reflect.MakeSlice(ws.Type(), 0, 1)
	return reflect.Append(only, w), nil
}

func nestedEdgeFilter(field string) error {
	name := strings.ToLower(field[:1]) + field[1:]
	return &gqlerror.Error{
		Message:    fmt.Sprintf("%s is available on top-level connections only (users, memberships, roles, …): filter there", name),
		Extensions: map[string]any{"code": CodeBadUserInput},
	}
}
