package tenancy_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/refreshtoken"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/tenancy"
	"github.com/cf/identity/validation"
)

func ptr[T any](v T) *T { return &v }

// openSession creates a live session of u, active in org (in none when
// org is empty), with one refresh token, and returns their IDs.
func openSession(t *testing.T, c *ent.Client, u, org pulid.ID) (session, token pulid.ID) {
	t.Helper()
	now := time.Now()
	sc := c.Session.Create().SetUserID(u).SetLastUsedAt(now).SetIdleExpiresAt(now.Add(time.Hour)).SetExpiresAt(now.Add(time.Hour))
	tc := c.RefreshToken.Create().SetUserID(u).SetTokenHash(secret.DigestOf(string(pulid.New("tok")))).SetExpiresAt(now.Add(time.Hour))
	if org != "" {
		sc.SetOrganizationID(org)
		tc.SetOrganizationID(org)
	}
	s := sc.SaveX(sys())
	return s.ID, tc.SetFamilyID(s.ID).SaveX(sys()).ID
}

// activitiesOf returns the activities recorded about object id after its
// creation, oldest first.
func activitiesOf(t *testing.T, c *ent.Client, id pulid.ID) []*ent.Activity {
	t.Helper()
	return c.Activity.Query().Where(activity.ObjectID(string(id)), activity.VerbNotIn("membership.created", "session.created")).
		Order(ent.Asc(activity.FieldID)).AllX(sys())
}

func verbs(as []*ent.Activity) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Verb
	}
	return out
}

// state is what a refused member write must leave as it was.
type state struct {
	Status     membership.Status
	Title      string
	Department string
	Manager    pulid.ID
	Activities int
	Revoked    int
}

func stateOf(t *testing.T, c *ent.Client, id pulid.ID) state {
	t.Helper()
	m := c.Membership.GetX(sys(), id)
	s := state{
		Status: m.Status, Title: m.Title, Department: m.Department,
		Activities: c.Activity.Query().CountX(sys()),
		Revoked:    c.Session.Query().Where(entsession.RevokedAtNotNil()).CountX(sys()),
	}
	if m.ManagerID != nil {
		s.Manager = *m.ManagerID
	}
	return s
}

// memberIn creates a user and makes it a member of org with role, in
// status (through the system).
func memberIn(t *testing.T, c *ent.Client, email string, org, role pulid.ID, status membership.Status) *ent.Membership {
	t.Helper()
	u := c.User.Create().SetEmail(email).SetStatus(user.StatusActive).SaveX(sys())
	return c.Membership.Create().SetOrganizationID(org).SetUserID(u.ID).AddRoleIDs(role).SetStatus(status).SaveX(sys())
}

// TestSuspendAndReactivate follows a member through suspension and
// reactivation: permissions in the organization go and come back, the
// sessions active there are revoked (others are not), and each step is
// recorded in the domain's words.
func TestSuspendAndReactivate(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		admin := as(t, c, w.admin)
		// The member belongs to a second organization too, with a session
		// active there and one active in no organization.
		other := c.Organization.Create().SetName("Other").SetSlug("other").SaveX(sys())
		c.Membership.Create().SetOrganizationID(other.ID).SetUserID(w.member.ID).AddRoleIDs(permission.MemberRoleID).ExecX(sys())
		sesIn, tokIn := openSession(t, c, w.member.ID, w.org.ID)
		sesOther, tokOther := openSession(t, c, w.member.ID, other.ID)
		sesNone, tokNone := openSession(t, c, w.member.ID, "")
		sesAdmin, _ := openSession(t, c, w.admin.ID, w.org.ID)

		m, err := tenancy.SuspendMember(admin, c, w.memberM.ID, "  repeated policy breaches  ")
		if err != nil {
			t.Fatalf("SuspendMember: %v", err)
		}
		if m.Status != membership.StatusSuspended || c.Membership.GetX(sys(), w.memberM.ID).Status != membership.StatusSuspended {
			t.Fatalf("status after SuspendMember = %s, want suspended", m.Status)
		}
		inOrg := actor.User(w.member.ID, actor.PlatformNone).WithOrganization(w.org.ID)
		if _, err := authz.NewContext(context.Background(), c, inOrg); !errors.Is(err, authz.ErrNotMember) {
			t.Fatalf("suspended member acting in the organization: %v, want authz.ErrNotMember", err)
		}
		if _, err := authz.NewContext(context.Background(), c, actor.User(w.member.ID, actor.PlatformNone).WithOrganization(other.ID)); err != nil {
			t.Fatalf("suspended member acting in their other organization: %v", err)
		}
		for _, s := range []struct {
			name     string
			ses, tok pulid.ID
			revoked  bool
		}{
			{"session active in the organization", sesIn, tokIn, true},
			{"session active in another organization", sesOther, tokOther, false},
			{"session active in no organization", sesNone, tokNone, false},
		} {
			ses := c.Session.GetX(sys(), s.ses)
			tok := c.RefreshToken.GetX(sys(), s.tok)
			if got := ses.RevokedAt != nil; got != s.revoked {
				t.Errorf("%s: revoked = %v, want %v", s.name, got, s.revoked)
			}
			if got := tok.RevokedAt != nil; got != s.revoked {
				t.Errorf("%s: refresh token revoked = %v, want %v", s.name, got, s.revoked)
			}
			if s.revoked && (ses.RevokedReason != tenancy.RevokedMemberSuspended || tok.RevokedReason != tenancy.RevokedMemberSuspended) {
				t.Errorf("%s: revoked reasons = %q, %q, want %q", s.name, ses.RevokedReason, tok.RevokedReason, tenancy.RevokedMemberSuspended)
			}
		}
		if c.Session.GetX(sys(), sesAdmin).RevokedAt != nil {
			t.Errorf("another member's session in the organization was revoked")
		}
		acts := activitiesOf(t, c, w.memberM.ID)
		if got := verbs(acts); !reflect.DeepEqual(got, []string{"member.suspended"}) {
			t.Fatalf("activities of the membership = %v, want [member.suspended]", got)
		}
		a := acts[0]
		wantData := map[string]any{
			"changes": oldNew(map[string]any{"status": "active"}, map[string]any{"status": "suspended"}),
			"reason":  "repeated policy breaches", "user_id": string(w.member.ID),
		}
		if !reflect.DeepEqual(a.Data, wantData) || a.OrganizationID == nil || *a.OrganizationID != w.org.ID || a.ActorUserID == nil || *a.ActorUserID != w.admin.ID {
			t.Errorf("member.suspended = data %v, organization %v, actor %v; want %v in %s by the admin", a.Data, a.OrganizationID, a.ActorUserID, wantData, w.org.ID)
		}
		if got := verbs(activitiesOf(t, c, sesIn)); !reflect.DeepEqual(got, []string{"session.revoked"}) {
			t.Errorf("activities of the revoked session = %v, want [session.revoked]", got)
		}
		if n := len(activitiesOf(t, c, sesOther)); n != 0 {
			t.Errorf("the untouched session has %d activities", n)
		}

		// Suspending again is refused by the graph.
		_, err = tenancy.SuspendMember(admin, c, w.memberM.ID, "")
		var te *tenancy.MemberTransitionError
		if !errors.As(err, &te) || te.From != membership.StatusSuspended || te.To != membership.StatusSuspended || !errors.Is(err, tenancy.ErrMemberTransition) {
			t.Fatalf("suspending a suspended member = %v, want MemberTransitionError{suspended, suspended}", err)
		}

		m, err = tenancy.ReactivateMember(admin, c, w.memberM.ID, "")
		if err != nil || m.Status != membership.StatusActive {
			t.Fatalf("ReactivateMember = %v, %v", m, err)
		}
		if _, err := authz.NewContext(context.Background(), c, inOrg.WithOrganization(w.org.ID)); err != nil {
			t.Fatalf("reactivated member acting in the organization: %v", err)
		}
		if c.Session.GetX(sys(), sesIn).RevokedAt == nil {
			t.Errorf("reactivation revived a revoked session")
		}
		acts = activitiesOf(t, c, w.memberM.ID)
		if got := verbs(acts); !reflect.DeepEqual(got, []string{"member.suspended", "member.reactivated"}) {
			t.Fatalf("activities = %v", got)
		}
		if _, hasReason := acts[1].Data["reason"]; hasReason || fmt.Sprint(acts[1].Data["changes"]) != fmt.Sprint(oldNew(map[string]any{"status": "suspended"}, map[string]any{"status": "active"})) {
			t.Errorf("member.reactivated data = %v: want status after active and no reason", acts[1].Data)
		}
		_, err = tenancy.ReactivateMember(admin, c, w.memberM.ID, "")
		if !errors.As(err, &te) || te.From != membership.StatusActive || te.To != membership.StatusActive {
			t.Fatalf("reactivating an active member = %v, want MemberTransitionError{active, active}", err)
		}
	})
}

// TestSuspendRefusals: each refused suspension or reactivation names its
// cause and writes nothing.
func TestSuspendRefusals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		ownerM := c.Membership.Query().Where(membership.UserID(w.owner.ID)).OnlyX(sys())
		invited := memberIn(t, c, "invited@a.com", w.org.ID, permission.MemberRoleID, membership.StatusInvited)
		openSession(t, c, w.owner.ID, w.org.ID)
		openSession(t, c, w.admin.ID, w.org.ID)
		transition := func(from, to membership.Status) func(*testing.T, error) {
			return func(t *testing.T, err error) {
				var te *tenancy.MemberTransitionError
				if !errors.As(err, &te) || te.From != from || te.To != to || !errors.Is(err, tenancy.ErrMemberTransition) {
					t.Fatalf("err = %v, want MemberTransitionError{%s, %s}", err, from, to)
				}
				if !strings.Contains(err.Error(), string(from)) || !strings.Contains(err.Error(), string(to)) {
					t.Fatalf("message %q does not name both statuses", err)
				}
			}
		}
		is := func(target error) func(*testing.T, error) {
			return func(t *testing.T, err error) {
				if !errors.Is(err, target) {
					t.Fatalf("err = %v, want %v", err, target)
				}
			}
		}
		tests := []struct {
			name  string
			id    pulid.ID
			do    func(id pulid.ID) error
			check func(*testing.T, error)
		}{
			{"own membership", w.adminM.ID, func(id pulid.ID) error {
				_, err := tenancy.SuspendMember(as(t, c, w.admin), c, id, "")
				return err
			}, func(t *testing.T, err error) {
				var ve *validation.Error
				if !errors.Is(err, tenancy.ErrSuspendSelf) || !errors.As(err, &ve) || ve.Field != "id" {
					t.Fatalf("err = %v, want ErrSuspendSelf as a validation error on id", err)
				}
			}},
			{"an admin suspends the owner", ownerM.ID, func(id pulid.ID) error {
				_, err := tenancy.SuspendMember(as(t, c, w.admin), c, id, "")
				return err
			}, is(authz.ErrAboveLevel)},
			{"the last owner, even by the system", ownerM.ID, func(id pulid.ID) error {
				_, err := tenancy.SuspendMember(sys(), c, id, "")
				return err
			}, is(authz.ErrLastOwner)},
			{"a member without member:update", w.adminM.ID, func(id pulid.ID) error {
				_, err := tenancy.SuspendMember(as(t, c, w.member), c, id, "")
				return err
			}, is(privacy.Deny)},
			{"an outsider", w.memberM.ID, func(id pulid.ID) error {
				_, err := tenancy.SuspendMember(as(t, c, w.out), c, id, "")
				return err
			}, func(t *testing.T, err error) {
				if !ent.IsNotFound(err) {
					t.Fatalf("err = %v, want ent NotFound (the policy hides the membership)", err)
				}
			}},
			{"an unknown membership", pulid.New("mem"), func(id pulid.ID) error {
				_, err := tenancy.SuspendMember(as(t, c, w.admin), c, id, "")
				return err
			}, func(t *testing.T, err error) {
				if !ent.IsNotFound(err) {
					t.Fatalf("err = %v, want ent NotFound", err)
				}
			}},
			{"a reason too long", w.memberM.ID, func(id pulid.ID) error {
				_, err := tenancy.SuspendMember(as(t, c, w.admin), c, id, strings.Repeat("é", tenancy.MaxReason+1))
				return err
			}, is(validation.ErrInvalid)},
			{"suspending an invited member", invited.ID, func(id pulid.ID) error {
				_, err := tenancy.SuspendMember(as(t, c, w.admin), c, id, "")
				return err
			}, transition(membership.StatusInvited, membership.StatusSuspended)},
			{"reactivating an invited member (accepting is not reactivating)", invited.ID, func(id pulid.ID) error {
				_, err := tenancy.ReactivateMember(as(t, c, w.admin), c, id, "")
				return err
			}, transition(membership.StatusInvited, membership.StatusActive)},
			{"reactivating an active member", w.memberM.ID, func(id pulid.ID) error {
				_, err := tenancy.ReactivateMember(as(t, c, w.admin), c, id, "")
				return err
			}, transition(membership.StatusActive, membership.StatusActive)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				watch := tt.id
				if !c.Membership.Query().Where(membership.ID(watch)).ExistX(sys()) {
					watch = w.memberM.ID
				}
				before := stateOf(t, c, watch)
				err := tt.do(tt.id)
				if err == nil {
					t.Fatal("succeeded, want a refusal")
				}
				tt.check(t, err)
				if after := stateOf(t, c, watch); after != before {
					t.Fatalf("a refusal wrote: before %+v, after %+v", before, after)
				}
			})
		}
	})
}

// TestUpdateMember: changes are recorded with the values before and after
// of the fields that changed only; bad input and out-of-reach memberships
// are refused with nothing written.
func TestUpdateMember(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		admin := as(t, c, w.admin)
		m, err := tenancy.UpdateMember(admin, c, w.memberM.ID, tenancy.UpdateMemberInput{
			Title: ptr("Lead"), Department: ptr("Engineering"), ManagerID: &w.adminM.ID,
		})
		if err != nil {
			t.Fatalf("UpdateMember: %v", err)
		}
		if m.Title != "Lead" || m.Department != "Engineering" || m.ManagerID == nil || *m.ManagerID != w.adminM.ID {
			t.Fatalf("updated membership = %+v", m)
		}
		// The same title again and a new department: only the department
		// is recorded.
		if _, err := tenancy.UpdateMember(admin, c, w.memberM.ID, tenancy.UpdateMemberInput{Title: ptr("Lead"), Department: ptr("Platform")}); err != nil {
			t.Fatalf("UpdateMember: %v", err)
		}
		if _, err := tenancy.UpdateMember(admin, c, w.memberM.ID, tenancy.UpdateMemberInput{ClearManager: true}); err != nil {
			t.Fatalf("UpdateMember clearing the manager: %v", err)
		}
		// Nothing changes: nothing is recorded.
		if _, err := tenancy.UpdateMember(admin, c, w.memberM.ID, tenancy.UpdateMemberInput{Title: ptr("Lead")}); err != nil {
			t.Fatalf("UpdateMember without change: %v", err)
		}
		// A status change with a field change records both.
		if _, err := tenancy.UpdateMember(admin, c, w.memberM.ID, tenancy.UpdateMemberInput{Title: ptr("On leave"), Status: ptr(membership.StatusSuspended)}); err != nil {
			t.Fatalf("UpdateMember suspending: %v", err)
		}
		acts := activitiesOf(t, c, w.memberM.ID)
		uid := string(w.member.ID)
		want := []struct {
			verb string
			data map[string]any
		}{
			{"member.updated", map[string]any{"user_id": uid,
				"changes": oldNew(map[string]any{"title": "", "department": "", "manager_id": nil}, map[string]any{"title": "Lead", "department": "Engineering", "manager_id": string(w.adminM.ID)})}},
			{"member.updated", map[string]any{"user_id": uid,
				"changes": oldNew(map[string]any{"department": "Engineering"}, map[string]any{"department": "Platform"})}},
			{"member.updated", map[string]any{"user_id": uid,
				"changes": oldNew(map[string]any{"manager_id": string(w.adminM.ID)}, map[string]any{"manager_id": nil})}},
			{"member.updated", map[string]any{"user_id": uid,
				"changes": oldNew(map[string]any{"title": "Lead"}, map[string]any{"title": "On leave"})}},
			{"member.suspended", map[string]any{"user_id": uid,
				"changes": oldNew(map[string]any{"status": "active"}, map[string]any{"status": "suspended"})}},
		}
		if len(acts) != len(want) {
			t.Fatalf("activities = %v, want %d", verbs(acts), len(want))
		}
		for i, a := range acts {
			if a.Verb != want[i].verb || !reflect.DeepEqual(a.Data, want[i].data) || a.OrganizationID == nil || *a.OrganizationID != w.org.ID {
				t.Errorf("activity %d = %s %v in %v, want %s %v in %s", i, a.Verb, a.Data, a.OrganizationID, want[i].verb, want[i].data, w.org.ID)
			}
		}

		is := func(target error) func(*testing.T, error) {
			return func(t *testing.T, err error) {
				if !errors.Is(err, target) {
					t.Fatalf("err = %v, want %v", err, target)
				}
			}
		}
		// The member is suspended now: the reader is a viewer.
		viewer := memberIn(t, c, "viewer@a.com", w.org.ID, permission.ViewerRoleID, membership.StatusActive)
		notFound := func(t *testing.T, err error) {
			if !ent.IsNotFound(err) {
				t.Fatalf("err = %v, want ent NotFound", err)
			}
		}
		tests := []struct {
			name  string
			ctx   context.Context
			id    pulid.ID
			in    tenancy.UpdateMemberInput
			check func(*testing.T, error)
		}{
			{"empty input", admin, w.adminM.ID, tenancy.UpdateMemberInput{}, is(validation.ErrInvalid)},
			{"a manager and clearing it", admin, w.adminM.ID, tenancy.UpdateMemberInput{ManagerID: &w.memberM.ID, ClearManager: true}, is(validation.ErrInvalid)},
			{"a title too long", admin, w.adminM.ID, tenancy.UpdateMemberInput{Title: ptr(strings.Repeat("x", 201))}, func(t *testing.T, err error) {
				if !ent.IsValidationError(err) {
					t.Fatalf("err = %v, want an ent validation error", err)
				}
			}},
			{"an outsider: not found, not denied", as(t, c, w.out), w.adminM.ID, tenancy.UpdateMemberInput{Title: ptr("x")}, notFound},
			{"an unknown membership", admin, pulid.New("mem"), tenancy.UpdateMemberInput{Title: ptr("x")}, notFound},
			{"a reader without member:update: denied", as(t, c, c.User.GetX(sys(), viewer.UserID)), w.adminM.ID, tenancy.UpdateMemberInput{Title: ptr("x")}, is(privacy.Deny)},
			{"an admin changing the owner", admin, c.Membership.Query().Where(membership.UserID(w.owner.ID)).OnlyIDX(sys()), tenancy.UpdateMemberInput{Title: ptr("x")}, is(authz.ErrAboveLevel)},
			{"back to invited", as(t, c, w.owner), w.adminM.ID, tenancy.UpdateMemberInput{Status: ptr(membership.StatusInvited)}, is(tenancy.ErrMemberTransition)},
			{"an unknown status", as(t, c, w.owner), w.adminM.ID, tenancy.UpdateMemberInput{Status: ptr(membership.Status("gone"))}, func(t *testing.T, err error) {
				if !ent.IsValidationError(err) && !errors.Is(err, tenancy.ErrMemberTransition) {
					t.Fatalf("err = %v, want a refusal of the status", err)
				}
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				watch := tt.id
				if !c.Membership.Query().Where(membership.ID(watch)).ExistX(sys()) {
					watch = w.adminM.ID
				}
				before := stateOf(t, c, watch)
				_, err := tenancy.UpdateMember(tt.ctx, c, tt.id, tt.in)
				if err == nil {
					t.Fatal("succeeded, want a refusal")
				}
				tt.check(t, err)
				if after := stateOf(t, c, watch); after != before {
					t.Fatalf("a refusal wrote: before %+v, after %+v", before, after)
				}
			})
		}
	})
}

// TestManagerRules: a manager is a member of the same organization, and
// managers never loop; each refusal is typed and writes nothing.
func TestManagerRules(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		owner := as(t, c, w.owner)
		a, b := w.adminM.ID, w.memberM.ID
		cm := memberIn(t, c, "c@a.com", w.org.ID, permission.MemberRoleID, membership.StatusActive).ID
		other := c.Organization.Create().SetName("Other").SetSlug("other").SaveX(sys())
		foreign := memberIn(t, c, "f@b.com", other.ID, permission.MemberRoleID, membership.StatusActive).ID
		setManager := func(t *testing.T, id, mgr pulid.ID) error {
			t.Helper()
			_, err := tenancy.UpdateMember(owner, c, id, tenancy.UpdateMemberInput{ManagerID: &mgr})
			return err
		}
		clear := func(t *testing.T, ids ...pulid.ID) {
			t.Helper()
			for _, id := range ids {
				if _, err := tenancy.UpdateMember(owner, c, id, tenancy.UpdateMemberInput{ClearManager: true}); err != nil {
					t.Fatalf("clearing the manager of %s: %v", id, err)
				}
			}
		}
		tests := []struct {
			name   string
			setup  [][2]pulid.ID // (member, manager) pairs set first
			member pulid.ID
			mgr    pulid.ID
			want   error // nil: allowed
		}{
			{"a manager of the same organization", nil, a, b, nil},
			{"a chain without loop", [][2]pulid.ID{{b, cm}}, a, b, nil},
			{"a manager of another organization", nil, a, foreign, tenancy.ErrForeignManager},
			{"an unknown manager", nil, a, pulid.New("mem"), tenancy.ErrForeignManager},
			{"oneself", nil, a, a, tenancy.ErrManagerCycle},
			{"A→B→A", [][2]pulid.ID{{b, a}}, a, b, tenancy.ErrManagerCycle},
			{"A→B→C→A", [][2]pulid.ID{{b, cm}, {cm, a}}, a, b, tenancy.ErrManagerCycle},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Cleanup(func() { clear(t, a, b, cm) })
				for _, p := range tt.setup {
					if err := setManager(t, p[0], p[1]); err != nil {
						t.Fatalf("setup %s→%s: %v", p[0], p[1], err)
					}
				}
				before := stateOf(t, c, tt.member)
				err := setManager(t, tt.member, tt.mgr)
				if tt.want == nil {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if got := c.Membership.GetX(sys(), tt.member).ManagerID; got == nil || *got != tt.mgr {
						t.Fatalf("manager = %v, want %s", got, tt.mgr)
					}
					return
				}
				var ve *validation.Error
				if !errors.Is(err, tt.want) || !errors.As(err, &ve) || ve.Field != "managerID" {
					t.Fatalf("err = %v, want %v as a validation error on managerID", err, tt.want)
				}
				if after := stateOf(t, c, tt.member); after != before {
					t.Fatalf("a refusal wrote: before %+v, after %+v", before, after)
				}
			})
		}
	})
}

// TestConcurrentManagerLoop: A.manager=B and B.manager=A sent at the same
// time never both commit, so the database never holds the loop (each
// round, twice: through package tenancy and through the ent client in a
// transaction).
func TestConcurrentManagerLoop(t *testing.T) {
	const rounds = 20
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		owner := as(t, c, w.owner)
		a, b := w.adminM.ID, w.memberM.ID
		via := map[string]func(ctx context.Context, id, mgr pulid.ID) error{
			"tenancy": func(ctx context.Context, id, mgr pulid.ID) error {
				_, err := tenancy.UpdateMember(ctx, c, id, tenancy.UpdateMemberInput{ManagerID: &mgr})
				return err
			},
			"client": func(ctx context.Context, id, mgr pulid.ID) error {
				return inTx(ctx, c, func(tx *ent.Client) error { return tx.Membership.UpdateOneID(id).SetManagerID(mgr).Exec(ctx) })
			},
		}
		for name, set := range via {
			t.Run(name, func(t *testing.T) {
				for round := range rounds {
					c.Membership.Update().Where(membership.IDIn(a, b)).ClearManager().ExecX(sys())
					errs := race(2, func(i int) error {
						if i == 0 {
							return set(owner, a, b)
						}
						return set(owner, b, a)
					})
					expect(t, errs, tenancy.ErrManagerCycle)
					ma, mb := c.Membership.GetX(sys(), a), c.Membership.GetX(sys(), b)
					if ma.ManagerID != nil && mb.ManagerID != nil {
						t.Fatalf("round %d: both committed (%v): A and B manage each other", round, errs)
					}
					if n := succeeded(errs); n != 1 {
						t.Fatalf("round %d: %d succeeded (%v), want 1", round, n, errs)
					}
				}
			})
		}
	})
}

// TestConcurrentManagerRing: 50 members each given the next as manager at
// once, which would close a ring of 50 if all committed.
func TestConcurrentManagerRing(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		owner := as(t, c, w.owner)
		ring := members(t, w, parallel)
		errs := race(parallel, func(i int) error {
			mgr := ring[(i+1)%parallel].ID
			_, err := tenancy.UpdateMember(owner, c, ring[i].ID, tenancy.UpdateMemberInput{ManagerID: &mgr})
			return err
		})
		expect(t, errs, tenancy.ErrManagerCycle)
		if n := succeeded(errs); n == parallel || n == 0 {
			t.Fatalf("%d of %d succeeded; want some, not all", n, parallel)
		}
		// Walk up from every member: no walk comes back.
		managerOf := map[pulid.ID]pulid.ID{}
		for _, m := range c.Membership.Query().Where(membership.OrganizationID(w.org.ID)).AllX(sys()) {
			if m.ManagerID != nil {
				managerOf[m.ID] = *m.ManagerID
			}
		}
		for _, m := range ring {
			seen := map[pulid.ID]bool{m.ID: true}
			for cur, ok := managerOf[m.ID]; ok; cur, ok = managerOf[cur] {
				if seen[cur] {
					t.Fatalf("the managers above %s loop (%d of %d writes succeeded)", m.ID, succeeded(errs), parallel)
				}
				seen[cur] = true
			}
		}
	})
}

// TestMembers: the roster with users, roles and managers, pages, the
// status filter and what others see.
func TestMembers(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		w := newWorld(t, db)
		c := w.c
		owner := as(t, c, w.owner)
		ownerM := c.Membership.Query().Where(membership.UserID(w.owner.ID)).OnlyX(sys())
		if _, err := tenancy.UpdateMember(owner, c, w.memberM.ID, tenancy.UpdateMemberInput{ManagerID: &w.adminM.ID, Department: ptr("Eng")}); err != nil {
			t.Fatal(err)
		}
		if _, err := tenancy.SuspendMember(owner, c, w.adminM.ID, ""); err != nil {
			t.Fatal(err)
		}
		all, err := tenancy.Members(owner, c, w.org.ID, tenancy.MembersQuery{})
		if err != nil {
			t.Fatalf("Members: %v", err)
		}
		ids := func(ms []*tenancy.Member) []pulid.ID {
			out := make([]pulid.ID, len(ms))
			for i, m := range ms {
				out[i] = m.Membership.ID
			}
			return out
		}
		if got, want := ids(all), []pulid.ID{ownerM.ID, w.adminM.ID, w.memberM.ID}; !reflect.DeepEqual(got, want) {
			t.Fatalf("Members = %v, want %v (in ID order)", got, want)
		}
		mm := all[2]
		if mm.User == nil || mm.User.ID != w.member.ID || len(mm.Roles) != 1 || mm.Roles[0].ID != permission.MemberRoleID ||
			mm.Manager == nil || mm.Manager.ID != w.adminM.ID || mm.Manager.Edges.User == nil || mm.Manager.Edges.User.ID != w.admin.ID ||
			mm.Membership.Department != "Eng" {
			t.Fatalf("member = %+v", mm)
		}
		if all[0].Manager != nil || all[1].Membership.Status != membership.StatusSuspended {
			t.Fatalf("owner's manager = %v, admin's status = %s", all[0].Manager, all[1].Membership.Status)
		}

		page, err := tenancy.Members(owner, c, w.org.ID, tenancy.MembersQuery{Limit: 2})
		if err != nil || !reflect.DeepEqual(ids(page), ids(all)[:2]) {
			t.Fatalf("first page = %v, %v", ids(page), err)
		}
		page, err = tenancy.Members(owner, c, w.org.ID, tenancy.MembersQuery{Limit: 2, After: page[1].Membership.ID})
		if err != nil || !reflect.DeepEqual(ids(page), ids(all)[2:]) {
			t.Fatalf("second page = %v, %v", ids(page), err)
		}
		suspended, err := tenancy.Members(owner, c, w.org.ID, tenancy.MembersQuery{Status: ptr(membership.StatusSuspended)})
		if err != nil || !reflect.DeepEqual(ids(suspended), []pulid.ID{w.adminM.ID}) {
			t.Fatalf("suspended members = %v, %v", ids(suspended), err)
		}
		// A member (member:read) sees the roster; an outsider sees
		// nothing, as for an organization that does not exist.
		if seen, err := tenancy.Members(as(t, c, w.member), c, w.org.ID, tenancy.MembersQuery{}); err != nil || len(seen) != 3 {
			t.Fatalf("member's view = %v, %v", ids(seen), err)
		}
		for name, org := range map[string]pulid.ID{"the organization": w.org.ID, "an unknown organization": pulid.New("org")} {
			seen, err := tenancy.Members(as(t, c, w.out), c, org, tenancy.MembersQuery{})
			if err != nil || len(seen) != 0 {
				t.Fatalf("outsider's view of %s = %v, %v; want an empty list", name, ids(seen), err)
			}
		}
		for _, q := range []tenancy.MembersQuery{{Limit: tenancy.MaxMembersLimit + 1}, {Limit: -1}, {Status: ptr(membership.Status("gone"))}} {
			if _, err := tenancy.Members(owner, c, w.org.ID, q); !errors.Is(err, validation.ErrInvalid) {
				t.Fatalf("Members(%+v) = %v, want a validation error", q, err)
			}
		}
	})
}

// TestMembersStatementCount: listing 1, 10 or 50 members (each with a
// user, a role and a manager with a user) costs the same statements.
func TestMembersStatementCount(t *testing.T) {
	// Memberships, their users, their roles, their managers, the
	// managers' users.
	const want = 5
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, drv := testdb.Counted(t, db)
		ownerU := c.User.Create().SetEmail("owner@a.com").SetStatus(user.StatusActive).SaveX(sys())
		org, err := tenancy.CreateOrganization(as(t, c, ownerU), c, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		ownerM := c.Membership.Query().Where(membership.UserID(ownerU.ID)).OnlyIDX(sys())
		added := 0
		grow := func(n int) {
			for ; added < n; added++ {
				u := c.User.Create().SetEmail(fmt.Sprintf("m%02d@a.com", added)).SetStatus(user.StatusActive).SaveX(sys())
				c.Membership.Create().SetOrganizationID(org.ID).SetUserID(u.ID).AddRoleIDs(permission.MemberRoleID).SetManagerID(ownerM).ExecX(sys())
			}
		}
		var counts []int64
		for _, n := range []int{1, 10, 50} {
			grow(n)
			ctx := as(t, c, ownerU)
			drv.Reset()
			ms, err := tenancy.Members(ctx, c, org.ID, tenancy.MembersQuery{})
			got := drv.Count()
			if err != nil {
				t.Fatalf("Members: %v", err)
			}
			if len(ms) != n+1 {
				t.Fatalf("Members = %d rows, want %d", len(ms), n+1)
			}
			for _, m := range ms[1:] {
				if m.User == nil || len(m.Roles) == 0 || m.Manager == nil || m.Manager.Edges.User == nil {
					t.Fatalf("member %s not fully loaded: %+v", m.Membership.ID, m)
				}
			}
			counts = append(counts, got)
		}
		t.Logf("statements of Members for 1, 10, 50 members: %v", counts)
		for _, n := range counts {
			if n != want {
				t.Errorf("statements = %v for 1, 10 and 50 members, want %d each (update the pinned count only with a reason)", counts, want)
				break
			}
		}
	})
}

// TestSuspendStatementCount: suspending a member with 1 or 20 sessions in
// the organization costs the same statements.
func TestSuspendStatementCount(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		c, drv := testdb.Counted(t, db)
		ownerU := c.User.Create().SetEmail("owner@a.com").SetStatus(user.StatusActive).SaveX(sys())
		org, err := tenancy.CreateOrganization(as(t, c, ownerU), c, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		measure := func(i, sessions int) int64 {
			m := memberIn(t, c, fmt.Sprintf("s%d@a.com", i), org.ID, permission.MemberRoleID, membership.StatusActive)
			for range sessions {
				openSession(t, c, m.UserID, org.ID)
			}
			ctx := as(t, c, ownerU)
			drv.Reset()
			if _, err := tenancy.SuspendMember(ctx, c, m.ID, "count"); err != nil {
				t.Fatalf("SuspendMember: %v", err)
			}
			got := drv.Count()
			if n := c.RefreshToken.Query().Where(refreshtoken.UserID(m.UserID), refreshtoken.RevokedAtIsNil()).CountX(sys()); n != 0 {
				t.Fatalf("%d refresh tokens left live", n)
			}
			return got
		}
		one, many := measure(0, 1), measure(1, 20)
		t.Logf("statements of SuspendMember: %d with 1 session, %d with 20", one, many)
		if one != many {
			t.Errorf("statement count grows with sessions: %d for 1, %d for 20", one, many)
		}
	})
}

// oldNew is the data.changes of an activity: each field of after with its
// old and new value.
func oldNew(before, after map[string]any) map[string]any {
	out := map[string]any{}
	for f, v := range after {
		out[f] = map[string]any{"old": before[f], "new": v}
	}
	return out
}
