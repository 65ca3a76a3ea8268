// Package ent holds the ent client generated from ent/schema.
//
// Everything in this directory but schema/, template/, entc.go and
// generate.go is generated: change the schema and run `go generate ./...`
// from the module root.
//
// The schema's hooks and policies import generated packages (ent, ent/hook,
// ent/intercept, ent/privacy), so generation needs the committed generated
// code to compile. A change that breaks it (removing a field a hook uses,
// say) is made in two steps: first make the hook stop using it and
// regenerate, then change the schema and regenerate again.
package ent
