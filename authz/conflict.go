package authz

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of concurrent writes.
var (
	// ErrConcurrentUpdate is returned when a write lost a race with another
	// transaction: PostgreSQL chose it as the victim of a deadlock or a
	// serialization failure, a lock could not be taken, or SQLite stayed
	// busy past its timeout. The transaction was rolled back, so nothing of
	// the write was applied; running it again is safe. GraphQL answers it
	// with code CONFLICT.
	ErrConcurrentUpdate = errors.New("authz: a concurrent change got in the way; nothing was changed, try again")

	// ErrNeedsTx is returned for a write through the ent client that runs
	// outside a transaction while one of the schema's guards can only hold
	// inside one: removing roles from a membership (a member keeps a
	// role), taking ownership away from an owner (an organization keeps an
	// owner), and deleting a role (only when nobody holds it). The guards
	// lock the rows they read, and a lock lasts until the end of the
	// transaction. Run such writes in client.Tx (the functions of package
	// tenancy and the GraphQL API always do).
	ErrNeedsTx = errors.New("authz: this change must run in a transaction (ent Client.Tx) so that its checks hold against concurrent writers")
)

// Concurrent returns err wrapped with ErrConcurrentUpdate when it is a
// database error that means "another transaction got in the way"
// (PostgreSQL 40001 serialization_failure, 40P01 deadlock_detected, 55P03
// lock_not_available; SQLite SQLITE_BUSY and SQLITE_LOCKED), and err
// unchanged otherwise (nil included).
func Concurrent(err error) error {
	if err == nil || errors.Is(err, ErrConcurrentUpdate) || !retryable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrConcurrentUpdate, err)
}

func retryable(err error) bool {
	// pgconn.PgError (and lib/pq's Error) report their SQLSTATE this way.
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		switch pg.SQLState() {
		case "40001", "40P01", "55P03":
			return true
		}
		return false
	}
	// go-sqlite3 reports SQLITE_BUSY and SQLITE_LOCKED with SQLite's own
	// texts for the two codes (sqlite3_errstr); this package does not
	// import the cgo driver to compare codes.
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		if strings.HasPrefix(msg, "database is locked") || strings.HasPrefix(msg, "database table is locked") {
			return true
		}
	}
	return false
}
