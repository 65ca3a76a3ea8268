package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The shapes below are what gqlgen v0.17.94 writes for an object with a
// concurrent field and a list of objects.
const (
	header = "package generated\n\nimport (\n\t\"context\"\n\n\t\"github.com/99designs/gqlgen/graphql\"\n)\n\n"
	list   = "func (ec *executionContext) marshalList(ctx context.Context, v []int) graphql.Marshaler {\n\tret := graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, func(ctx context.Context, i int) graphql.Marshaler {\n\t\treturn nil\n\t})\n\treturn ret\n}\n"
	field  = "func (ec *executionContext) _T(ctx context.Context, out *graphql.FieldSet, innerFunc func(context.Context, *graphql.FieldSet) graphql.Marshaler) {\n\tfor i := range out.Values {\n\t\tout.Concurrently(i, func(ctx context.Context) graphql.Marshaler { return innerFunc(ctx, out) })\n\t}\n}\n"
	defers = "func (ec *executionContext) _U(ctx context.Context, deferLabelToView map[string]*graphql.FieldSetView, deferredFieldSet *graphql.FieldSet) {\n\tec.ProcessDeferredGroup(graphql.DeferredGroup{\n\t\tDefers:   deferLabelToView,\n\t\tPath:     graphql.GetPath(ctx),\n\t\tFieldSet: deferredFieldSet,\n\t\tContext:  ctx,\n\t})\n\n\treturn\n}\n"
)

func TestPatch(t *testing.T) {
	cases := []struct {
		name    string
		src     string
		golden  string // testdata/<golden>.golden; empty when an error is wanted
		counts  Counts
		wantErr error
	}{
		{"all three", header + list + field + defers, "all", Counts{"concurrent lists": 1, "concurrent fields": 1, "deferred groups": 1}, nil},
		{"no list", header + field + defers, "", nil, ErrNoMatch},
		{"no concurrent field", header + list + defers, "", nil, ErrNoMatch},
		{"no deferred group", header + list + field, "", nil, ErrNoMatch},
		{"no import block", "package generated\n\n" + list + field + defers, "", nil, ErrNoMatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, counts, err := patch([]byte(c.src))
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			if c.wantErr != nil {
				return
			}
			for k, n := range c.counts {
				if counts[k] != n {
					t.Errorf("%s: %d rewrites, want %d", k, counts[k], n)
				}
			}
			path := filepath.Join("testdata", c.golden+".golden")
			if os.Getenv("UPDATE_GOLDEN") != "" {
				if err := os.WriteFile(path, got, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("patched source differs from %s:\n%s", path, got)
			}
			// Patching patched source changes nothing.
			again, _, err := patch(got)
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("second patch: err %v, changed %v", err, !bytes.Equal(again, got))
			}
		})
	}
}

// TestGeneratedIsPatched fails when graph/generated/generated.go holds
// gqlgen's output without the rewrites (go generate was run without
// gqlpatch, or gqlpatch was dropped from it).
func TestGeneratedIsPatched(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "graph", "generated", "generated.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rw := range rewrites {
		if n := len(rw.re.FindAllIndex(src, -1)); n != 0 {
			t.Errorf("%s: %d places not rewritten", rw.name, n)
		}
	}
	if !bytes.Contains(src, []byte(importPath)) {
		t.Errorf("generated.go does not import %s", importPath)
	}
}
