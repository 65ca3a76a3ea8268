package graph

import (
	"time"

	"github.com/cf/identity/graph/model"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/stats"
)

// The resolvers of platformStats, organizationStats and activityStats are
// one-line calls of package stats; these helpers turn its figures into the
// GraphQL models and pass its errors through, for PresentError to map.

// timeOrZero returns *t, or the zero time (package stats' default) for
// an argument left out.
func timeOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// orgOrAll returns *id, or "" (every organization the caller may read)
// for an argument left out.
func orgOrAll(id *pulid.ID) pulid.ID {
	if id == nil {
		return ""
	}
	return *id
}

func platformStatsModel(p *stats.PlatformFigures, err error) (*model.PlatformStats, error) {
	if err != nil {
		return nil, err
	}
	return &model.PlatformStats{
		UsersByStatus:  statusCounts(p.UsersByStatus),
		BannedUsers:    p.BannedUsers,
		LockedUsers:    p.LockedUsers,
		ActiveSessions: p.ActiveSessions,
		Organizations:  p.Organizations,
		ActiveAPIKeys:  p.ActiveAPIKeys,
		SignIns24h:     p.SignIns24h,
		SignIns7d:      p.SignIns7d,
		Activities24h:  p.Activities24h,
		Activities7d:   p.Activities7d,
		NewUsersPerDay: dayCounts(p.NewUsersPerDay),
	}, nil
}

func organizationStatsModel(o *stats.OrganizationFigures, err error) (*model.OrganizationStats, error) {
	if err != nil {
		return nil, err
	}
	roles := make([]*model.RoleCount, len(o.MembersByRole))
	for i, r := range o.MembersByRole {
		roles[i] = &model.RoleCount{RoleID: r.RoleID, Key: r.Key, Name: r.Name, Count: r.Count}
	}
	return &model.OrganizationStats{
		MembersByStatus:    statusCounts(o.MembersByStatus),
		MembersByRole:      roles,
		PendingInvitations: o.PendingInvitations,
		ActiveSessions:     o.ActiveSessions,
		ActiveAPIKeys:      o.ActiveAPIKeys,
		Activities24h:      o.Activities24h,
		Activities7d:       o.Activities7d,
	}, nil
}

// activityStatsModel maps stats.Activity for the activityStats resolver:
//
//	return activityStatsModel(stats.Activity(ctx, r.clientOf(ctx), orgOrAll(organizationID), from, to))
func activityStatsModel(a *stats.ActivityFigures, err error) (*model.ActivityStats, error) {
	if err != nil {
		return nil, err
	}
	byVerb := make([]*model.VerbCount, len(a.ByVerb))
	for i, v := range a.ByVerb {
		byVerb[i] = &model.VerbCount{Verb: v.Verb, Count: v.Count}
	}
	return &model.ActivityStats{Total: a.Total, ByVerb: byVerb, ByDay: dayCounts(a.ByDay)}, nil
}

func statusCounts(in []stats.StatusCount) []*model.StatusCount {
	out := make([]*model.StatusCount, len(in))
	for i, s := range in {
		out[i] = &model.StatusCount{Status: s.Status, Count: s.Count}
	}
	return out
}

func dayCounts(in []stats.DayCount) []*model.DayCount {
	out := make([]*model.DayCount, len(in))
	for i, d := range in {
		out[i] = &model.DayCount{Day: d.Day, Count: d.Count}
	}
	return out
}
