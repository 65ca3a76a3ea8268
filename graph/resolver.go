// Package graph serves the GraphQL admin API: the schema (ent.graphql from
// entgql plus the hand-written *.graphql files), thin resolvers that call the
// ent client, error presentation and HTTP wiring.
package graph

import (
	"github.com/cf/identity/ent"
)

// Resolver is the root resolver. Resolvers run inside the request's
// transaction (entgql.Transactioner) and reach the database only through
// ent.FromContext(ctx) in mutations, or the client in queries.
type Resolver struct {
	client *ent.Client
}
