package preference_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/preference"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/tenancy"
)

func sys() context.Context { return actor.NewContext(context.Background(), actor.System("test")) }

// env is a migrated database with a world: organization Acme with its
// owner, an admin, a member and a viewer; organization Other of outsider;
// a platform admin (platform:settings_manage) and a platform superadmin.
type env struct {
	db testdb.Target
	c  *ent.Client

	owner, admin, member, viewer, outsider, platform, super *ent.User
	org, other                                              *ent.Organization
}

func newEnv(t *testing.T, db testdb.Target) *env {
	t.Helper()
	c, _ := testdb.Migrated(t, db)
	e := &env{db: db, c: c}
	mk := func(email string, role user.PlatformRole) *ent.User {
		return c.User.Create().SetEmail(email).SetStatus(user.StatusActive).SetPlatformRole(role).SaveX(sys())
	}
	e.owner = mk("owner@acme.com", user.PlatformRoleNone)
	e.admin = mk("admin@acme.com", user.PlatformRoleNone)
	e.member = mk("member@acme.com", user.PlatformRoleNone)
	e.viewer = mk("viewer@acme.com", user.PlatformRoleNone)
	e.outsider = mk("out@other.com", user.PlatformRoleNone)
	e.platform = mk("platform@cf.com", user.PlatformRoleAdmin)
	e.super = mk("root@cf.com", user.PlatformRoleSuperadmin)
	var err error
	if e.org, err = tenancy.CreateOrganization(e.as(t, e.owner), c, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"}); err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	for u, r := range map[*ent.User]pulid.ID{e.admin: permission.AdminRoleID, e.member: permission.MemberRoleID, e.viewer: permission.ViewerRoleID} {
		if _, err := tenancy.AddMember(sys(), c, tenancy.AddMemberInput{OrganizationID: e.org.ID, UserID: u.ID, RoleIDs: []pulid.ID{r}}); err != nil {
			t.Fatalf("AddMember %s: %v", u.Email, err)
		}
	}
	if e.other, err = tenancy.CreateOrganization(e.as(t, e.outsider), c, ent.CreateOrganizationInput{Name: "Other", Slug: "other"}); err != nil {
		t.Fatalf("CreateOrganization other: %v", err)
	}
	return e
}

// as returns a context acting as u, grants resolved.
func (e *env) as(t testing.TB, u *ent.User) context.Context {
	t.Helper()
	ctx, err := authz.NewContext(context.Background(), e.c, actor.User(u.ID, actor.PlatformRole(u.PlatformRole)))
	if err != nil {
		t.Fatalf("authz.NewContext(%s): %v", u.Email, err)
	}
	return ctx
}

// set sets key at a level as the system and returns the row.
func (e *env) set(t testing.TB, level preference.Level, org, usr pulid.ID, key, value string) *ent.Preference {
	t.Helper()
	p, err := preference.Set(sys(), e.c, preference.SetInput{Level: level, OrganizationID: org, UserID: usr, Key: key, Value: json.RawMessage(value)})
	if err != nil {
		t.Fatalf("Set(%s %s = %s): %v", level, key, value, err)
	}
	return p
}

// activities returns the activities of the verbs about object id, oldest
// first.
func (e *env) activities(t testing.TB, id pulid.ID, verbs ...string) []*ent.Activity {
	t.Helper()
	return e.c.Activity.Query().Where(activity.VerbIn(verbs...), activity.ObjectID(string(id))).
		Order(ent.Asc(activity.FieldCreatedAt), ent.Asc(activity.FieldID)).AllX(sys())
}

// allActivities counts every activity about preferences, by verb.
func (e *env) allActivities(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, a := range e.c.Activity.Query().Where(activity.ObjectType("Preference")).AllX(sys()) {
		out[a.Verb]++
	}
	return out
}

func ptr(i int) *int { return &i }

// sameJSON reports whether two JSON texts hold equal values.
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("not JSON: %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("not JSON: %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// asJSON encodes v (activity data read back) for comparisons.
func asJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parallel is how many writers the concurrency tests start at once.
const parallel = 50

// race runs f(0) … f(n-1) in n goroutines released together and returns
// their errors by index.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func value(i int) json.RawMessage { return json.RawMessage(fmt.Sprintf(`{"writer":%d}`, i)) }
