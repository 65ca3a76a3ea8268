package account_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/account"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/apikey"
	"github.com/cf/identity/ent/privacy"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/session"
	"github.com/cf/identity/tenancy"
	"github.com/cf/identity/validation"
)

// testPassword signs the users of the tests in; sign-in checks no rules.
const testPassword = "correct-horse-battery-staple"

var laptop = session.Client{IP: "203.0.113.7", UserAgent: "account-test/1.0"}

func sys() context.Context { return actor.NewContext(context.Background(), actor.System("test")) }

// env is a migrated database, a session.Manager over it and a superadmin.
type env struct {
	db    testdb.Target
	c     *ent.Client
	sql   *sql.DB
	m     *session.Manager
	hash  secret.PasswordHash
	super *ent.User
	n     int
}

func newEnv(t *testing.T, db testdb.Target) *env {
	t.Helper()
	c, sqlDB := testdb.Migrated(t, db)
	return newEnvOn(t, db, c, sqlDB)
}

func newEnvOn(t *testing.T, db testdb.Target, c *ent.Client, sqlDB *sql.DB) *env {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	cfg := session.DefaultConfig()
	cfg.Argon2 = secret.MinArgon2
	cfg.MasterKey = key
	m, err := session.New(context.Background(), c, cfg)
	if err != nil {
		t.Fatalf("session.New: %v", err)
	}
	h, err := secret.HashPasswordWith(testPassword, secret.MinArgon2)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, c: c, sql: sqlDB, m: m, hash: h}
	e.super = e.user(t, user.PlatformRoleSuperadmin, account.Active)
	return e
}

// user creates a user with platform role role and the password
// testPassword, in status st (created active and moved there as the
// system when st is neither pending nor active).
func (e *env) user(t testing.TB, role user.PlatformRole, st account.Status) *ent.User {
	t.Helper()
	e.n++
	initial := user.StatusActive
	if st == account.Pending {
		initial = user.StatusPending
	}
	u, err := e.c.User.Create().SetEmail(fmt.Sprintf("u%03d-%s@example.com", e.n, role)).
		SetPlatformRole(role).SetStatus(initial).SetPasswordHash(e.hash).Save(sys())
	if err != nil {
		t.Fatalf("creating a user: %v", err)
	}
	if st != account.Pending && st != account.Active {
		if u, err = e.c.User.UpdateOneID(u.ID).SetStatus(user.Status(st)).Save(sys()); err != nil {
			t.Fatalf("moving a new user to %s: %v", st, err)
		}
	}
	return u
}

// as returns a context acting as u with its grants loaded.
func (e *env) as(t testing.TB, u *ent.User) context.Context {
	t.Helper()
	ctx, err := authz.NewContext(context.Background(), e.c, actor.User(u.ID, actor.PlatformRole(u.PlatformRole)))
	if err != nil {
		t.Fatalf("authz.NewContext(%s): %v", u.Email, err)
	}
	return ctx
}

func (e *env) login(t testing.TB, u *ent.User) *session.Tokens {
	t.Helper()
	tok, err := e.m.Login(context.Background(), session.LoginInput{Email: u.Email, Password: testPassword, Client: laptop})
	if err != nil {
		t.Fatalf("Login(%s): %v", u.Email, err)
	}
	return tok
}

// activities returns the activities about object id, oldest first.
func (e *env) activities(t testing.TB, id pulid.ID) []*ent.Activity {
	t.Helper()
	as, err := e.c.Activity.Query().Where(activity.ObjectID(string(id))).Order(ent.Asc(activity.FieldID)).All(sys())
	if err != nil {
		t.Fatalf("reading activities: %v", err)
	}
	return as
}

// verbs returns the verbs of the activities about id.
func (e *env) verbs(t testing.TB, id pulid.ID) []string {
	t.Helper()
	var vs []string
	for _, a := range e.activities(t, id) {
		vs = append(vs, a.Verb)
	}
	return vs
}

// state is what a refused change must leave as it was.
type state struct {
	Status, StatusReason, StatusChangedAt string
	BannedAt, BanReason, BanExpiresAt     string
	Activities, LiveSessions, LiveKeys    int
	AllActivities                         int
}

func ts(p *time.Time) string {
	if p == nil {
		return "<nil>"
	}
	return p.UTC().Format(time.RFC3339Nano)
}

func (e *env) state(t testing.TB, id pulid.ID) state {
	t.Helper()
	u, err := e.c.User.Get(sys(), id)
	if err != nil {
		t.Fatalf("reading user %s: %v", id, err)
	}
	all, err := e.c.Activity.Query().Count(sys())
	if err != nil {
		t.Fatal(err)
	}
	return state{
		Status: string(u.Status), StatusReason: u.StatusReason, StatusChangedAt: ts(u.StatusChangedAt),
		BannedAt: ts(u.BannedAt), BanReason: u.BanReason, BanExpiresAt: ts(u.BanExpiresAt),
		Activities:    len(e.activities(t, id)),
		LiveSessions:  e.c.Session.Query().Where(entsession.UserID(id), entsession.RevokedAtIsNil()).CountX(sys()),
		LiveKeys:      e.c.APIKey.Query().Where(apikey.UserID(id), apikey.RevokedAtIsNil()).CountX(sys()),
		AllActivities: all,
	}
}

var statuses = []account.Status{account.Pending, account.Active, account.Suspended, account.Disabled, account.Archived}

// graph is the lifecycle graph as specified, independent of the
// package's table: the verb of every allowed move. The other 14 of the
// 25 pairs are refused.
var graph = map[[2]account.Status]string{
	{account.Pending, account.Active}:     "user.activated",
	{account.Pending, account.Archived}:   "user.archived",
	{account.Active, account.Suspended}:   "user.suspended",
	{account.Active, account.Disabled}:    "user.disabled",
	{account.Active, account.Archived}:    "user.archived",
	{account.Suspended, account.Active}:   "user.reactivated",
	{account.Suspended, account.Disabled}: "user.disabled",
	{account.Suspended, account.Archived}: "user.archived",
	{account.Disabled, account.Active}:    "user.reactivated",
	{account.Disabled, account.Archived}:  "user.archived",
	{account.Archived, account.Active}:    "user.reactivated",
}

func TestAllowedMatchesTheGraph(t *testing.T) {
	n := 0
	for _, from := range statuses {
		var next []account.Status
		for _, to := range statuses {
			_, want := graph[[2]account.Status{from, to}]
			if got := account.Allowed(from, to); got != want {
				t.Errorf("Allowed(%s, %s) = %v, want %v", from, to, got, want)
			}
			if want {
				next = append(next, to)
				n++
			}
		}
		got := account.Next(from)
		slices.Sort(got)
		slices.Sort(next)
		if !slices.Equal(got, next) {
			t.Errorf("Next(%s) = %v, want %v", from, got, next)
		}
	}
	if n != 11 {
		t.Fatalf("the specified graph has %d edges, want 11", n)
	}
	// Next returns a copy.
	next := account.Next(account.Active)
	next[0] = account.Pending
	if account.Allowed(account.Active, account.Pending) {
		t.Error("changing the slice of Next changed the graph")
	}
}

// wantTransitionError checks that err is a *account.TransitionError from
// from to to that matches account.ErrTransition.
func wantTransitionError(t *testing.T, err error, from, to account.Status) {
	t.Helper()
	var te *account.TransitionError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v (%T), want *account.TransitionError", err, err)
	}
	if te.From != from || te.To != to {
		t.Errorf("TransitionError = %+v, want From %q To %q", te, from, to)
	}
	if !errors.Is(err, account.ErrTransition) {
		t.Errorf("errors.Is(%v, ErrTransition) = false", err)
	}
}

// TestTransitionUserAllPairs moves a fresh user along each of the 25
// (from, to) pairs with TransitionUser as a superadmin.
func TestTransitionUserAllPairs(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ctx := e.as(t, e.super)
		for _, from := range statuses {
			for _, to := range statuses {
				verb, allowed := graph[[2]account.Status{from, to}]
				t.Run(string(from)+"->"+string(to), func(t *testing.T) {
					u := e.user(t, user.PlatformRoleNone, from)
					before := e.state(t, u.ID)
					start := time.Now()
					reason := "  moving " + string(from) + " to " + string(to) + "  "
					got, err := account.TransitionUser(ctx, e.c, u.ID, to, reason)
					if !allowed {
						wantTransitionError(t, err, from, to)
						if got != nil {
							t.Errorf("a refused transition returned a user: %+v", got)
						}
						if after := e.state(t, u.ID); after != before {
							t.Errorf("a refused transition wrote: before %+v, after %+v", before, after)
						}
						return
					}
					if err != nil {
						t.Fatalf("TransitionUser(%s -> %s): %v", from, to, err)
					}
					row := e.c.User.GetX(sys(), u.ID)
					for _, r := range []*ent.User{got, row} {
						if r.Status != user.Status(to) || r.StatusReason != strings.TrimSpace(reason) {
							t.Errorf("user after = status %q reason %q, want %q %q", r.Status, r.StatusReason, to, strings.TrimSpace(reason))
						}
						if r.StatusChangedAt == nil || r.StatusChangedAt.Before(start.Add(-time.Second)) {
							t.Errorf("status_changed_at = %v, want a time after %v", r.StatusChangedAt, start)
						}
					}
					if ts(row.StatusChangedAt) == before.StatusChangedAt {
						t.Errorf("status_changed_at unchanged (%s)", before.StatusChangedAt)
					}
					acts := e.activities(t, u.ID)[before.Activities:]
					if len(acts) != 1 {
						t.Fatalf("activities of the transition = %v, want exactly one %s", e.verbs(t, u.ID)[before.Activities:], verb)
					}
					a := acts[0]
					if a.Verb != verb || a.ObjectType != "User" || a.ActorUserID == nil || *a.ActorUserID != e.super.ID {
						t.Errorf("activity = verb %q object %q actor %v, want %s on User by %s", a.Verb, a.ObjectType, a.ActorUserID, verb, e.super.ID)
					}
					wantData := fmt.Sprint(map[string]any{"changes": oldNew(map[string]any{"status": string(from)}, map[string]any{"status": string(to)}), "reason": strings.TrimSpace(reason)})
					if got := fmt.Sprint(a.Data); got != wantData {
						t.Errorf("activity data = %s, want %s", got, wantData)
					}
					if after := e.c.Activity.Query().CountX(sys()); after != before.AllActivities+1 {
						t.Errorf("activities in all = %d, want %d (one)", after, before.AllActivities+1)
					}
				})
			}
		}
	})
}

// TestClientWritesFollowTheGraph writes cf_users.status with the ent
// client directly, as the system and as a superadmin: the lifecycle hook
// refuses what the graph does not allow.
func TestClientWritesFollowTheGraph(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		for _, who := range []struct {
			name string
			ctx  func() context.Context
		}{
			{"system", sys},
			{"superadmin", func() context.Context { return e.as(t, e.super) }},
		} {
			for _, from := range statuses {
				for _, to := range statuses {
					_, allowed := graph[[2]account.Status{from, to}]
					t.Run(who.name+"/"+string(from)+"->"+string(to), func(t *testing.T) {
						u := e.user(t, user.PlatformRoleNone, from)
						before := e.state(t, u.ID)
						start := time.Now()
						got, err := e.c.User.UpdateOneID(u.ID).SetStatus(user.Status(to)).Save(who.ctx())
						if !allowed {
							wantTransitionError(t, err, from, to)
							if after := e.state(t, u.ID); after != before {
								t.Errorf("a refused client write wrote: before %+v, after %+v", before, after)
							}
							return
						}
						if err != nil {
							t.Fatalf("client write %s -> %s: %v", from, to, err)
						}
						if got.Status != user.Status(to) || got.StatusChangedAt == nil || got.StatusChangedAt.Before(start.Add(-time.Second)) {
							t.Errorf("after the write: status %q, status_changed_at %v", got.Status, got.StatusChangedAt)
						}
					})
				}
			}
		}
		t.Run("bulk update with one refused user", func(t *testing.T) {
			ok, refused := e.user(t, user.PlatformRoleNone, account.Active), e.user(t, user.PlatformRoleNone, account.Pending)
			b1, b2 := e.state(t, ok.ID), e.state(t, refused.ID)
			_, err := e.c.User.Update().Where(user.IDIn(ok.ID, refused.ID)).SetStatus(user.StatusSuspended).Save(sys())
			wantTransitionError(t, err, account.Pending, account.Suspended)
			if a1, a2 := e.state(t, ok.ID), e.state(t, refused.ID); a1 != b1 || a2 != b2 {
				t.Errorf("a refused bulk write changed users: %+v -> %+v, %+v -> %+v", b1, a1, b2, a2)
			}
		})
	})
}

// TestCreateUserInitialStatus: a new user starts pending or active, by
// the client and by session.Manager.CreateUser alike.
func TestCreateUserInitialStatus(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		for i, st := range statuses {
			t.Run(string(st), func(t *testing.T) {
				creatable := st == account.Pending || st == account.Active
				for j, create := range []struct {
					name string
					fn   func(email string) (*ent.User, error)
				}{
					{"client", func(email string) (*ent.User, error) {
						return e.c.User.Create().SetEmail(email).SetStatus(user.Status(st)).Save(sys())
					}},
					{"session.Manager.CreateUser", func(email string) (*ent.User, error) {
						s := user.Status(st)
						return e.m.CreateUser(e.as(t, e.super), e.c, ent.CreateUserInput{Email: email, Status: &s}, nil)
					}},
				} {
					email := fmt.Sprintf("new-%d-%d@example.com", i, j)
					u, err := create.fn(email)
					n := e.c.User.Query().Where(user.Email(email)).CountX(sys())
					if !creatable {
						wantTransitionError(t, err, "", st)
						if n != 0 {
							t.Errorf("%s: a refused create stored the user", create.name)
						}
						continue
					}
					if err != nil {
						t.Fatalf("%s: creating a %s user: %v", create.name, st, err)
					}
					if u.Status != user.Status(st) || u.StatusChangedAt == nil || n != 1 {
						t.Errorf("%s: created status %q, status_changed_at %v, rows %d", create.name, u.Status, u.StatusChangedAt, n)
					}
				}
			})
		}
	})
}

// wantNoReason checks that err refuses a missing reason.
func wantNoReason(t *testing.T, err error) {
	t.Helper()
	var verr *validation.Error
	if !errors.As(err, &verr) || verr.Field != "reason" {
		t.Fatalf("err = %v, want a *validation.Error for reason", err)
	}
	if !errors.Is(err, account.ErrNoReason) {
		t.Errorf("errors.Is(%v, ErrNoReason) = false", err)
	}
}

// TestReasonRequired: every operation refuses an empty or blank reason
// (and one over 500 characters) before writing anything.
func TestReasonRequired(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		ctx := e.as(t, e.super)
		tomorrow := time.Now().Add(24 * time.Hour)
		ops := []struct {
			name string
			// status of the target, and whether it is banned first
			from   account.Status
			banned bool
			do     func(id pulid.ID, reason string) error
		}{
			{"TransitionUser", account.Active, false, func(id pulid.ID, r string) error {
				_, err := account.TransitionUser(ctx, e.c, id, account.Suspended, r)
				return err
			}},
			{"BulkTransitionUsers", account.Active, false, func(id pulid.ID, r string) error {
				_, err := account.BulkTransitionUsers(ctx, e.c, []pulid.ID{id}, account.Suspended, r)
				return err
			}},
			{"BanUser", account.Active, false, func(id pulid.ID, r string) error {
				_, err := account.BanUser(ctx, e.c, id, r, &tomorrow)
				return err
			}},
			{"UnbanUser", account.Active, true, func(id pulid.ID, r string) error {
				_, err := account.UnbanUser(ctx, e.c, id, r)
				return err
			}},
		}
		for _, op := range ops {
			for _, reason := range []string{"", " ", "\t\n  ", strings.Repeat("x", 501)} {
				t.Run(fmt.Sprintf("%s/%q", op.name, reason[:min(len(reason), 5)]), func(t *testing.T) {
					u := e.user(t, user.PlatformRoleNone, op.from)
					e.login(t, u)
					if op.banned {
						if _, err := account.BanUser(ctx, e.c, u.ID, "to unban", nil); err != nil {
							t.Fatal(err)
						}
					}
					before := e.state(t, u.ID)
					err := op.do(u.ID, reason)
					if len(reason) > 500 {
						var verr *validation.Error
						if !errors.As(err, &verr) || verr.Field != "reason" || errors.Is(err, account.ErrNoReason) {
							t.Errorf("reason of 501 characters: err = %v, want a *validation.Error for reason (not ErrNoReason)", err)
						}
					} else {
						wantNoReason(t, err)
					}
					if after := e.state(t, u.ID); after != before {
						t.Errorf("a refused %s wrote: before %+v, after %+v", op.name, before, after)
					}
				})
			}
		}
		t.Run("exactly 500 characters", func(t *testing.T) {
			u := e.user(t, user.PlatformRoleNone, account.Active)
			got, err := account.TransitionUser(ctx, e.c, u.ID, account.Suspended, strings.Repeat("y", 500)+"   ")
			if err != nil || len(got.StatusReason) != 500 {
				t.Fatalf("reason of 500 characters: %v", err)
			}
		})
	})
}

// TestRankRule: platform:user_manage acts only on users of a lower
// platform rank (a superadmin on anyone); support, plain users and
// organization owners may not change a user's lifecycle. It holds for
// TransitionUser and BanUser alike.
func TestRankRule(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		admin := e.user(t, user.PlatformRoleAdmin, account.Active)
		support := e.user(t, user.PlatformRoleSupport, account.Active)
		plain := e.user(t, user.PlatformRoleNone, account.Active)
		owner := e.user(t, user.PlatformRoleNone, account.Active)
		org, err := tenancy.CreateOrganization(e.as(t, owner), e.c, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		denied := func(err error) bool { return errors.Is(err, privacy.Deny) }
		notFound := func(err error) bool { return ent.IsNotFound(err) }
		cases := []struct {
			name   string
			actor  *ent.User
			target user.PlatformRole
			member bool // the target is a member of owner's organization
			self   bool
			refuse func(error) bool // nil: allowed
			kind   string
		}{
			{"admin on a superadmin", admin, user.PlatformRoleSuperadmin, false, false, denied, "privacy deny"},
			{"admin on another admin", admin, user.PlatformRoleAdmin, false, false, denied, "privacy deny"},
			{"admin on itself", admin, "", false, true, denied, "privacy deny"},
			{"admin on support", admin, user.PlatformRoleSupport, false, false, nil, ""},
			{"admin on none", admin, user.PlatformRoleNone, false, false, nil, ""},
			{"superadmin on an admin", e.super, user.PlatformRoleAdmin, false, false, nil, ""},
			{"superadmin on another superadmin", e.super, user.PlatformRoleSuperadmin, false, false, nil, ""},
			{"support on none", support, user.PlatformRoleNone, false, false, denied, "privacy deny"},
			{"plain user on none", plain, user.PlatformRoleNone, false, false, notFound, "not found"},
			{"organization owner on a member", owner, user.PlatformRoleNone, true, false, denied, "privacy deny"},
		}
		for _, c := range cases {
			for _, op := range []string{"TransitionUser", "BanUser"} {
				t.Run(c.name+"/"+op, func(t *testing.T) {
					var target *ent.User
					if c.self {
						target = c.actor
					} else {
						target = e.user(t, c.target, account.Active)
					}
					if c.member {
						// The system adds the member: an owner invites (a direct
						// add is a platform act).
						if _, err := tenancy.AddMember(sys(), e.c, tenancy.AddMemberInput{OrganizationID: org.ID, UserID: target.ID}); err != nil {
							t.Fatal(err)
						}
					}
					before := e.state(t, target.ID)
					ctx := e.as(t, c.actor)
					var err error
					if op == "TransitionUser" {
						_, err = account.TransitionUser(ctx, e.c, target.ID, account.Suspended, "rank test")
					} else {
						_, err = account.BanUser(ctx, e.c, target.ID, "rank test", nil)
					}
					after := e.state(t, target.ID)
					if c.refuse == nil {
						if err != nil {
							t.Fatalf("%s: %v", op, err)
						}
						if after.Status == before.Status && after.BannedAt == before.BannedAt {
							t.Errorf("%s succeeded but changed nothing: %+v", op, after)
						}
						return
					}
					if !c.refuse(err) {
						t.Errorf("%s: err = %v, want %s", op, err, c.kind)
					}
					if after != before {
						t.Errorf("a refused %s wrote: before %+v, after %+v", op, before, after)
					}
				})
			}
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
