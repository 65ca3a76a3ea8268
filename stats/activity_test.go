package stats_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/stats"
)

func TestActivityStats(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		acme, beta := e.org(t, "acme"), e.org(t, "beta")
		owner := e.user(t, "owner@example.com", nil)
		m1 := e.user(t, "m1@example.com", nil)
		outsider := e.user(t, "outsider@example.com", nil)
		nobody := e.user(t, "nobody@example.com", nil)
		support := e.user(t, "support@example.com", func(b *ent.UserCreate) { b.SetPlatformRole(user.PlatformRoleSupport) })
		e.member(t, acme, owner, membership.StatusActive, ownerRole)
		e.member(t, acme, m1, membership.StatusActive, memberRole)
		e.member(t, beta, outsider, membership.StatusActive, ownerRole)

		// In [2026-05-01, 2026-05-04): acme 4, beta 2, no organization 2.
		e.act(t, acme, owner, "member.invited", day("2026-04-30T23:59:59Z"))
		e.act(t, acme, owner, "member.invited", day("2026-05-01T00:00:00Z"))
		e.act(t, acme, owner, "member.invited", day("2026-05-01T11:00:00Z"))
		e.act(t, acme, m1, "member.joined", day("2026-05-02T09:00:00Z"))
		e.act(t, acme, m1, stats.SignInVerb, day("2026-05-03T23:59:59.999Z"))
		e.act(t, acme, m1, "member.joined", day("2026-05-04T00:00:00Z"))
		e.act(t, beta, outsider, "member.invited", day("2026-05-02T10:00:00Z"))
		e.act(t, beta, outsider, stats.SignInVerb, day("2026-05-02T11:00:00Z"))
		e.act(t, nil, m1, stats.SignInVerb, day("2026-05-01T08:00:00Z"))
		e.act(t, nil, nil, "user.login_failed", day("2026-05-03T07:00:00Z"))
		from, to := day("2026-05-01T00:00:00Z"), day("2026-05-04T00:00:00Z")

		acmeWant := &stats.ActivityFigures{OrganizationID: acme.ID, From: from, To: to, Total: 4,
			ByVerb: []stats.VerbCount{{Verb: "member.invited", Count: 2}, {Verb: "member.joined", Count: 1}, {Verb: stats.SignInVerb, Count: 1}},
			ByDay:  []stats.DayCount{{Day: "2026-05-01", Count: 2}, {Day: "2026-05-02", Count: 1}, {Day: "2026-05-03", Count: 1}},
		}
		allWant := &stats.ActivityFigures{From: from, To: to, Total: 8,
			ByVerb: []stats.VerbCount{{Verb: "member.invited", Count: 3}, {Verb: stats.SignInVerb, Count: 3}, {Verb: "member.joined", Count: 1}, {Verb: "user.login_failed", Count: 1}},
			ByDay:  []stats.DayCount{{Day: "2026-05-01", Count: 3}, {Day: "2026-05-02", Count: 3}, {Day: "2026-05-03", Count: 2}},
		}
		for _, tt := range []struct {
			name string
			ctx  context.Context
			org  pulid.ID
			want *stats.ActivityFigures
		}{
			{"owner, acme", e.asUser(t, owner), acme.ID, acmeWant},
			{"platform support, acme", e.asUser(t, support), acme.ID, acmeWant},
			{"system, acme", actor.NewContext(context.Background(), actor.System("report")), acme.ID, acmeWant},
			{"platform support, all", e.asUser(t, support), "", allWant},
			{"system, all", actor.NewContext(context.Background(), actor.System("report")), "", allWant},
			// The policy: the rows of acme (activity:read) and the owner's
			// own, which are all in acme.
			{"owner, all readable", e.asUser(t, owner), "", &stats.ActivityFigures{From: from, To: to, Total: 4,
				ByVerb: acmeWant.ByVerb, ByDay: acmeWant.ByDay}},
			// No activity:read anywhere: its own rows only, of acme and of
			// no organization.
			{"member, all readable", e.asUser(t, m1), "", &stats.ActivityFigures{From: from, To: to, Total: 3,
				ByVerb: []stats.VerbCount{{Verb: stats.SignInVerb, Count: 2}, {Verb: "member.joined", Count: 1}},
				ByDay:  []stats.DayCount{{Day: "2026-05-01", Count: 1}, {Day: "2026-05-02", Count: 1}, {Day: "2026-05-03", Count: 1}},
			}},
			// Platform support acting in beta: beta's rows only.
			{"platform support acting in beta, all readable", e.as(t, actor.User(support.ID, actor.PlatformSupport).WithOrganization(beta.ID)), "",
				&stats.ActivityFigures{From: from, To: to, Total: 2,
					ByVerb: []stats.VerbCount{{Verb: "member.invited", Count: 1}, {Verb: stats.SignInVerb, Count: 1}},
					ByDay:  []stats.DayCount{{Day: "2026-05-02", Count: 2}},
				}},
			{"user of no organization", e.asUser(t, nobody), "", &stats.ActivityFigures{From: from, To: to, ByVerb: []stats.VerbCount{}, ByDay: []stats.DayCount{}}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := stats.Activity(tt.ctx, e.c, tt.org, from, to)
				if err != nil {
					t.Fatalf("Activity: %v", err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("Activity =\n%+v\nwant\n%+v", got, tt.want)
				}
			})
		}

		for _, tt := range []struct {
			name    string
			ctx     context.Context
			org     pulid.ID
			missing string // "": the answer of an unknown ID
		}{
			{"member without activity:read", e.asUser(t, m1), acme.ID, permission.ActivityRead},
			{"member of another organization", e.asUser(t, outsider), acme.ID, ""},
			{"unknown organization", e.asUser(t, owner), unknownOrg, ""},
			{"unknown organization, as platform support", e.asUser(t, support), unknownOrg, ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := stats.Activity(tt.ctx, e.c, tt.org, from, to)
				if got != nil {
					t.Fatalf("Activity = %+v, want a refusal", got)
				}
				var de *stats.DeniedError
				switch {
				case tt.missing == "" && !ent.IsNotFound(err):
					t.Errorf("err = %v; want a *NotFoundError", err)
				case tt.missing != "" && (!errors.As(err, &de) || de.Permission != tt.missing || !errors.Is(err, privacy.Deny)):
					t.Errorf("err = %v; want a *DeniedError naming %s", err, tt.missing)
				}
			})
		}
	})
}
