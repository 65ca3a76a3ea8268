// Package stats counts what the platform and its organizations hold and
// do: users by lifecycle status, bans and locks, sessions, API keys,
// members per status and role, pending invitations, sign-ins and the
// activity trail per verb and per UTC day.
//
// Each function authorizes the actor of ctx first, from its grants
// (authz.NewContext), and only then counts: as the system actor, with
// explicit tenant predicates, so that per-row policies do not distort the
// figures. The one exception is Activity without an organization for an
// actor that does not read platform statistics: it counts through the
// ordinary privacy-filtered query, so that the caller gets the figures of
// exactly the rows it may read.
//
// The figures come from a small, fixed number of set-based SQL statements
// (COUNT and GROUP BY on indexed columns, see each function), whatever the
// number of rows. They are not a snapshot: each statement sees the data as
// of its own start.
//
// A refusal is one of:
//
//   - a *DeniedError (it matches ErrDenied and privacy.Deny) when the
//     caller lacks a permission: GraphQL answers FORBIDDEN;
//   - a *NotFoundError (ent.IsNotFound reports true) for an organization
//     that does not exist, is deleted, or that the caller does not belong
//     to: the three are answered alike, so that nobody learns which
//     organizations exist; GraphQL answers NOT_FOUND;
//   - a *validation.Error for a bad argument: a malformed organization ID,
//     or a time range that is empty (ErrEmptyRange) or longer than
//     MaxRange (ErrRangeTooLong); GraphQL answers BAD_USER_INPUT.
package stats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/organization"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/validation"
)

// Limits of a time range.
const (
	// DefaultRange is the range when from is zero: the DefaultRange before
	// to (to defaults to now).
	DefaultRange = 30 * 24 * time.Hour
	// MaxRange is the longest range accepted: 366 days.
	MaxRange = 366 * 24 * time.Hour
)

// SignInVerb is the verb of the activity counted as a sign-in: package
// session records it when a password sign-in opens a session.
// Impersonations (user.impersonation_started) and refreshes are not
// sign-ins.
const SignInVerb = "session.created"

// Sentinels of the package.
var (
	// ErrDenied is matched by every *DeniedError.
	ErrDenied = errors.New("stats: not allowed")
	// ErrEmptyRange is matched by the *validation.Error of a range whose
	// from is not before its to.
	ErrEmptyRange = errors.New("stats: from must be before to")
	// ErrRangeTooLong is matched by the *validation.Error of a range
	// longer than MaxRange.
	ErrRangeTooLong = errors.New("stats: the range is longer than 366 days")
)

// DeniedError refuses statistics to a caller that lacks a permission. It
// matches ErrDenied and privacy.Deny; its message ends as those of the
// privacy policies do, so that GraphQL shows its reason.
type DeniedError struct {
	// Of names the statistics asked for ("platform statistics", ...).
	Of string
	// Permission is the permission that is missing.
	Permission string
	// OrganizationID is the organization it is missing in; empty for a
	// platform permission.
	OrganizationID pulid.ID
	// Reason says why the caller does not hold it, in authz's words.
	Reason string
}

func (e *DeniedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s need %s", e.Of, e.Permission)
	if e.OrganizationID != "" {
		fmt.Fprintf(&b, " in organization %s", e.OrganizationID)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, " (%s)", e.Reason)
	}
	return b.String() + ": " + privacy.Deny.Error()
}

// Unwrap returns privacy.Deny.
func (e *DeniedError) Unwrap() error { return privacy.Deny }

// Is reports whether target is ErrDenied.
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

// NotFoundError answers a request for the statistics of an organization
// that does not exist, is deleted, or that the caller does not belong to.
// It wraps the *ent.NotFoundError of the organization (ent.IsNotFound
// reports true), the same in all three cases.
type NotFoundError struct {
	OrganizationID pulid.ID
	err            error
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("stats: organization %s: %v", e.OrganizationID, e.err)
}

// Unwrap returns the *ent.NotFoundError.
func (e *NotFoundError) Unwrap() error { return e.err }

// StatusCount is the number of rows with one status.
type StatusCount struct {
	Status string
	Count  int
}

// DayCount is the number of rows of one UTC day.
type DayCount struct {
	// Day is the UTC day, YYYY-MM-DD.
	Day   string
	Count int
}

// VerbCount is the number of activities with one verb.
type VerbCount struct {
	Verb  string
	Count int
}

// RoleCount is the number of members holding one role.
type RoleCount struct {
	RoleID pulid.ID
	Key    string
	Name   string
	// Level is the role's hierarchy level.
	Level int
	Count int
}

// Range returns the range [from, to) that a function of the package
// counts for the arguments from and to, in UTC: a zero to is now, a zero
// from is DefaultRange before to. A from not before to is a
// *validation.Error for field "to" (ErrEmptyRange); a range longer than
// MaxRange is one for field "from" (ErrRangeTooLong).
func Range(now, from, to time.Time) (time.Time, time.Time, error) {
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.Add(-DefaultRange)
	}
	from, to = from.UTC(), to.UTC()
	switch {
	case !from.Before(to):
		return time.Time{}, time.Time{}, &validation.Error{Field: "to", Err: ErrEmptyRange,
			Reason: fmt.Sprintf("must be after from (%s), got %s", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))}
	case to.Sub(from) > MaxRange:
		return time.Time{}, time.Time{}, &validation.Error{Field: "from", Err: ErrRangeTooLong,
			Reason: fmt.Sprintf("the range from %s to %s spans %.1f days, at most 366 are allowed: move from later or to earlier",
				from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), to.Sub(from).Hours()/24)}
	}
	return from, to, nil
}

// system returns ctx acting as the system, for the counting statements
// that run once the caller is authorized.
func system(ctx context.Context) context.Context {
	return actor.NewContext(ctx, actor.System("stats"))
}

// grants returns the grants of the actor of ctx, or a denial: no actor
// (GraphQL: UNAUTHENTICATED) or grants not loaded.
func grants(ctx context.Context) (*authz.Grants, error) {
	if actor.FromContext(ctx) == nil {
		return nil, fmt.Errorf("stats: %w: no actor on the context", privacy.Deny)
	}
	g, ok := authz.FromContext(ctx)
	if !ok {
		return nil, fmt.Errorf("stats: %w: %w", privacy.Deny, authz.ErrNotLoaded)
	}
	return g, nil
}

// inOrganization authorizes the actor of ctx for the statistics of org
// (named field among the arguments) that need perms there, and checks
// that org exists. A caller that does not belong to org (nor reaches it
// through a platform role) gets the *NotFoundError of an unknown ID; a
// member lacking one of perms gets a *DeniedError.
func inOrganization(ctx context.Context, client *ent.Client, of, field string, org pulid.ID, perms ...string) error {
	switch {
	case org == "":
		return validation.Errorf(field, "required")
	case org.Prefix() != "org":
		return validation.Errorf(field, "want an organization ID (org_...)")
	}
	g, err := grants(ctx)
	if err != nil {
		return err
	}
	for _, p := range perms {
		ok, why := g.Can(p, org)
		if ok {
			continue
		}
		if g.In(org) == nil {
			// Not a member (or acting in another organization): the
			// organization as the caller sees it, which is not found,
			// exactly as an unknown ID.
			_, err := client.Organization.Query().Where(organization.ID(org)).OnlyID(ctx)
			if err == nil {
				return &DeniedError{Of: of, Permission: p, OrganizationID: org, Reason: why}
			}
			return notFound(org, err)
		}
		return &DeniedError{Of: of, Permission: p, OrganizationID: org, Reason: why}
	}
	// Platform staff hold the permissions in any organization, and so
	// does the system: the organization must exist.
	_, err = client.Organization.Query().Where(organization.ID(org), organization.DeletedAtIsNil()).OnlyID(system(ctx))
	return notFound(org, err)
}

func notFound(org pulid.ID, err error) error {
	switch {
	case err == nil:
		return nil
	case ent.IsNotFound(err):
		return &NotFoundError{OrganizationID: org, err: err}
	}
	return fmt.Errorf("stats: looking up organization %s: %w", org, err)
}

// dayExpr returns the SQL expression of the UTC day of time column col
// (qualified), as YYYY-MM-DD, and the expression to group by for it.
// PostgreSQL groups by date_trunc (cheaper than formatting every row) and
// formats each group; SQLite parses its stored text, offset included, with
// strftime, which yields the UTC day.
func dayExpr(d, col string) (sel, group string, err error) {
	switch d {
	case dialect.Postgres:
		group = "date_trunc('day', " + col + " AT TIME ZONE 'UTC')"
		return "to_char(" + group + ", 'YYYY-MM-DD')", group, nil
	case dialect.SQLite:
		sel = "strftime('%Y-%m-%d', " + col + ")"
		return sel, sel, nil
	}
	return "", "", fmt.Errorf("stats: per-day counts are not supported on %s", d)
}

// groupByDay is a predicate that groups the rows of a query by the UTC day
// of their created_at; select the day with selectDay. (A predicate,
// because ent's GroupBy groups by columns only.)
func groupByDay(s *sql.Selector) {
	_, group, err := dayExpr(s.Dialect(), s.C("created_at"))
	if err != nil {
		s.AddError(err)
		return
	}
	s.GroupBy(group)
}

// selectDay is the aggregation selecting the day grouped by groupByDay,
// as column "day".
func selectDay(s *sql.Selector) string {
	sel, _, err := dayExpr(s.Dialect(), s.C("created_at"))
	if err != nil {
		s.AddError(err)
		return "NULL"
	}
	return sql.As(sel, "day")
}

// count is the aggregation COUNT(*) as column "count".
var count = ent.As(ent.Count(), "count")

type dayRow struct {
	Day   string `sql:"day"`
	Count int    `sql:"count"`
}

// days returns the counts of perDay (day to count) oldest first, leaving
// out days without rows.
func days(perDay map[string]int) []DayCount {
	out := make([]DayCount, 0, len(perDay))
	for d, n := range perDay {
		if n > 0 {
			out = append(out, DayCount{Day: d, Count: n})
		}
	}
	slices.SortFunc(out, func(a, b DayCount) int { return strings.Compare(a.Day, b.Day) })
	return out
}

type statusRow struct {
	Status string `sql:"status"`
	Count  int    `sql:"count"`
}

// statuses returns a count for every status of all, in that order, zero
// for those without rows, followed by any other status found in rows (a
// value added to the schema later), in order.
func statuses[S ~string](all []S, rows []statusRow) []StatusCount {
	out := make([]StatusCount, len(all))
	for i, s := range all {
		out[i].Status = string(s)
	}
	var extra []StatusCount
	for _, r := range rows {
		i := slices.IndexFunc(all, func(s S) bool { return string(s) == r.Status })
		if i < 0 {
			extra = append(extra, StatusCount{Status: r.Status, Count: r.Count})
			continue
		}
		out[i].Count += r.Count
	}
	slices.SortFunc(extra, func(a, b StatusCount) int { return strings.Compare(a.Status, b.Status) })
	return append(out, extra...)
}

type verbRow struct {
	Verb  string `sql:"verb"`
	Count int    `sql:"count"`
}

// verbs returns the counts of perVerb (verb to count), the most frequent
// first (ties by verb), and their total.
func verbs(perVerb map[string]int) ([]VerbCount, int) {
	out := make([]VerbCount, 0, len(perVerb))
	total := 0
	for v, n := range perVerb {
		out = append(out, VerbCount{Verb: v, Count: n})
		total += n
	}
	slices.SortFunc(out, func(a, b VerbCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Verb, b.Verb)
	})
	return out, total
}

func sumDays(rows []dayRow) map[string]int {
	m := make(map[string]int, len(rows))
	for _, r := range rows {
		m[r.Day] += r.Count
	}
	return m
}
