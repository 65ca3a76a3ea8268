// Package identity is the root of cf identity, the identity and access
// domain of a multi-tenant SaaS: an ent schema of cf_-prefixed entities with
// privacy policies, versioned migrations for SQLite and PostgreSQL, and a
// GraphQL admin API.
//
// Start with package storage (open a client), package actor (say who acts),
// package migrations (apply the schema) and the generated package ent.
//
// Code generation runs from the module root, in this order: ent (with the
// entgql extension, which writes graph/ent.graphql), then gqlgen, then
// internal/gqlpatch, which makes gqlgen's executor resolve fields one after
// another (see the README's Performance section).
package identity

//go:generate go run -mod=mod ./ent/entc.go
//go:generate go tool gqlgen
//go:generate go run ./internal/gqlpatch graph/generated/generated.go
