// Package softdelete controls how queries and deletes treat soft-deleted rows
// (users and organizations).
//
// By default a query does not see rows whose deleted_at is set, and a delete
// sets deleted_at instead of removing the row. A context from IncludeDeleted
// sees them; a context from Purge removes rows for real (privacy policies
// still apply).
package softdelete

import "context"

type includeKey struct{}
type purgeKey struct{}

// IncludeDeleted returns a context whose queries also return soft-deleted rows.
func IncludeDeleted(parent context.Context) context.Context {
	return context.WithValue(parent, includeKey{}, true)
}

// Purge returns a context whose deletes remove rows instead of marking them.
func Purge(parent context.Context) context.Context {
	return context.WithValue(parent, purgeKey{}, true)
}

// Included reports whether ctx asks for soft-deleted rows.
func Included(ctx context.Context) bool {
	v, _ := ctx.Value(includeKey{}).(bool)
	return v
}

// Purging reports whether ctx asks deletes to remove rows.
func Purging(ctx context.Context) bool {
	v, _ := ctx.Value(purgeKey{}).(bool)
	return v
}

type tombstoneKey struct{}

// WithTombstones returns a context whose preference queries also return
// deleted preferences, which package preference keeps as tombstones (value
// null) so that a key's version keeps growing. Other entities are not
// affected.
func WithTombstones(parent context.Context) context.Context {
	return context.WithValue(parent, tombstoneKey{}, true)
}

// Tombstones reports whether ctx asks for preference tombstones (or for
// every deleted row, see IncludeDeleted).
func Tombstones(ctx context.Context) bool {
	v, _ := ctx.Value(tombstoneKey{}).(bool)
	return v || Included(ctx)
}
