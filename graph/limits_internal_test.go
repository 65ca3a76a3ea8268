package graph

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

func bombDocument(n int) string {
	var b strings.Builder
	b.WriteString("query { viewer { ...F0 } }\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "fragment F%d on Viewer { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Viewer { kind user { memberships { totalCount } } }\n", n)
	return b.String()
}

// TestLimitPassesAreLinear counts the selections each limit pass visits
// for documents of fragments that each spread the next twice (2^n fields
// once expanded): both passes visit every selection of the document once,
// so the work grows with the document, not with its expansion.
func TestLimitPassesAreLinear(t *testing.T) {
	schema := NewSchema(nil).Schema()
	l := newOperationLimits(schema, Options{})
	for _, n := range []int{10, 30, 62, 200} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			doc, err := parser.ParseQuery(&ast.Source{Input: bombDocument(n)})
			if err != nil {
				t.Fatal(err)
			}
			// Selections as written: 1 (viewer) + 1 (...F0) + 2 per
			// fragment + 4 in the last one.
			written := int64(2 + 2*n + 4)

			m := measureDocument(doc)
			if m.visits != written {
				t.Errorf("document pass visited %d selections, the document has %d", m.visits, written)
			}
			// Fields: viewer plus 2^n copies of the 4 fields of the last
			// fragment (the count saturates rather than overflowing).
			want := int64(saturation)
			if n < 60 {
				want = 1 + 4<<n
			}
			if m.fields != want {
				t.Errorf("fields = %d, want %d", m.fields, want)
			}
			if err := l.checkDocument(bombDocument(n)); err == nil || err.Extensions["code"] != CodeTooComplex {
				t.Errorf("document pass accepted the bomb: %v", err)
			}

			// The operation pass, run on the validated document as if the
			// field limit had let it through, is linear too.
			if errs := validator.ValidateWithRules(schema, doc, nil); len(errs) > 0 {
				t.Fatalf("validation: %v", errs)
			}
			w := &costWalker{l: l, doc: doc, memo: map[*ast.FragmentDefinition]costs{}}
			c, gerr := w.selections(doc.Operations[0].SelectionSet)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if w.visits != written {
				t.Errorf("operation pass visited %d selections, the document has %d", w.visits, written)
			}
			if c.cost <= l.cost {
				t.Errorf("cost %d is within the limit %d", c.cost, l.cost)
			}
			opCtx := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0]}
			if err := l.MutateOperationContext(context.Background(), opCtx); err == nil || err.Extensions["code"] != CodeTooComplex {
				t.Errorf("operation pass accepted the bomb: %v", err)
			}
		})
	}
}

// TestCost pins the cost of connections, lists and nodes.
func TestCost(t *testing.T) {
	schema := NewSchema(nil).Schema()
	l := newOperationLimits(schema, Options{})
	cases := []struct {
		query string
		vars  map[string]any
		want  int64
	}{
		{`{ viewer { kind } }`, nil, 2},
		{`{ users { totalCount } }`, nil, 1 + DefaultPageSize},
		{`{ users(first: 10) { totalCount edges { node { id } } } }`, nil, 1 + 10*(1+3)},
		{`{ users(last: 7) { totalCount } }`, nil, 1 + 7},
		{`query($n: Int) { users(first: $n) { totalCount } }`, map[string]any{"n": 3}, 1 + 3},
		{`{ users(first: 0) { totalCount } }`, nil, 1},
		{`{ users(first: 5000) { totalCount } }`, nil, 1 + MaxPageSize},
		{`{ users(first: 1000) { edges { node { memberships(first: 1000) { totalCount } } } } }`, nil, 1 + 1000*(1+(1+(1+1000)))},
		{`{ nodes(ids: ["a", "b", "c"]) { id } }`, nil, 1 + 3},
		{`{ node(id: "a") { id } }`, nil, 2},
		{`query { viewer { ...V ...V } } fragment V on Viewer { user { memberships(first: 2) { totalCount } } }`, nil, 1 + 2*(1+(1+2))},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			doc, errs := gqlparser.LoadQueryWithRules(schema, c.query, nil)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			vars, err := validator.VariableValues(schema, doc.Operations[0], c.vars)
			if err != nil {
				t.Fatal(err)
			}
			w := &costWalker{l: l, doc: doc, vars: vars, memo: map[*ast.FragmentDefinition]costs{}}
			got, gerr := w.selections(doc.Operations[0].SelectionSet)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if got.cost != c.want {
				t.Errorf("cost = %d, want %d", got.cost, c.want)
			}
		})
	}
}
