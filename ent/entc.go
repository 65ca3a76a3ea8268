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
	)
	err = entc.Generate("./ent/schema", &gen.Config{
		Target:    "ent",
		Package:   "github.com/cf/identity/ent",
		Templates: templates,
		Hooks:     []gen.Hook{guardNullWhere},
		Features: []gen.Feature{
			gen.FeaturePrivacy,
			gen.FeatureIntercept,
			gen.FeatureEntQL,
			gen.FeatureSnapshot,
			gen.FeatureVersionedMigration,
			gen.FeatureUpsert,
			gen.FeatureLock,
			gen.FeatureExecQuery,
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

// guardNullWhere patches one line of the generated field collection: entgql
// v0.7.0 hands a nested connection's `where: null` to gqlgen's input
// unmarshaler, which panics on a nil value (the query fails as an internal
// error). With the patch a null filter means no filter, as it does on a
// root connection. Generation fails when the upstream line changes, so the
// patch is looked at again on an upgrade.
func guardNullWhere(next gen.Generator) gen.Generator {
	return gen.GenerateFunc(func(g *gen.Graph) error {
		if err := next.Generate(g); err != nil {
			return err
		}
		path := filepath.Join(g.Target, "gql_collection.go")
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		from := []byte("if v, ok := args[whereField]; ok && whereInput != nil {")
		to := []byte("if v, ok := args[whereField]; ok && v != nil && whereInput != nil {")
		if n := bytes.Count(src, from); n != 1 {
			return fmt.Errorf("guardNullWhere: %s holds the line to patch %d times, want 1: check the entgql upgrade", path, n)
		}
		return os.WriteFile(path, bytes.Replace(src, from, to, 1), 0o644)
	})
}
