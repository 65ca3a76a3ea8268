// Package adminapi is a typed Go client for the GraphQL admin API of cf
// identity, for services that call a running server over HTTP (a Go
// program in the same process uses the ent client and the domain
// packages instead).
//
// New returns a client that sends an API key (or an access token) the way
// the server expects it; the generated functions (Viewer,
// OrganizationMembers, Invite, Ban, Unban, Sessions, RevokeSession) take
// it, a context and the operation's variables, and return a response whose
// fields are exactly those the operation selects. Code tells which error
// the server answered (NOT_FOUND, FORBIDDEN, UNAUTHENTICATED, ...).
//
// The operations are in operations.graphql, checked against the server's
// schema (graph/*.graphql) by genqlient when generated.go is generated; to
// add one, write it there and run go generate ./... from the module root.
package adminapi

//go:generate go tool genqlient
