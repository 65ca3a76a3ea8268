//go:build ignore

// entc.go generates the ent client and the entgql GraphQL schema
// (graph/ent.graphql) from ent/schema. Run `go generate` in the module root.
package main

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"entgo.io/contrib/entgql"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"github.com/vektah/gqlparser/v2/ast"
)

func main() {
	ex, err := entgql.NewExtension(
		entgql.WithSchemaGenerator(),
		entgql.WithSchemaPath("graph/ent.graphql"),
		entgql.WithConfigPath("gqlgen.yml"),
		entgql.WithWhereInputs(true),
		entgql.WithNodeDescriptor(false),
		entgql.WithSchemaHook(dropBuiltinScalars),
	)
	if err != nil {
		log.Fatalf("creating entgql extension: %v", err)
	}
	templates := append(entgql.AllTemplates,
		gen.MustParse(gen.NewTemplate("pulid").ParseFiles("ent/template/pulid.tmpl")),
		gen.MustParse(gen.NewTemplate("txkey").ParseFiles("ent/template/txkey.tmpl")),
	)
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:    "ent",
		Package:   "github.com/cf/identity/ent",
		Templates: templates,
		Hooks:     []gen.Hook{applyPatches},
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureIntercept,
			gen.FeatureEntQL,
			gen.FeatureSnapshot,
			gen.FeatureVersionedMigration,
			gen.FeatureUpsert,
			gen.FeatureLock,
			gen.FeatureExecQuery,
			gen.FeatureModifier,
		},
	}, entc.Extensions(ex))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}

// dropBuiltinScalars removes scalar declarations that entgql emits in an
// order that depends on the schema; graph/scalars.graphql declares them once.
func dropBuiltinScalars(_ *gen.Graph, s *ast.Schema) error {
	for _, name := range []string{"Time", "Map", "JSON"} {
		if t, ok := s.Types[name]; ok && t.Kind == ast.Scalar {
			delete(s.Types, name)
		}
	}
	return nil
}

// patches are the lines of the generated GraphQL code that ent/entc.go
// rewrites after generation, each with why. Generation fails when a line is
// not found, so each patch is looked at again on an entgql upgrade.
var patches = []struct {
	file, from, to, why string
}{
	{
		"gql_collection.go",
		"if v, ok := args[whereField]; ok && whereInput != nil {",
		"if v, ok := args[whereField]; ok && v != nil && whereInput != nil {",
		"entgql v0.7.0 hands a nested connection's `where: null` to gqlgen's input unmarshaler, which panics on a nil value (the query fails as an internal error); with the patch a null filter means no filter, as on a root connection",
	},
	{
		"gql_pagination.go",
		"if hasCollectedField(ctx, totalCountField) || hasCollectedField(ctx, pageInfoField) {",
		"if hasCollectedField(ctx, totalCountField) || ignoredEdges && hasCollectedField(ctx, pageInfoField) {",
		"entgql counts every row of a connection when pageInfo is asked for, although the page's own extra row answers hasNextPage; with the patch a COUNT runs only for totalCount (or pageInfo without edges), so a feed's page costs one statement",
	},
}

// applyPatches rewrites the generated files as patches says.
func applyPatches(next gen.Generator) gen.Generator {
	return gen.GenerateFunc(func(g *gen.Graph) error {
		if err := next.Generate(g); err != nil {
			return err
		}
		for _, p := range patches {
			path := filepath.Join(g.Target, p.file)
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if !bytes.Contains(src, []byte(p.from)) {
				return fmt.Errorf("patch of %s: the line to patch is gone (%s): check the entgql upgrade", path, p.why)
			}
			if err := os.WriteFile(path, bytes.ReplaceAll(src, []byte(p.from), []byte(p.to)), 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}
