package graph

import (
	"reflect"
	"strings"

	"github.com/cf/identity/ent"
)

var userWhereType = reflect.TypeFor[ent.UserWhereInput]()

// lowerEmails lower-cases, in place, every email value of the user filters
// reachable from w (a pointer to an ent XWhereInput, or a slice of them):
// emails are stored lower-case, so users(where: {email: "Alice@Example.com"})
// finds alice@example.com, at the top level and inside hasXWith filters.
func lowerEmails(w reflect.Value) {
	switch w.Kind() {
	case reflect.Slice:
		for i := range w.Len() {
			lowerEmails(w.Index(i))
		}
		return
	case reflect.Pointer:
		if w.IsNil() || w.Elem().Kind() != reflect.Struct {
			return
		}
	default:
		return
	}
	e := w.Elem()
	isUser := e.Type() == userWhereType
	for i := range e.NumField() {
		f, fv := e.Type().Field(i), e.Field(i)
		switch {
		case isUser && strings.HasPrefix(f.Name, "Email") && f.Type == reflect.TypeFor[*string]():
			if !fv.IsNil() {
				fv.Set(reflect.ValueOf(new(strings.ToLower(fv.Elem().String()))))
			}
		case isUser && strings.HasPrefix(f.Name, "Email") && f.Type == reflect.TypeFor[[]string]():
			for j := range fv.Len() {
				fv.Index(j).SetString(strings.ToLower(fv.Index(j).String()))
			}
		case f.Type.Kind() == reflect.Pointer && strings.HasSuffix(f.Type.Elem().Name(), "WhereInput"),
			f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Pointer && strings.HasSuffix(f.Type.Elem().Elem().Name(), "WhereInput"):
			lowerEmails(fv)
		}
	}
}
