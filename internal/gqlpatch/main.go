// Command gqlpatch rewrites the executor gqlgen generates
// (graph/generated/generated.go) so that an operation's fields resolve one
// after another instead of in a goroutine each, and so that objects
// without a @defer skip the deferred-group bookkeeping. go generate runs it
// right after gqlgen:
//
//	go run ./internal/gqlpatch graph/generated/generated.go
//
// It makes three textual rewrites of gqlgen v0.17's templates and fails,
// leaving the file as it was, when one of them finds nothing to rewrite,
// so that a gqlgen whose templates changed stops generation instead of
// silently losing the rewrite:
//
//   - concurrent lists: graphql.MarshalSliceConcurrently becomes
//     gqlexec.MarshalSlice (internal/gqlexec), which marshals the elements
//     in order on the calling goroutine;
//   - concurrent fields of objects other than the root types: a field that
//     gqlgen queues with FieldSet.Concurrently (for a FieldSet.Dispatch that
//     starts a goroutine each) is resolved in place;
//   - deferred groups: ProcessDeferredGroup, and the GraphQL path its
//     argument computes for every object of an answer, runs only when the
//     object has @defer fragments.
//
// Why it is safe, and what it costs, is in the README's Performance
// section. The rewrites change scheduling only: every field still resolves
// with the same context, middleware, error handling and panic recovery.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/format"
	"os"
	"regexp"
)

// A rewrite is one textual change of the generated executor.
type rewrite struct {
	name string
	re   *regexp.Regexp
	repl []byte
}

// rewrites are applied in order; each must match at least once.
var rewrites = []rewrite{
	{
		name: "concurrent lists",
		re:   regexp.MustCompile(`\bgraphql\.MarshalSliceConcurrently\(`),
		repl: []byte(`gqlexec.MarshalSlice(`),
	},
	{
		name: "concurrent fields",
		re:   regexp.MustCompile(`out\.Concurrently\(i, func\(ctx context\.Context\) graphql\.Marshaler \{ return innerFunc\(ctx, out\) \}\)`),
		repl: []byte(`out.Values[i] = innerFunc(ctx, out)`),
	},
	{
		name: "deferred groups",
		re:   regexp.MustCompile(`(?m)^(\t)ec\.ProcessDeferredGroup\(graphql\.DeferredGroup\{\n((?:\t\t.*\n)+?)\t\}\)\n`),
		repl: []byte("${1}if len(deferLabelToView) > 0 {\n\tec.ProcessDeferredGroup(graphql.DeferredGroup{\n${2}})\n}\n"),
	},
}

const importPath = `"github.com/cf/identity/internal/gqlexec"`

// ErrNoMatch is returned, wrapped, when a rewrite finds nothing to change.
var ErrNoMatch = errors.New("gqlpatch: nothing to rewrite")

// Counts holds how many places each rewrite changed, by its name.
type Counts map[string]int

// patch returns src with every rewrite applied and the gqlexec import
// added, formatted, with the count of places each rewrite changed. src
// that was patched already is returned as it is.
func patch(src []byte) ([]byte, Counts, error) {
	if bytes.Contains(src, []byte(importPath)) {
		return src, nil, nil
	}
	counts := Counts{}
	out := src
	for _, rw := range rewrites {
		n := len(rw.re.FindAllIndex(out, -1))
		if n == 0 {
			return nil, nil, fmt.Errorf("%w: no %s (did gqlgen's templates change?)", ErrNoMatch, rw.name)
		}
		counts[rw.name] = n
		out = rw.re.ReplaceAll(out, rw.repl)
	}
	imp := regexp.MustCompile(`(?m)^import \(\n`)
	loc := imp.FindIndex(out)
	if loc == nil {
		return nil, nil, fmt.Errorf("%w: no import block", ErrNoMatch)
	}
	out = append(out[:loc[1]:loc[1]], append([]byte("\t"+importPath+"\n"), out[loc[1]:]...)...)
	formatted, err := format.Source(out)
	if err != nil {
		return nil, nil, fmt.Errorf("gqlpatch: the rewritten source does not parse: %w", err)
	}
	return formatted, counts, nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gqlpatch path/to/generated.go")
		os.Exit(2)
	}
	path := os.Args[1]
	src, err := os.ReadFile(path) //nolint:gosec // the file go generate names
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, _, err := patch(src)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
		os.Exit(1)
	}
	if bytes.Equal(out, src) {
		return
	}
	if err := os.WriteFile(path, out, 0o644); err != nil { //nolint:gosec // generated source, world-readable like the rest of the tree
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
