package stats

import (
	"context"
	"fmt"
	"time"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/apikey"
	"github.com/cf/identity/ent/organization"
	"github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/permission"
)

// PlatformFigures holds the figures of the whole platform.
type PlatformFigures struct {
	// At is the instant the figures are relative to ("now").
	At time.Time
	// UsersByStatus counts the users that are not deleted, per lifecycle
	// status: every status in the order of the schema (pending, active,
	// suspended, disabled, archived), zero included.
	UsersByStatus []StatusCount
	// BannedUsers counts the users (not deleted) with a ban in force:
	// banned_at set, and no ban_expires_at or one after At.
	BannedUsers int
	// LockedUsers counts the users (not deleted) locked out after failed
	// sign-ins: locked_until after At.
	LockedUsers int
	// ActiveSessions counts the sessions that are not revoked and whose
	// absolute and idle expiries are both after At.
	ActiveSessions int
	// Organizations counts the organizations that are not deleted,
	// whatever their status.
	Organizations int
	// ActiveAPIKeys counts the API keys, personal and organization ones,
	// that are not revoked and have no expiry or one after At.
	ActiveAPIKeys int
	// SignIns24h and SignIns7d count the activities with SignInVerb of
	// the 24 hours and 7 days before At.
	SignIns24h, SignIns7d int
	// Activities24h and Activities7d count the activities of every
	// organization and of none of the 24 hours and 7 days before At.
	Activities24h, Activities7d int
	// From and To are the range [From, To) of NewUsersPerDay.
	From, To time.Time
	// NewUsersPerDay counts the users (not deleted) created in [From,
	// To) per UTC day, oldest first; days without new users are left out.
	NewUsersPerDay []DayCount
}

// Platform returns the figures of the whole platform, with the new users
// per UTC day of [from, to) (see Range for the defaults and limits). The
// actor of ctx needs platform:stats_read (held by every platform role,
// and in effect only while the request acts across organizations), or is
// the system; otherwise Platform returns a *DeniedError.
//
// It costs nine SQL statements: users grouped by status, banned users,
// locked users, sessions, organizations, API keys, activities of the last
// 7 days and of the last 24 hours grouped by verb, and new users grouped
// by day.
func Platform(ctx context.Context, client *ent.Client, from, to time.Time) (*PlatformFigures, error) {
	g, err := grants(ctx)
	if err != nil {
		return nil, err
	}
	if !g.IsSystem() {
		if ok, why := g.PlatformCan(permission.PlatformStatsRead); !ok {
			return nil, &DeniedError{Of: "platform statistics", Permission: permission.PlatformStatsRead, Reason: why}
		}
	}
	now := time.Now().UTC()
	if from, to, err = Range(now, from, to); err != nil {
		return nil, err
	}
	p := &PlatformFigures{At: now, From: from, To: to}
	sys := system(ctx)
	// Explicit, besides the soft-delete interceptor: that one lets deleted
	// rows through for a ctx from softdelete.IncludeDeleted.
	live := user.DeletedAtIsNil()

	var byStatus []statusRow
	if err := client.User.Query().Where(live).
		GroupBy(user.FieldStatus).Aggregate(count).Scan(sys, &byStatus); err != nil {
		return nil, fmt.Errorf("stats: counting users: %w", err)
	}
	p.UsersByStatus = statuses([]user.Status{user.StatusPending, user.StatusActive, user.StatusSuspended, user.StatusDisabled, user.StatusArchived}, byStatus)

	counts := []struct {
		what string
		n    *int
		q    interface {
			Count(context.Context) (int, error)
		}
	}{
		{"banned users", &p.BannedUsers, client.User.Query().Where(live, user.BannedAtNotNil(),
			user.Or(user.BanExpiresAtIsNil(), user.BanExpiresAtGT(now)))},
		{"locked users", &p.LockedUsers, client.User.Query().Where(live, user.LockedUntilGT(now))},
		{"sessions", &p.ActiveSessions, client.Session.Query().Where(session.RevokedAtIsNil(),
			session.ExpiresAtGT(now), session.IdleExpiresAtGT(now))},
		{"organizations", &p.Organizations, client.Organization.Query().Where(organization.DeletedAtIsNil())},
		{"API keys", &p.ActiveAPIKeys, client.APIKey.Query().Where(apikey.RevokedAtIsNil(),
			apikey.Or(apikey.ExpiresAtIsNil(), apikey.ExpiresAtGT(now)))},
	}
	for _, c := range counts {
		if *c.n, err = c.q.Count(sys); err != nil {
			return nil, fmt.Errorf("stats: counting %s: %w", c.what, err)
		}
	}

	for _, w := range []struct {
		since              time.Time
		activities, signIn *int
	}{
		{now.Add(-7 * 24 * time.Hour), &p.Activities7d, &p.SignIns7d},
		{now.Add(-24 * time.Hour), &p.Activities24h, &p.SignIns24h},
	} {
		var rows []verbRow
		if err := client.Activity.Query().Where(activity.CreatedAtGTE(w.since)).
			GroupBy(activity.FieldVerb).Aggregate(count).Scan(sys, &rows); err != nil {
			return nil, fmt.Errorf("stats: counting activities: %w", err)
		}
		for _, r := range rows {
			*w.activities += r.Count
			if r.Verb == SignInVerb {
				*w.signIn += r.Count
			}
		}
	}

	var perDay []dayRow
	if err := client.User.Query().Where(live, user.CreatedAtGTE(from), user.CreatedAtLT(to), groupByDay).
		Aggregate(selectDay, count).Scan(sys, &perDay); err != nil {
		return nil, fmt.Errorf("stats: counting new users: %w", err)
	}
	p.NewUsersPerDay = days(sumDays(perDay))
	return p, nil
}
