// Package crosstenant holds the cross-tenant proof suite of the identity
// model; the package itself is empty.
//
// Its test builds two organizations, A (with a child organization) and B,
// with owners, admins, members and viewers, a user of both, custom roles,
// organization and personal keys, sessions, OAuth accounts, preferences and
// the activity trail those writes record (through the client and through
// GraphQL), and then generates its cases mechanically:
//
//   - through GraphQL, from the served schema: every root connection with
//     every field of its where input filled with A's values, every order
//     field in both directions and A's cursors, every edge of every entity
//     two levels deep with totalCount, edge filters (hasX, hasXWith) aimed
//     at rows outside A that are linked to A's rows, and in nested
//     connections, node and nodes for every ID of A, viewer, can for every
//     permission, X-Organization-ID, and every mutation of the schema aimed
//     at A (a mutation without cases fails the suite);
//   - through the ent client, by reflection over every entity: All, Count,
//     IDs, Exist, Get, Noder, Select, GroupBy, Aggregate, a filter on every
//     column with A's value, every eager load and every edge traversal (from
//     all rows, from A's rows, and from the client with A's rows), edge
//     predicates, updates and deletes of A's rows (one and bulk) and of every
//     row, creates aimed at A and every edge write method of the update
//     builders.
//
// Each case runs as B's member, B's owner, B's organization key, a personal
// key of B's member narrowed to member:read, a platform support user, a
// platform superadmin acting in B (X-Organization-ID, actor.WithOrganization:
// the active organization restricts every actor), the member of A and B
// acting in B (its own rows of A, a membership and a session, must be out of
// its reach) and an anonymous caller, on SQLite and (with
// IDENTITY_TEST_POSTGRES_URL) PostgreSQL. Self-service cases run as the
// narrow key: writes of its owner's own rows that member:read does not cover
// (leaving, revoking its sessions and keys, its profile, its preferences)
// must change nothing; and minting a personal key with a scope its owner
// does not hold is refused with authz.ErrExceedsOwn. A leak is any of:
//
//   - an ID or string of A in what a caller gets back, data or errors
//     (support excepted for reads; errors may echo what the caller sent);
//   - an answer that changes when A's IDs and strings in the request are
//     replaced by unknown ones (an oracle on A's data: existence, links);
//   - a totalCount that counts rows the caller does not get;
//   - a change of A's rows, or a new reference to them, in the database:
//     GraphQL mutations must leave it as it was, client writes run in a
//     transaction that is compared row by row and rolled back.
//
// On PostgreSQL, with IDENTITY_TEST_ROW_SECURITY=1 (CI sets it),
// TestCrossTenantRowSecurity runs the whole suite twice more, connected as
// an application role subject to row-level security (testdb.AppRole): with
// the ent policies on (the same answers), and with them switched off
// (rule.DisablePoliciesForTest), where row-level security alone must keep
// every case free of leaks, the Go edge predicates through subqueries
// included (those that read a foreign key of the row itself stay
// documented); answers that differ from the policies' without a leak (a
// write matching nothing instead of privacy.Deny) are listed, by kind.
//
// A platform superadmin runs the read cases as a positive control: each
// must return the A row it aims at, so that a generator that builds filters
// matching nothing cannot pass; floors on the number of cases per channel
// do the same for a generator that stops producing cases.
//
//	go test ./internal/crosstenant/ -v
package crosstenant
