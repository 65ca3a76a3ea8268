package gqlexec_test

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/cf/identity/internal/gqlexec"
)

func TestMarshalSlice(t *testing.T) {
	cases := []struct {
		name      string
		length    int
		panicAt   int // -1: none
		omitPanic bool
		wantNil   bool
		wantErrs  int
	}{
		{"empty", 0, -1, false, false, 0},
		{"one", 1, -1, false, false, 0},
		{"several in order", 5, -1, false, false, 0},
		{"panic recovered: nil list, one error", 5, 2, false, true, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
			ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Field: graphql.CollectedField{Field: &ast.Field{Alias: "items"}}})
			var order []int
			got := gqlexec.MarshalSlice(ctx, c.length, 3, c.omitPanic, func(ctx context.Context, i int) graphql.Marshaler {
				fc := graphql.GetFieldContext(ctx)
				if fc.Index == nil || *fc.Index != i {
					t.Errorf("element %d: field context index %v", i, fc.Index)
				}
				if i == c.panicAt {
					panic("boom")
				}
				order = append(order, i)
				return graphql.MarshalInt(i)
			})
			if (got == nil) != c.wantNil {
				t.Fatalf("nil list = %v, want %v", got == nil, c.wantNil)
			}
			if !c.wantNil {
				if len(got) != c.length {
					t.Fatalf("%d elements, want %d", len(got), c.length)
				}
				for i := range order {
					if order[i] != i {
						t.Fatalf("marshalled in order %v", order)
					}
				}
			}
			if n := len(graphql.GetErrors(ctx)); n != c.wantErrs {
				t.Errorf("%d errors, want %d", n, c.wantErrs)
			}
		})
	}
}
