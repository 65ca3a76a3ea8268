// Package gqlexec holds what the generated GraphQL executor calls in place
// of gqlgen's concurrent list marshalling, after internal/gqlpatch has
// rewritten it (see the README's Performance section).
//
// gqlgen resolves every element of a list of objects in a goroutine of its
// own. In this server that buys nothing: entgql's field collection loads
// the rows a selection needs before its fields resolve, so the elements of
// a list only read memory, and a goroutine each costs its start, its stack
// growth and the scheduler more than the element itself.
package gqlexec

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalSlice marshals the length elements of a list one after another,
// in order, with the signature of graphql.MarshalSliceConcurrently (whose
// workerLimit it ignores). Each call of marshalElement gets a context whose
// field context carries the element's index, as gqlgen's does. Unless
// omitPanicHandler is set, a panic in an element is recovered, reported as
// an error of that element's path and makes the whole list nil, as
// gqlgen's does.
func MarshalSlice(ctx context.Context, length int, _ int64, omitPanicHandler bool, marshalElement func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	ret := make(graphql.Array, length)
	for i := range length {
		fc := &graphql.FieldContext{Index: &i}
		child := graphql.WithFieldContext(ctx, fc)
		if omitPanicHandler {
			ret[i] = marshalElement(child, i)
			continue
		}
		if !marshalRecovered(child, i, ret, marshalElement) {
			return nil
		}
	}
	return ret
}

// marshalRecovered sets ret[i] and reports whether marshalElement returned
// without a panic (recovered and added to ctx's errors).
func marshalRecovered(ctx context.Context, i int, ret graphql.Array, marshalElement func(ctx context.Context, i int) graphql.Marshaler) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			graphql.AddError(ctx, graphql.Recover(ctx, r))
			ok = false
		}
	}()
	ret[i] = marshalElement(ctx, i)
	return true
}
