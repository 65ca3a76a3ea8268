// Package schemadiff compares two versions of a GraphQL schema and tells
// which changes break existing clients.
//
// Compare walks the types of the old and the new schema and returns one
// Change per difference, named by its schema coordinate (Type,
// Type.field, Type.field(arg:), Enum.VALUE). A change is breaking when a
// query, a variable or a response that was valid against the old schema may
// no longer be:
//
//   - a type, a field, an argument, an input field, an enum value, a union
//     member or an implemented interface is removed;
//   - a type changes kind (object to interface, …);
//   - an output field's type changes other than by becoming non-null
//     (String to String! is safe for clients; String! to String is not);
//   - an argument's or input field's type changes other than by becoming
//     nullable (String! to String is safe; String to String! is not);
//   - a required argument or input field (non-null, no default) is added.
//
// Everything else is listed as an addition (new types, fields, optional
// arguments, enum values, …) or a non-breaking change (deprecations,
// default values, types made safer). Directive definitions are not
// compared.
//
// Breaking changes are accepted by acknowledging them: see ParseAcks and
// Acknowledge.
package schemadiff

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// ErrInvalidSchema is returned by Load when the sources do not form a valid
// GraphQL schema.
var ErrInvalidSchema = errors.New("schemadiff: invalid GraphQL schema")

// Kind says what happened to the element a Change names.
type Kind string

// Kinds of change.
const (
	Added   Kind = "added"
	Removed Kind = "removed"
	Changed Kind = "changed"
)

// A Change is one difference between two schemas.
type Change struct {
	// Coordinate names the element: "User", "User.email",
	// "Query.users(first:)", "UserStatus.ACTIVE".
	Coordinate string
	Kind       Kind
	// Breaking is true when clients written against the old schema may
	// fail against the new one.
	Breaking bool
	// Message is a sentence for a reviewer, e.g. "field removed".
	Message string
	// Ack is the acknowledgement that accepts a breaking change, set by
	// Acknowledge; nil when none.
	Ack *Ack
}

// String returns "Coordinate: message".
func (c Change) String() string { return c.Coordinate + ": " + c.Message }

// Source is one schema file.
type Source struct {
	Name  string
	Input string
}

// Load parses and validates sources as one schema.
func Load(sources ...Source) (*ast.Schema, error) {
	srcs := make([]*ast.Source, len(sources))
	for i, s := range sources {
		srcs[i] = &ast.Source{Name: s.Name, Input: s.Input}
	}
	s, err := gqlparser.LoadSchema(srcs...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidSchema, err)
	}
	return s, nil
}

// Compare returns the changes from old to new, sorted by coordinate.
func Compare(old, new *ast.Schema) []Change {
	d := &differ{}
	for _, name := range typeNames(old) {
		o := old.Types[name]
		n, ok := new.Types[name]
		if !ok || n.BuiltIn {
			d.add(name, Removed, true, "%s removed", strings.ToLower(kindName(o.Kind)))
			continue
		}
		d.definition(o, n)
	}
	for _, name := range typeNames(new) {
		if o, ok := old.Types[name]; !ok || o.BuiltIn {
			d.add(name, Added, false, "%s added", strings.ToLower(kindName(new.Types[name].Kind)))
		}
	}
	sort.SliceStable(d.changes, func(i, j int) bool { return d.changes[i].Coordinate < d.changes[j].Coordinate })
	return d.changes
}

// Breaking returns the breaking changes of changes.
func Breaking(changes []Change) []Change {
	var out []Change
	for _, c := range changes {
		if c.Breaking {
			out = append(out, c)
		}
	}
	return out
}

type differ struct{ changes []Change }

func (d *differ) add(coord string, k Kind, breaking bool, format string, args ...any) {
	d.changes = append(d.changes, Change{Coordinate: coord, Kind: k, Breaking: breaking, Message: fmt.Sprintf(format, args...)})
}

func typeNames(s *ast.Schema) []string {
	var names []string
	for name, t := range s.Types {
		if !t.BuiltIn {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func kindName(k ast.DefinitionKind) string {
	switch k {
	case ast.Object:
		return "Object type"
	case ast.Interface:
		return "Interface"
	case ast.Union:
		return "Union"
	case ast.Enum:
		return "Enum"
	case ast.InputObject:
		return "Input type"
	case ast.Scalar:
		return "Scalar"
	}
	return string(k)
}

func (d *differ) definition(o, n *ast.Definition) {
	if o.Kind != n.Kind {
		d.add(o.Name, Changed, true, "kind changed from %s to %s", strings.ToLower(kindName(o.Kind)), strings.ToLower(kindName(n.Kind)))
		return
	}
	switch o.Kind {
	case ast.Object, ast.Interface:
		d.members(o.Name, o.Interfaces, n.Interfaces, "no longer implements %s", "now implements %s")
		d.outputFields(o, n)
	case ast.InputObject:
		d.inputFields(o, n)
	case ast.Union:
		d.members(o.Name, o.Types, n.Types, "no longer includes %s", "now includes %s")
	case ast.Enum:
		for _, v := range o.EnumValues {
			nv := n.EnumValues.ForName(v.Name)
			if nv == nil {
				d.add(o.Name+"."+v.Name, Removed, true, "enum value removed")
				continue
			}
			d.deprecation(o.Name+"."+v.Name, v.Directives, nv.Directives)
		}
		for _, v := range n.EnumValues {
			if o.EnumValues.ForName(v.Name) == nil {
				d.add(o.Name+"."+v.Name, Added, false, "enum value added")
			}
		}
	}
}

func (d *differ) members(coord string, old, new []string, removed, added string) {
	for _, m := range old {
		if !contains(new, m) {
			d.add(coord, Removed, true, removed, m)
		}
	}
	for _, m := range new {
		if !contains(old, m) {
			d.add(coord, Added, false, added, m)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (d *differ) outputFields(o, n *ast.Definition) {
	for _, f := range o.Fields {
		coord := o.Name + "." + f.Name
		nf := n.Fields.ForName(f.Name)
		if nf == nil {
			d.add(coord, Removed, true, "field removed (was %s)", f.Type)
			continue
		}
		if f.Type.String() != nf.Type.String() {
			if safeOutput(f.Type, nf.Type) {
				d.add(coord, Changed, false, "type changed from %s to %s; safe for clients", f.Type, nf.Type)
			} else {
				d.add(coord, Changed, true, "type changed from %s to %s", f.Type, nf.Type)
			}
		}
		d.deprecation(coord, f.Directives, nf.Directives)
		d.arguments(coord, f.Arguments, nf.Arguments)
	}
	for _, f := range n.Fields {
		if o.Fields.ForName(f.Name) == nil {
			d.add(o.Name+"."+f.Name, Added, false, "field added: %s", f.Type)
		}
	}
}

func (d *differ) arguments(field string, old, new ast.ArgumentDefinitionList) {
	for _, a := range old {
		coord := field + "(" + a.Name + ":)"
		na := new.ForName(a.Name)
		if na == nil {
			d.add(coord, Removed, true, "argument removed")
			continue
		}
		d.inputType(coord, a.Type, na.Type)
		d.defaultValue(coord, a.DefaultValue, na.DefaultValue)
	}
	for _, a := range new {
		if old.ForName(a.Name) != nil {
			continue
		}
		coord := field + "(" + a.Name + ":)"
		if a.Type.NonNull && a.DefaultValue == nil {
			d.add(coord, Added, true, "new required argument: %s", a.Type)
		} else {
			d.add(coord, Added, false, "optional argument added: %s", a.Type)
		}
	}
}

func (d *differ) inputFields(o, n *ast.Definition) {
	for _, f := range o.Fields {
		coord := o.Name + "." + f.Name
		nf := n.Fields.ForName(f.Name)
		if nf == nil {
			d.add(coord, Removed, true, "input field removed (was %s)", f.Type)
			continue
		}
		d.inputType(coord, f.Type, nf.Type)
		d.defaultValue(coord, f.DefaultValue, nf.DefaultValue)
		d.deprecation(coord, f.Directives, nf.Directives)
	}
	for _, f := range n.Fields {
		if o.Fields.ForName(f.Name) != nil {
			continue
		}
		coord := o.Name + "." + f.Name
		if f.Type.NonNull && f.DefaultValue == nil {
			d.add(coord, Added, true, "new required input field: %s", f.Type)
		} else {
			d.add(coord, Added, false, "optional input field added: %s", f.Type)
		}
	}
}

func (d *differ) inputType(coord string, old, new *ast.Type) {
	if old.String() == new.String() {
		return
	}
	if safeInput(old, new) {
		d.add(coord, Changed, false, "type changed from %s to %s; safe for clients", old, new)
		return
	}
	d.add(coord, Changed, true, "type changed from %s to %s", old, new)
}

func (d *differ) defaultValue(coord string, old, new *ast.Value) {
	o, n := valueString(old), valueString(new)
	if o == n {
		return
	}
	switch {
	case o == "":
		d.add(coord, Changed, false, "default value %s added", n)
	case n == "":
		d.add(coord, Changed, false, "default value %s removed", o)
	default:
		d.add(coord, Changed, false, "default value changed from %s to %s; clients relying on the old default see a different result", o, n)
	}
}

func valueString(v *ast.Value) string {
	if v == nil {
		return ""
	}
	return v.String()
}

func (d *differ) deprecation(coord string, old, new ast.DirectiveList) {
	od, nd := old.ForName("deprecated"), new.ForName("deprecated")
	switch {
	case od == nil && nd != nil:
		reason := ""
		if a := nd.Arguments.ForName("reason"); a != nil && a.Value != nil {
			reason = ": " + a.Value.Raw
		}
		d.add(coord, Changed, false, "deprecated%s", reason)
	case od != nil && nd == nil:
		d.add(coord, Changed, false, "no longer deprecated")
	}
}

// safeOutput reports whether a client reading a value of type old still
// reads a value of type new: new may only be stricter (non-null).
func safeOutput(old, new *ast.Type) bool {
	if old.NonNull && !new.NonNull {
		return false
	}
	if (old.Elem == nil) != (new.Elem == nil) {
		return false
	}
	if old.Elem != nil {
		return safeOutput(old.Elem, new.Elem)
	}
	return old.NamedType == new.NamedType
}

// safeInput reports whether every value a client sent as type old is still
// accepted as type new: new may only be looser (nullable).
func safeInput(old, new *ast.Type) bool {
	if !old.NonNull && new.NonNull {
		return false
	}
	if (old.Elem == nil) != (new.Elem == nil) {
		return false
	}
	if old.Elem != nil {
		return safeInput(old.Elem, new.Elem)
	}
	return old.NamedType == new.NamedType
}
