//go:build ignore

// entc.go generates the ent client and the entgql GraphQL schema
// (graph/ent.graphql) from ent/schema. Run `go generate` in the module root.
package main

import (
	"log"

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
