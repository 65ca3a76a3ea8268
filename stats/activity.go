package stats

import (
	"context"
	"fmt"
	"time"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/predicate"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
)

// ActivityFigures holds counts of activities in a time range.
type ActivityFigures struct {
	// OrganizationID is the organization counted; empty when the
	// activities of every organization (and of none) the caller may read
	// are.
	OrganizationID pulid.ID
	// From and To are the range [From, To) counted, of the time the
	// activities occurred.
	From, To time.Time
	Total    int
	// ByVerb counts per verb, the most frequent first, ties by verb.
	ByVerb []VerbCount
	// ByDay counts per UTC day, oldest first; days without activities are
	// left out.
	ByDay []DayCount
}

// Activity counts the activities that occurred in [from, to) (see Range),
// in total, per verb and per UTC day, among those the actor of ctx may
// read:
//
//   - with orgID, those of that organization: the actor needs
//     activity:read there (a member lacking it gets a *DeniedError; anyone
//     else, as for an unknown ID, a *NotFoundError);
//   - without (orgID empty), for a platform statistics reader
//     (platform:stats_read across organizations) or the system, every
//     activity; for anyone else the rows the activity privacy policy lets
//     it read (those of its organizations where it holds activity:read,
//     and its own), counted through the privacy-filtered query.
//
// It costs one SQL statement (the activities grouped by verb and day),
// and one more with orgID: the organization's existence.
func Activity(ctx context.Context, client *ent.Client, orgID pulid.ID, from, to time.Time) (*ActivityFigures, error) {
	from, to, err := Range(time.Now().UTC(), from, to)
	if err != nil {
		return nil, err
	}
	where := []predicate.Activity{activity.CreatedAtGTE(from), activity.CreatedAtLT(to)}
	qctx := ctx
	if orgID != "" {
		if err := inOrganization(ctx, client, "activity statistics", "organizationID", orgID, permission.ActivityRead); err != nil {
			return nil, err
		}
		where = append(where, activity.OrganizationID(orgID))
		qctx = system(ctx)
	} else {
		g, err := grants(ctx)
		if err != nil {
			return nil, err
		}
		if g.IsSystem() || g.Platform(permission.PlatformStatsRead) {
			qctx = system(ctx)
		}
	}
	// One pass over the rows, grouped by verb and day: at most (verbs x
	// days) rows come back, which the counts per verb and per day sum up.
	var rows []struct {
		Verb  string `sql:"verb"`
		Day   string `sql:"day"`
		Count int    `sql:"count"`
	}
	if err := client.Activity.Query().Where(append(where, groupByDay)...).
		GroupBy(activity.FieldVerb).Aggregate(selectDay, count).Scan(qctx, &rows); err != nil {
		return nil, fmt.Errorf("stats: counting activities: %w", err)
	}
	perVerb, perDay := map[string]int{}, map[string]int{}
	for _, r := range rows {
		perVerb[r.Verb] += r.Count
		perDay[r.Day] += r.Count
	}
	a := &ActivityFigures{OrganizationID: orgID, From: from, To: to}
	a.ByVerb, a.Total = verbs(perVerb)
	a.ByDay = days(perDay)
	return a, nil
}
