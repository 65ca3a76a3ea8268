package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/lexer"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// Defaults of the operation limits, used where the matching Options field
// is zero. An operation over any of them is refused before it runs with
// extensions.code QUERY_TOO_COMPLEX; no resolver and no SQL statement runs.
const (
	// DefaultComplexityLimit caps the cost of an operation. Every field
	// costs 1; a connection multiplies the cost of its selections by
	// first or last (DefaultPageSize when both are absent), nodes(ids:) by
	// the number of IDs. users(first: 1000) { edges { node { memberships(first: 1000)
	// { totalCount } } } } costs about a million and is refused.
	DefaultComplexityLimit = 100_000
	// DefaultDepthLimit caps how deeply selections nest, fragments
	// expanded.
	DefaultDepthLimit = 15
	// DefaultAliasLimit caps the aliased fields of an operation,
	// fragments expanded.
	DefaultAliasLimit = 50
	// DefaultFragmentLimit caps the fragment definitions plus the
	// fragment spreads written in a document: validating many fragments
	// costs more than linear time in gqlparser, so a document of a
	// thousand one-field fragments is refused before validation.
	DefaultFragmentLimit = 200
	// DefaultFieldLimit caps the fields of a document with every fragment
	// expanded: the work of validating and executing it. A document whose
	// fragments each spread the next twice is refused here, before
	// validation.
	DefaultFieldLimit = 2_000
	// DefaultTokenLimit caps the lexical tokens of a document.
	DefaultTokenLimit = 10_000
	// DefaultNodesLimit caps the IDs of one nodes(ids:) call.
	DefaultNodesLimit = 100
	// DefaultListLimit caps the items of every list in the arguments of an
	// operation, variables included: idIn, idNotIn and the other In
	// filters, setMemberRoles(roleIDs:), bulkAssignRole(membershipIDs:).
	DefaultListLimit = 1_000
	// DefaultInputDepthLimit caps how deeply input objects nest in one
	// argument: where: {not: {or: [{not: {...}}]}} counts one per object.
	DefaultInputDepthLimit = 10
	// DefaultInputFieldLimit caps the input-object fields set in all the
	// arguments of an operation (the predicates of its where filters,
	// among others).
	DefaultInputFieldLimit = 500
)

// saturation bounds every count: above it, numbers stop growing, so that
// no product or sum overflows.
const saturation = math.MaxInt64 / 4

func add(a, b int64) int64 {
	if a+b > saturation {
		return saturation
	}
	return a + b
}

func mul(a, b int64) int64 {
	if a != 0 && b > saturation/a {
		return saturation
	}
	return a * b
}

func or0(v, def int) int64 {
	if v <= 0 {
		return int64(def)
	}
	return int64(v)
}

// operationLimits enforces the limits of Options on every GraphQL
// operation, as a gqlgen handler extension. Its document pass runs before
// parsing by gqlgen and before validation; its operation pass runs after
// validation, with the variables of the request, before the operation is
// dispatched.
type operationLimits struct {
	schema *ast.Schema

	cost, depth, aliases, fields, tokens int64
	fragments                            int64
	nodes, list, inputDepth, inputFields int64
	passed                               *lru.LRU[struct{}]
	// introspection is false when __schema and __type are refused.
	introspection bool
}

func newOperationLimits(schema *ast.Schema, opts Options) *operationLimits {
	return &operationLimits{
		schema:      schema,
		cost:        or0(opts.ComplexityLimit, DefaultComplexityLimit),
		depth:       or0(opts.DepthLimit, DefaultDepthLimit),
		aliases:     or0(opts.AliasLimit, DefaultAliasLimit),
		fragments:   or0(opts.FragmentLimit, DefaultFragmentLimit),
		fields:      or0(opts.FieldLimit, DefaultFieldLimit),
		tokens:      or0(opts.TokenLimit, DefaultTokenLimit),
		nodes:       or0(opts.NodesLimit, DefaultNodesLimit),
		list:        or0(opts.ListLimit, DefaultListLimit),
		inputDepth:  or0(opts.InputDepthLimit, DefaultInputDepthLimit),
		inputFields: or0(opts.InputFieldLimit, DefaultInputFieldLimit),
		passed:      lru.New[struct{}](1000),

		introspection: !opts.DisableIntrospection,
	}
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
} = (*operationLimits)(nil)

func (*operationLimits) ExtensionName() string                   { return "OperationLimits" }
func (*operationLimits) Validate(graphql.ExecutableSchema) error { return nil }

func tooComplex(format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    fmt.Sprintf(format, args...),
		Extensions: map[string]any{"code": CodeTooComplex},
	}
}

// MutateOperationParameters checks the size of the document before gqlgen
// parses and validates it: tokens, then, over the parsed document, the
// fields with fragments expanded, the depth and the aliases. Fragments are
// measured once each, so the pass is linear in the document whatever its
// expansion. Documents that passed are remembered by digest. A document
// that does not parse is left to gqlgen, which reports the syntax error.
func (l *operationLimits) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	sum := sha256.Sum256([]byte(params.Query))
	key := hex.EncodeToString(sum[:])
	if _, ok := l.passed.Get(ctx, key); ok {
		return nil
	}
	if err := l.checkDocument(params.Query); err != nil {
		return err
	}
	l.passed.Add(ctx, key, struct{}{})
	return nil
}

func (l *operationLimits) checkDocument(query string) *gqlerror.Error {
	src := &ast.Source{Input: query}
	lx := lexer.New(src)
	var tokens int64
	for {
		tok, err := lx.ReadToken()
		if err != nil {
			// Not this check's to report: gqlgen's parser refuses the
			// document with the position of the error.
			return nil //nolint:nilerr // a syntax error is reported by the parser
		}
		if tokens++; tokens > l.tokens {
			return tooComplex("the document has more than %d tokens, the limit", l.tokens)
		}
		if tok.Kind == lexer.EOF {
			break
		}
	}
	doc, err := parser.ParseQuery(src)
	if err != nil {
		return nil //nolint:nilerr // as above: the parser reports it
	}
	m := measureDocument(doc)
	if n := int64(len(doc.Fragments)) + m.spreads; n > l.fragments {
		return tooComplex("the document has %d fragment definitions and spreads, over the limit of %d", n, l.fragments)
	}
	if m.fields > l.fields {
		return tooComplex("the document has %d fields with its fragments expanded, over the limit of %d", m.fields, l.fields)
	}
	if m.depth > l.depth {
		return tooComplex("the document nests %d levels deep, over the limit of %d", m.depth, l.depth)
	}
	if m.aliases > l.aliases {
		return tooComplex("an operation has %d aliased fields with its fragments expanded, over the limit of %d", m.aliases, l.aliases)
	}
	return nil
}

// docMeasure is what the document pass found: fields of the whole
// document with fragments expanded (every operation, plus fragments no
// operation uses, which validation still reads), the deepest operation,
// the most aliases of one operation, and the selections it visited.
type docMeasure struct {
	fields, depth, aliases int64
	visits, spreads        int64
}

type shape struct{ fields, depth, aliases int64 }

type shapeWalker struct {
	frags   map[string]*ast.FragmentDefinition
	memo    map[string]shape
	busy    map[string]bool
	visits  int64
	spreads int64
}

// measureDocument measures doc without expanding it: each fragment's
// shape is computed once and reused at every spread. A fragment that
// spreads itself (invalid; validation refuses it) counts nothing inside
// the cycle.
func measureDocument(doc *ast.QueryDocument) docMeasure {
	w := &shapeWalker{
		frags: make(map[string]*ast.FragmentDefinition, len(doc.Fragments)),
		memo:  make(map[string]shape, len(doc.Fragments)),
		busy:  map[string]bool{},
	}
	for _, f := range doc.Fragments {
		if _, dup := w.frags[f.Name]; !dup {
			w.frags[f.Name] = f
		}
	}
	var m docMeasure
	for _, op := range doc.Operations {
		s := w.selections(op.SelectionSet)
		m.fields = add(m.fields, s.fields)
		m.depth = max(m.depth, s.depth)
		m.aliases = max(m.aliases, s.aliases)
	}
	for _, f := range doc.Fragments {
		if _, used := w.memo[f.Name]; !used {
			s := w.selections(f.SelectionSet)
			m.fields = add(m.fields, s.fields)
			m.depth = max(m.depth, s.depth)
		}
	}
	m.visits, m.spreads = w.visits, w.spreads
	return m
}

func (w *shapeWalker) selections(set ast.SelectionSet) shape {
	var s shape
	for _, sel := range set {
		w.visits++
		var c shape
		switch sel := sel.(type) {
		case *ast.Field:
			c = w.selections(sel.SelectionSet)
			c.fields = add(c.fields, 1)
			c.depth++
			if sel.Alias != "" && sel.Alias != sel.Name {
				c.aliases = add(c.aliases, 1)
			}
		case *ast.InlineFragment:
			c = w.selections(sel.SelectionSet)
		case *ast.FragmentSpread:
			w.spreads++
			c = w.fragment(sel.Name)
		}
		s.fields = add(s.fields, c.fields)
		s.aliases = add(s.aliases, c.aliases)
		s.depth = max(s.depth, c.depth)
	}
	return s
}

func (w *shapeWalker) fragment(name string) shape {
	if s, ok := w.memo[name]; ok {
		return s
	}
	f, ok := w.frags[name]
	if !ok || w.busy[name] {
		return shape{}
	}
	w.busy[name] = true
	s := w.selections(f.SelectionSet)
	delete(w.busy, name)
	w.memo[name] = s
	return s
}

// MutateOperationContext computes the cost of the validated operation
// with its variables and checks the values of its arguments: list
// lengths, nodes(ids:), input-object nesting and the input-object fields
// of the whole operation. Fragments are evaluated once each. With
// introspection disabled, an operation that selects __schema or __type is
// refused whole with FORBIDDEN.
func (l *operationLimits) MutateOperationContext(ctx context.Context, opCtx *graphql.OperationContext) *gqlerror.Error {
	if opCtx.Operation == nil {
		return nil
	}
	w := &costWalker{l: l, vars: opCtx.Variables, memo: map[*ast.FragmentDefinition]costs{}, doc: opCtx.Doc}
	c, err := w.selections(opCtx.Operation.SelectionSet)
	if err != nil {
		return err
	}
	if c.inputFields > l.inputFields {
		return tooComplex("the arguments of the operation set %d input fields, over the limit of %d", c.inputFields, l.inputFields)
	}
	if c.cost > l.cost {
		return tooComplex("the operation costs %d, over the limit of %d (a connection multiplies the cost of its selections by first or last, %d when absent; nodes by the number of IDs)",
			c.cost, l.cost, DefaultPageSize)
	}
	return nil
}

type costs struct{ cost, inputFields int64 }

type costWalker struct {
	l    *operationLimits
	vars map[string]any
	doc  *ast.QueryDocument
	memo map[*ast.FragmentDefinition]costs
	// visits counts the selections walked, for tests.
	visits int64
}

func (w *costWalker) selections(set ast.SelectionSet) (costs, *gqlerror.Error) {
	var total costs
	for _, sel := range set {
		w.visits++
		var c costs
		var err *gqlerror.Error
		switch sel := sel.(type) {
		case *ast.Field:
			c, err = w.field(sel)
		case *ast.InlineFragment:
			c, err = w.selections(sel.SelectionSet)
		case *ast.FragmentSpread:
			def := sel.Definition
			if def == nil && w.doc != nil {
				def = w.doc.Fragments.ForName(sel.Name)
			}
			if def == nil {
				continue
			}
			var ok bool
			if c, ok = w.memo[def]; !ok {
				// Validation refused fragment cycles, so this recursion ends.
				if c, err = w.selections(def.SelectionSet); err == nil {
					w.memo[def] = c
				}
			}
		}
		if err != nil {
			return costs{}, err
		}
		total.cost = add(total.cost, c.cost)
		total.inputFields = add(total.inputFields, c.inputFields)
	}
	return total, nil
}

func (w *costWalker) field(f *ast.Field) (costs, *gqlerror.Error) {
	if !w.l.introspection && (f.Name == "__schema" || f.Name == "__type") {
		return costs{}, &gqlerror.Error{
			Message:    "introspection (" + f.Name + ") is disabled on this server",
			Extensions: map[string]any{"code": CodeForbidden},
		}
	}
	children, err := w.selections(f.SelectionSet)
	if err != nil {
		return costs{}, err
	}
	c := costs{inputFields: children.inputFields}
	multiplier := int64(1)
	if f.Definition != nil {
		var first, last *int64
		hasFirst, hasLast := false, false
		for _, ad := range f.Definition.Arguments {
			switch ad.Name {
			case "first":
				hasFirst = true
			case "last":
				hasLast = true
			}
			a := f.Arguments.ForName(ad.Name)
			if a == nil {
				continue
			}
			v, verr := a.Value.Value(w.vars)
			if verr != nil {
				// Validation coerced the variables already; a value that
				// still does not resolve is left to the resolver.
				continue
			}
			n, err := w.input(f, ad, v, ad.Type, 0)
			if err != nil {
				return costs{}, err
			}
			c.inputFields = add(c.inputFields, n)
			switch ad.Name {
			case "first":
				first = intValue(v)
			case "last":
				last = intValue(v)
			case "ids":
				if list, ok := v.([]any); ok && ad.Type.Elem != nil {
					multiplier = int64(len(list))
				}
			}
		}
		if hasFirst && hasLast {
			multiplier = pageSize(first, last)
			if err := nullNestedPage(f, first, last); err != nil {
				return costs{}, err
			}
		}
	}
	c.cost = add(1, mul(multiplier, children.cost))
	return c, nil
}

// nullNestedPage refuses a nested connection whose first and last are
// written but null (a variable sent as null): entgql loads nested
// connections from the arguments of the document, and with both null it
// would load every row of every parent before limitPages cuts the page.
// Omitting both gives the default page, which is loaded in SQL.
func nullNestedPage(f *ast.Field, first, last *int64) *gqlerror.Error {
	if first != nil || last != nil || f.ObjectDefinition == nil || f.ObjectDefinition.Name == "Query" {
		return nil
	}
	if f.Arguments.ForName("first") == nil && f.Arguments.ForName("last") == nil {
		return nil
	}
	return &gqlerror.Error{
		Message: fmt.Sprintf("first and last of %s.%s are null: send a number, or omit both for a page of %d",
			f.ObjectDefinition.Name, f.Name, DefaultPageSize),
		Extensions: map[string]any{"code": CodeBadUserInput},
	}
}

// pageSize is the number of items a connection returns at most: first or
// last (the larger when both are set), DefaultPageSize when both are
// absent, clamped to [0, MaxPageSize] (limitPages refuses values outside).
func pageSize(first, last *int64) int64 {
	if first == nil && last == nil {
		return DefaultPageSize
	}
	var n int64
	for _, p := range []*int64{first, last} {
		if p != nil {
			n = max(n, *p)
		}
	}
	return min(max(n, 0), MaxPageSize)
}

func intValue(v any) *int64 {
	var n int64
	switch v := v.(type) {
	case int:
		n = int64(v)
	case int32:
		n = int64(v)
	case int64:
		n = v
	case float64:
		n = int64(v)
	case json.Number:
		i, err := v.Int64()
		if err != nil {
			return nil
		}
		n = i
	default:
		return nil
	}
	return &n
}

// input checks the value v of argument arg of field f, of type t, at
// input-object depth depth, and returns the input-object fields it sets.
// Lists are capped by ListLimit (nodes' ids by NodesLimit) and input
// objects nest at most InputDepthLimit deep. Scalars (Map, JSON) are not
// looked into: their size is the request body's concern.
func (w *costWalker) input(f *ast.Field, arg *ast.ArgumentDefinition, v any, t *ast.Type, depth int64) (int64, *gqlerror.Error) {
	if v == nil || t == nil {
		return 0, nil
	}
	if t.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			return w.input(f, arg, v, t.Elem, depth)
		}
		limit := w.l.list
		if f.Name == "nodes" && arg.Name == "ids" && depth == 0 {
			limit = w.l.nodes
		}
		if int64(len(list)) > limit {
			return 0, tooComplex("argument %s of %s has a list of %d items, over the limit of %d", arg.Name, f.Name, len(list), limit)
		}
		var n int64
		for _, item := range list {
			m, err := w.input(f, arg, item, t.Elem, depth)
			if err != nil {
				return 0, err
			}
			n = add(n, m)
		}
		return n, nil
	}
	def := w.l.schema.Types[t.NamedType]
	if def == nil || def.Kind != ast.InputObject {
		return 0, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return 0, nil
	}
	if depth+1 > w.l.inputDepth {
		return 0, tooComplex("argument %s of %s nests input objects more than %d deep, the limit", arg.Name, f.Name, w.l.inputDepth)
	}
	n := int64(len(obj))
	if n > w.l.inputFields {
		return 0, tooComplex("argument %s of %s sets %d input fields, over the limit of %d", arg.Name, f.Name, n, w.l.inputFields)
	}
	for name, fv := range obj {
		fd := def.Fields.ForName(name)
		if fd == nil {
			continue
		}
		m, err := w.input(f, arg, fv, fd.Type, depth+1)
		if err != nil {
			return 0, err
		}
		if n = add(n, m); n > w.l.inputFields {
			return 0, tooComplex("argument %s of %s sets more than %d input fields, the limit", arg.Name, f.Name, w.l.inputFields)
		}
	}
	return n, nil
}

// validationRules are gqlparser's default rules plus one that writes
// first: DefaultPageSize into every connection field of a document that
// sets neither first nor last. It runs once per document, before gqlgen
// caches it. limitPages defaults the arguments the resolver sees, but
// entgql loads nested connections eagerly from the arguments written in
// the document: without this, organizations { edges { node { memberships
// { edges { ... } } } } } loaded every membership of every organization
// and then returned one page of each.
func validationRules() *rules.Rules {
	r := rules.NewDefaultRules()
	r.AddRule("DefaultPageSize", func(observers *core.Events, _ core.AddErrFunc) {
		observers.OnField(func(w *core.Walker, f *ast.Field) { setDefaultPage(w.Schema, f) })
	})
	return r
}

// isConnection reports whether def is a Relay connection field.
func isConnection(def *ast.FieldDefinition) bool {
	return def != nil && def.Arguments.ForName("first") != nil && def.Arguments.ForName("last") != nil
}

func setDefaultPage(schema *ast.Schema, f *ast.Field) {
	if !isConnection(f.Definition) || f.Arguments.ForName("first") != nil || f.Arguments.ForName("last") != nil {
		return
	}
	f.Arguments = append(f.Arguments, &ast.Argument{
		Name:     "first",
		Position: f.Position,
		Value: &ast.Value{
			Kind:         ast.IntValue,
			Raw:          strconv.Itoa(DefaultPageSize),
			Position:     f.Position,
			ExpectedType: f.Definition.Arguments.ForName("first").Type,
			Definition:   schema.Types["Int"],
		},
	})
}
