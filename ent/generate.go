// Package ent holds the ent client generated from ent/schema.
//
// Everything in this directory but schema/, template/, entc.go and
// generate.go is generated: change the schema and run `go generate ./...`
// from the module root.
package ent
