package stats_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/invitation"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/stats"
	"github.com/cf/identity/validation"
)

const unknownOrg pulid.ID = "org_01JD3Q6X6S4W7N9ZKX2C1V0B8E"

// orgFixture is organization acme with known figures, next to beta.
type orgFixture struct {
	*env
	acme, beta, old *ent.Organization
	// owner and admin of acme; auditor holds a custom role with
	// activity:read and member:read; m1 the member role (no
	// activity:read); v1 the viewer role; outsider belongs to beta only;
	// admin is a member of beta too.
	owner, admin, auditor, m1, v1, outsider, support *ent.User
	auditorRole                                      *ent.Role
}

// newOrgFixture creates acme with:
//
//	members    invited 1, active 7, suspended 1
//	roles      owner 1, admin 1, member 3, auditor (custom, level 30) 1,
//	           viewer 2 (one member holds member and viewer)
//	invitations 2 pending (and expired, accepted, revoked ones)
//	sessions   2 of active members active in acme (and sessions in beta, in
//	           no organization, of a suspended member, of a non-member,
//	           revoked and idle-expired ones)
//	API keys   2 active organization keys (and revoked, expired, personal
//	           and beta ones)
//	activities 24 h: 2; 7 days: 4 (and older ones, and beta's and the
//	           platform's)
func newOrgFixture(t *testing.T, db testdb.Target) *orgFixture {
	t.Helper()
	e := newEnv(t, db)
	f := &orgFixture{env: e}
	now := e.now
	f.acme, f.beta, f.old = e.org(t, "acme"), e.org(t, "beta"), e.org(t, "old")
	var err error
	f.auditorRole, err = e.c.Role.Create().SetOrganizationID(f.acme.ID).SetKey("auditor").SetName("Auditor").SetLevel(30).
		SetPermissions([]string{permission.ActivityRead, permission.MemberRead}).Save(quiet())
	if err != nil {
		t.Fatalf("creating a role: %v", err)
	}
	active := membership.StatusActive
	f.owner = e.user(t, "owner@example.com", nil)
	f.admin = e.user(t, "admin@example.com", nil)
	f.auditor = e.user(t, "auditor@example.com", nil)
	f.m1 = e.user(t, "m1@example.com", nil)
	m2 := e.user(t, "m2@example.com", nil)
	m3 := e.user(t, "m3@example.com", nil)
	f.v1 = e.user(t, "v1@example.com", nil)
	invited := e.user(t, "invited@example.com", nil)
	suspended := e.user(t, "suspended@example.com", nil)
	f.outsider = e.user(t, "outsider@example.com", nil)
	f.support = e.user(t, "support@example.com", func(b *ent.UserCreate) { b.SetPlatformRole(user.PlatformRoleSupport) })
	e.member(t, f.acme, f.owner, active, ownerRole)
	e.member(t, f.acme, f.admin, active, adminRole)
	e.member(t, f.acme, f.auditor, active, f.auditorRole.ID)
	e.member(t, f.acme, f.m1, active, memberRole)
	e.member(t, f.acme, m2, active, memberRole)
	e.member(t, f.acme, m3, active, memberRole, viewerRole)
	e.member(t, f.acme, f.v1, active, viewerRole)
	e.member(t, f.acme, invited, membership.StatusInvited, memberRole)
	e.member(t, f.acme, suspended, membership.StatusSuspended, adminRole)
	e.member(t, f.beta, f.outsider, active, ownerRole)
	e.member(t, f.beta, f.admin, active, memberRole)
	e.member(t, f.beta, f.m1, active, adminRole)
	e.member(t, f.old, f.owner, active, ownerRole)
	if err := e.c.Organization.DeleteOne(f.old).Exec(quiet()); err != nil {
		t.Fatalf("deleting an organization: %v", err)
	}

	e.invitation(t, f.acme, invitation.StatusPending, now.Add(time.Hour))
	e.invitation(t, f.acme, invitation.StatusPending, now.Add(7*24*time.Hour))
	e.invitation(t, f.acme, invitation.StatusPending, now.Add(-time.Minute))
	e.invitation(t, f.acme, invitation.StatusAccepted, now.Add(time.Hour))
	e.invitation(t, f.acme, invitation.StatusRevoked, now.Add(time.Hour))
	e.invitation(t, f.beta, invitation.StatusPending, now.Add(time.Hour))

	e.session(t, f.m1, f.acme, nil)
	e.session(t, f.admin, f.acme, nil)
	e.session(t, f.m1, f.beta, nil)
	e.session(t, m2, nil, nil)
	e.session(t, suspended, f.acme, nil)
	e.session(t, f.outsider, f.acme, nil)
	e.session(t, f.owner, f.acme, func(b *ent.SessionCreate) { b.SetRevokedAt(now.Add(-time.Minute)) })
	e.session(t, f.owner, f.acme, func(b *ent.SessionCreate) { b.SetIdleExpiresAt(now.Add(-time.Minute)) })

	e.apiKey(t, f.owner, f.acme, nil)
	e.apiKey(t, f.owner, f.acme, func(b *ent.APIKeyCreate) { b.SetExpiresAt(now.Add(time.Hour)) })
	e.apiKey(t, f.owner, f.acme, func(b *ent.APIKeyCreate) { b.SetRevokedAt(now.Add(-time.Minute)) })
	e.apiKey(t, f.owner, f.acme, func(b *ent.APIKeyCreate) { b.SetExpiresAt(now.Add(-time.Minute)) })
	e.apiKey(t, f.owner, nil, nil)
	e.apiKey(t, f.outsider, f.beta, nil)

	e.act(t, f.acme, f.owner, "member.invited", now.Add(-time.Hour))
	e.act(t, f.acme, f.m1, stats.SignInVerb, now.Add(-23*time.Hour))
	e.act(t, f.acme, f.m1, stats.SignInVerb, now.Add(-25*time.Hour))
	e.act(t, f.acme, nil, "invitation.expired", now.Add(-6*24*time.Hour))
	e.act(t, f.acme, f.owner, "member.invited", now.Add(-8*24*time.Hour))
	e.act(t, f.beta, f.outsider, "member.invited", now.Add(-time.Hour))
	e.act(t, nil, f.owner, stats.SignInVerb, now.Add(-time.Hour))
	return f
}

func TestOrganizationStats(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		f := newOrgFixture(t, db)
		want := &stats.OrganizationFigures{
			OrganizationID: f.acme.ID,
			MembersByStatus: []stats.StatusCount{
				{Status: "invited", Count: 1}, {Status: "active", Count: 7}, {Status: "suspended", Count: 1},
			},
			MembersByRole: []stats.RoleCount{
				{RoleID: ownerRole, Key: "owner", Name: "Owner", Level: 100, Count: 1},
				{RoleID: adminRole, Key: "admin", Name: "Admin", Level: 80, Count: 1},
				{RoleID: memberRole, Key: "member", Name: "Member", Level: 50, Count: 3},
				{RoleID: f.auditorRole.ID, Key: "auditor", Name: "Auditor", Level: 30, Count: 1},
				{RoleID: viewerRole, Key: "viewer", Name: "Viewer", Level: 10, Count: 2},
			},
			PendingInvitations: 2, ActiveSessions: 2, ActiveAPIKeys: 2, Activities24h: 2, Activities7d: 4,
		}
		for _, tt := range []struct {
			name string
			ctx  context.Context
		}{
			{"owner", f.asUser(t, f.owner)},
			{"admin", f.asUser(t, f.admin)},
			{"custom role with activity:read and member:read", f.asUser(t, f.auditor)},
			{"owner acting in acme", f.as(t, actor.User(f.owner.ID, actor.PlatformNone).WithOrganization(f.acme.ID))},
			{"platform support", f.asUser(t, f.support)},
			{"system", actor.NewContext(context.Background(), actor.System("report"))},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := stats.Organization(tt.ctx, f.c, f.acme.ID)
				if err != nil {
					t.Fatalf("Organization: %v", err)
				}
				got.At = time.Time{}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Organization =\n%+v\nwant\n%+v", got, want)
				}
			})
		}
		t.Run("other organization", func(t *testing.T) {
			got, err := stats.Organization(f.asUser(t, f.outsider), f.c, f.beta.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.PendingInvitations != 1 || got.ActiveAPIKeys != 1 || got.Activities24h != 1 || len(got.MembersByRole) != 3 {
				t.Errorf("beta = %+v; want 1 invitation, 1 key, 1 activity, 3 roles", got)
			}
		})
	})
}

func TestOrganizationStatsRefusals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		f := newOrgFixture(t, db)
		// The answer for an ID that names no organization: every caller
		// outside acme gets the same.
		_, unknown := stats.Organization(f.asUser(t, f.owner), f.c, unknownOrg)
		var nf *stats.NotFoundError
		if !errors.As(unknown, &nf) || !ent.IsNotFound(unknown) {
			t.Fatalf("unknown organization: %v; want a *NotFoundError matching ent.IsNotFound", unknown)
		}
		same := func(err error, org pulid.ID) string {
			return strings.ReplaceAll(err.Error(), string(org), "ORG")
		}
		for _, tt := range []struct {
			name string
			ctx  context.Context
			org  pulid.ID
			// missing is the permission a *DeniedError names; "" wants the
			// answer of an unknown ID.
			missing string
		}{
			{"member role lacks activity:read", f.asUser(t, f.m1), f.acme.ID, permission.ActivityRead},
			{"viewer lacks activity:read", f.asUser(t, f.v1), f.acme.ID, permission.ActivityRead},
			{"organization key without the scope", f.as(t, actor.APIKey("key_01JD3Q6X6S4W7N9ZKX2C1V0B8E", f.owner.ID, actor.PlatformNone, f.acme.ID, []string{permission.ActivityRead})), f.acme.ID, permission.MemberRead},
			{"member of another organization", f.asUser(t, f.outsider), f.acme.ID, ""},
			{"member acting in another organization", f.as(t, actor.User(f.admin.ID, actor.PlatformNone).WithOrganization(f.beta.ID)), f.acme.ID, ""},
			{"platform support acting in another organization", f.as(t, actor.User(f.support.ID, actor.PlatformSupport).WithOrganization(f.beta.ID)), f.acme.ID, ""},
			{"user of no organization", f.asUser(t, f.env.user(t, "nobody@example.com", nil)), f.acme.ID, ""},
			{"deleted organization, as its owner", f.asUser(t, f.owner), f.old.ID, ""},
			{"deleted organization, as platform support", f.asUser(t, f.support), f.old.ID, ""},
			{"unknown organization, as platform support", f.asUser(t, f.support), unknownOrg, ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := stats.Organization(tt.ctx, f.c, tt.org)
				if got != nil {
					t.Fatalf("Organization = %+v, want a refusal", got)
				}
				if tt.missing == "" {
					if !errors.As(err, &nf) || !ent.IsNotFound(err) || errors.Is(err, privacy.Deny) {
						t.Fatalf("err = %v; want a *NotFoundError", err)
					}
					if same(err, tt.org) != same(unknown, unknownOrg) {
						t.Errorf("err = %q; want the answer of an unknown ID, %q", err, unknown)
					}
					return
				}
				var de *stats.DeniedError
				if !errors.As(err, &de) || !errors.Is(err, privacy.Deny) || !errors.Is(err, stats.ErrDenied) {
					t.Fatalf("err = %v; want a *DeniedError", err)
				}
				if de.Permission != tt.missing || de.OrganizationID != tt.org || de.Reason == "" {
					t.Errorf("DeniedError = %+v; want %s in %s with a reason", de, tt.missing, tt.org)
				}
			})
		}
		for _, tt := range []struct {
			name string
			ctx  context.Context
			id   pulid.ID
		}{
			{"empty ID", f.asUser(t, f.owner), ""},
			{"user ID", f.asUser(t, f.owner), f.owner.ID},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := stats.Organization(tt.ctx, f.c, tt.id)
				var verr *validation.Error
				if !errors.As(err, &verr) || verr.Field != "id" {
					t.Errorf("err = %v; want a *validation.Error for id", err)
				}
			})
		}
		t.Run("no actor", func(t *testing.T) {
			if _, err := stats.Organization(context.Background(), f.c, f.acme.ID); !errors.Is(err, privacy.Deny) {
				t.Errorf("err = %v; want a privacy denial", err)
			}
		})
	})
}
