package features_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/preference"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/features"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/tenancy"
)

func sys() context.Context { return actor.NewContext(context.Background(), actor.System("test")) }

type env struct {
	c     *ent.Client
	admin *ent.User // platform admin
	user  *ent.User // nobody special
}

func newEnv(t testing.TB, db testdb.Target) *env {
	t.Helper()
	c, _ := testdb.Migrated(t, db)
	e := &env{c: c}
	e.admin = e.newUser(t, "root@example.com", user.PlatformRoleAdmin)
	e.user = e.newUser(t, "ada@example.com", user.PlatformRoleNone)
	return e
}

func (e *env) newUser(t testing.TB, email string, role user.PlatformRole) *ent.User {
	t.Helper()
	u, err := e.c.User.Create().SetEmail(email).SetStatus(user.StatusActive).SetPlatformRole(role).Save(sys())
	if err != nil {
		t.Fatalf("creating %s: %v", email, err)
	}
	return u
}

// apiKey stores a personal API key of u (the activities of a key name
// its row) and returns its ID.
func (e *env) apiKey(t testing.TB, u *ent.User) pulid.ID {
	t.Helper()
	tok, prefix, err := secret.NewToken("cfk")
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.c.APIKey.Create().SetUserID(u.ID).SetName("test").SetPrefix(prefix).
		SetSecretHash(secret.DigestOf(tok)).SetScopes([]string{actor.ScopeAll}).Save(sys())
	if err != nil {
		t.Fatalf("creating an API key: %v", err)
	}
	return k.ID
}

func (e *env) as(t testing.TB, a *actor.Actor) context.Context {
	t.Helper()
	ctx, err := authz.NewContext(context.Background(), e.c, a)
	if err != nil {
		t.Fatalf("authz.NewContext(%s): %v", a, err)
	}
	return ctx
}

func (e *env) asUser(t testing.TB, u *ent.User) context.Context {
	t.Helper()
	return e.as(t, actor.User(u.ID, actor.PlatformRole(u.PlatformRole)))
}

func (e *env) activities(t testing.TB, verbs ...string) []*ent.Activity {
	t.Helper()
	return e.c.Activity.Query().Where(activity.VerbIn(verbs...)).
		Order(ent.Asc(activity.FieldCreatedAt), ent.Asc(activity.FieldID)).AllX(sys())
}

// row returns the system preference of flow f, or nil.
func (e *env) row(t testing.TB, f features.Flow) *ent.Preference {
	t.Helper()
	p, err := e.c.Preference.Query().Where(preference.ScopeEQ(preference.ScopeSystem), preference.Key("features."+string(f))).Only(sys())
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// states returns the states of g by flow.
func states(t testing.TB, g *features.Gates) map[features.Flow]features.State {
	t.Helper()
	ss, err := g.States(context.Background())
	if err != nil {
		t.Fatalf("States: %v", err)
	}
	out := map[features.Flow]features.State{}
	var order []features.Flow
	for _, s := range ss {
		out[s.Flow] = s
		order = append(order, s.Flow)
	}
	if !slices.Equal(order, features.Flows) {
		t.Errorf("States in the order %v, want %v", order, features.Flows)
	}
	return out
}

func wantState(t testing.TB, g *features.Gates, f features.Flow, on bool, source string) {
	t.Helper()
	if s := states(t, g)[f]; s.Enabled != on || s.Source != source {
		t.Errorf("state of %s = %+v, want enabled %t from %s", f, s, on, source)
	}
	got, err := g.Enabled(context.Background(), f)
	if err != nil || got != on {
		t.Errorf("Enabled(%s) = %t, %v; want %t", f, got, err, on)
	}
	err = g.Check(context.Background(), f)
	var de *features.DisabledError
	switch {
	case on && err != nil:
		t.Errorf("Check(%s) = %v, want nil", f, err)
	case !on && (!errors.As(err, &de) || de.Flow != f || !errors.Is(err, features.ErrDisabled)):
		t.Errorf("Check(%s) = %v, want a *DisabledError for %s", f, err, f)
	}
}

func ptr(b bool) *bool { return &b }

// Without configuration: signup off, the others on; the same for a nil
// Gates and for Gates without a database.
func TestDefaults(t *testing.T) {
	if d := features.Defaults(); len(d) != 3 || d[features.Signup] || !d[features.Invitations] || !d[features.PasswordReset] {
		t.Errorf("Defaults() = %v", d)
	}
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		for name, g := range map[string]*features.Gates{
			"gates over the database": features.New(e.c, nil),
			"gates without a client":  features.New(nil, nil),
		} {
			t.Run(name, func(t *testing.T) {
				wantState(t, g, features.Signup, false, "configuration")
				wantState(t, g, features.Invitations, true, "configuration")
				wantState(t, g, features.PasswordReset, true, "configuration")
			})
		}
		var none *features.Gates
		if err := none.Check(context.Background(), features.Signup); !errors.Is(err, features.ErrDisabled) {
			t.Errorf("nil Gates: Check(signup) = %v, want disabled", err)
		}
		for _, f := range []features.Flow{features.Invitations, features.PasswordReset} {
			if err := none.Check(context.Background(), f); err != nil {
				t.Errorf("nil Gates: Check(%s) = %v, want nil", f, err)
			}
		}
	})
}

// The configuration overrides the defaults, flow by flow.
func TestConfiguration(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		for _, tt := range []struct {
			name string
			cfg  map[features.Flow]bool
			want map[features.Flow]bool
		}{
			{"signup on", map[features.Flow]bool{features.Signup: true},
				map[features.Flow]bool{features.Signup: true, features.Invitations: true, features.PasswordReset: true}},
			{"everything off", map[features.Flow]bool{features.Signup: false, features.Invitations: false, features.PasswordReset: false},
				map[features.Flow]bool{features.Signup: false, features.Invitations: false, features.PasswordReset: false}},
			{"password reset off", map[features.Flow]bool{features.PasswordReset: false},
				map[features.Flow]bool{features.Signup: false, features.Invitations: true, features.PasswordReset: false}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				cfg := map[features.Flow]bool{}
				for k, v := range tt.cfg {
					cfg[k] = v
				}
				g := features.New(e.c, cfg)
				// The caller's map is not kept.
				for k := range cfg {
					cfg[k] = !cfg[k]
				}
				for f, on := range tt.want {
					wantState(t, g, f, on, "configuration")
				}
			})
		}
	})
}

func TestParse(t *testing.T) {
	for _, f := range features.Flows {
		if got, err := features.Parse(string(f)); err != nil || got != f {
			t.Errorf("Parse(%q) = %q, %v", f, got, err)
		}
	}
	for _, s := range []string{"", "Signup", "SIGNUP", "passwordReset", "mfa"} {
		if _, err := features.Parse(s); !errors.Is(err, features.ErrUnknownFlow) {
			t.Errorf("Parse(%q): %v, want ErrUnknownFlow", s, err)
		}
	}
	g := features.New(nil, nil)
	if _, err := g.Enabled(context.Background(), "mfa"); !errors.Is(err, features.ErrUnknownFlow) {
		t.Errorf("Enabled(mfa): %v, want ErrUnknownFlow", err)
	}
	if err := g.Check(context.Background(), "mfa"); !errors.Is(err, features.ErrUnknownFlow) {
		t.Errorf("Check(mfa): %v, want ErrUnknownFlow", err)
	}
}

// A platform admin switches a flow at run time: the setting wins over the
// configuration, every Gates on the database sees it, it is a system
// preference everyone may read, each change is recorded, and nil returns
// to the configuration.
func TestSet(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		g := features.New(e.c, map[features.Flow]bool{features.Invitations: true})
		other := features.New(e.c, map[features.Flow]bool{features.Signup: true}) // another server
		ctx := e.asUser(t, e.admin)

		st, err := g.Set(ctx, e.c, features.Signup, ptr(true))
		if err != nil {
			t.Fatalf("Set(signup, on): %v", err)
		}
		if st != (features.State{Flow: features.Signup, Enabled: true, Source: "runtime"}) {
			t.Errorf("Set returned %+v, want signup on from runtime", st)
		}
		wantState(t, g, features.Signup, true, "runtime")
		wantState(t, other, features.Signup, true, "runtime")
		wantState(t, g, features.Invitations, true, "configuration")

		p := e.row(t, features.Signup)
		if p == nil || p.Scope != preference.ScopeSystem || p.OrganizationID != nil || p.UserID != nil || string(p.Value) != "true" || p.Version != 1 {
			t.Fatalf("preference row %+v, want a system row with value true, version 1", p)
		}
		// System preferences are readable by anyone signed in.
		seen, err := e.c.Preference.Query().Where(preference.ID(p.ID)).Only(e.asUser(t, e.user))
		if err != nil || string(seen.Value) != "true" {
			t.Errorf("the setting as a plain user: %v, %v", seen, err)
		}
		if _, err := e.c.Preference.Query().Where(preference.ID(p.ID)).Only(context.Background()); !errors.Is(err, privacy.Deny) {
			t.Errorf("the setting without an actor: %v, want privacy.Deny", err)
		}

		st, err = g.Set(ctx, e.c, features.Signup, ptr(false))
		if err != nil || st.Enabled || st.Source != "runtime" {
			t.Fatalf("Set(signup, off) = %+v, %v", st, err)
		}
		wantState(t, g, features.Signup, false, "runtime")
		wantState(t, other, features.Signup, false, "runtime") // wins over its configuration
		if p := e.row(t, features.Signup); p == nil || string(p.Value) != "false" || p.Version != 2 {
			t.Errorf("preference row after an update %+v, want value false, version 2", p)
		}

		st, err = g.Set(ctx, e.c, features.PasswordReset, ptr(false))
		if err != nil || st != (features.State{Flow: features.PasswordReset, Enabled: false, Source: "runtime"}) {
			t.Fatalf("Set(password_reset, off) = %+v, %v", st, err)
		}
		wantState(t, g, features.PasswordReset, false, "runtime")

		st, err = g.Set(ctx, e.c, features.Signup, nil)
		if err != nil || st != (features.State{Flow: features.Signup, Enabled: false, Source: "configuration"}) {
			t.Fatalf("Set(signup, nil) = %+v, %v; want signup back to its configuration (off)", st, err)
		}
		wantState(t, other, features.Signup, true, "configuration")
		wantState(t, g, features.PasswordReset, false, "runtime")
		if p := e.row(t, features.Signup); p != nil {
			t.Errorf("preference row %+v after a reset, want none", p)
		}
		// Resetting what is not set changes and records nothing.
		if _, err := g.Set(ctx, e.c, features.Signup, nil); err != nil {
			t.Fatalf("Set(signup, nil) again: %v", err)
		}

		acts := e.activities(t, "feature.enabled", "feature.disabled", "feature.reset")
		var got []string
		for _, a := range acts {
			got = append(got, a.Verb+":"+a.Data["flow"].(string))
			if a.ActorUserID == nil || *a.ActorUserID != e.admin.ID || a.ObjectType != "Feature" {
				t.Errorf("activity %s by %v on %s, want by the admin on Feature", a.Verb, a.ActorUserID, a.ObjectType)
			}
		}
		want := []string{"feature.enabled:signup", "feature.disabled:signup", "feature.disabled:password_reset", "feature.reset:signup"}
		if !slices.Equal(got, want) {
			t.Errorf("activities %v, want %v", got, want)
		}
		if n := len(e.activities(t, "preference.created", "preference.updated", "preference.deleted")); n != 0 {
			t.Errorf("%d generic preference activities besides the feature ones", n)
		}

		// A value that is not a boolean is ignored.
		e.c.Preference.Create().SetScope(preference.ScopeSystem).SetKey("features.invitations").SetValue(json.RawMessage(`"off"`)).ExecX(sys())
		wantState(t, g, features.Invitations, true, "configuration")
	})
}

// Only a platform admin (platform:settings_manage, across organizations)
// or the system switches flows.
func TestSetRefusals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		g := features.New(e.c, nil)
		owner := e.newUser(t, "olga@example.com", user.PlatformRoleNone)
		orgAdmin := e.newUser(t, "adam@example.com", user.PlatformRoleNone)
		support := e.newUser(t, "sue@example.com", user.PlatformRoleSupport)
		o, err := tenancy.CreateOrganization(e.asUser(t, owner), e.c, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []struct {
			u    *ent.User
			role pulid.ID
		}{{orgAdmin, permission.AdminRoleID}, {e.admin, permission.MemberRoleID}} {
			if _, err := tenancy.AddMember(sys(), e.c, tenancy.AddMemberInput{OrganizationID: o.ID, UserID: m.u.ID, RoleIDs: []pulid.ID{m.role}}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tt := range []struct {
			name string
			ctx  context.Context
		}{
			{"a plain user", e.asUser(t, e.user)},
			{"an organization owner", e.asUser(t, owner)},
			{"an organization admin", e.asUser(t, orgAdmin)},
			{"platform support", e.asUser(t, support)},
			{"a platform admin acting in an organization", e.as(t, actor.User(e.admin.ID, actor.PlatformAdmin).WithOrganization(o.ID))},
			{"a platform admin's personal key without the scope", e.as(t, actor.APIKey(pulid.New("key"), e.admin.ID, actor.PlatformAdmin, "", []string{permission.PlatformRead}))},
			{"a platform admin whose grants are not loaded", actor.NewContext(context.Background(), actor.User(e.admin.ID, actor.PlatformAdmin))},
			{"nobody", context.Background()},
		} {
			t.Run(tt.name, func(t *testing.T) {
				for _, v := range []*bool{ptr(true), ptr(false), nil} {
					if st, err := g.Set(tt.ctx, e.c, features.Signup, v); !errors.Is(err, privacy.Deny) || st != (features.State{}) {
						t.Errorf("Set(signup, %v) = %+v, %v; want privacy.Deny", v, st, err)
					}
				}
				if p := e.row(t, features.Signup); p != nil {
					t.Errorf("a refused Set wrote %+v", p)
				}
			})
		}
		if acts := e.activities(t, "feature.enabled", "feature.disabled", "feature.reset"); len(acts) != 0 {
			t.Errorf("%d feature activities for refused Sets", len(acts))
		}
		if _, err := g.Set(e.asUser(t, e.admin), e.c, "mfa", ptr(true)); !errors.Is(err, features.ErrUnknownFlow) {
			t.Errorf("Set(mfa): %v, want ErrUnknownFlow", err)
		}

		for _, tt := range []struct {
			name string
			ctx  context.Context
		}{
			{"a platform superadmin", e.asUser(t, e.newUser(t, "super@example.com", user.PlatformRoleSuperadmin))},
			{"a platform admin's personal key with every scope", e.as(t, actor.APIKey(e.apiKey(t, e.admin), e.admin.ID, actor.PlatformAdmin, "", []string{actor.ScopeAll}))},
			{"the system", sys()},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if st, err := g.Set(tt.ctx, e.c, features.Signup, ptr(true)); err != nil || !st.Enabled {
					t.Fatalf("Set(signup, on) = %+v, %v", st, err)
				}
				if _, err := g.Set(tt.ctx, e.c, features.Signup, nil); err != nil {
					t.Fatalf("Set(signup, nil): %v", err)
				}
			})
		}
	})
}

// Set joins the caller's transaction: it answers the state it set, and a
// rollback undoes the setting and its activity.
func TestSetInTransaction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		g := features.New(e.c, nil)
		ctx := e.asUser(t, e.admin)
		for _, commit := range []bool{false, true} {
			tx, err := e.c.Tx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st, err := g.Set(ctx, tx.Client(), features.Signup, ptr(true))
			if err != nil {
				_ = tx.Rollback()
				t.Fatalf("Set in a transaction: %v", err)
			}
			if st != (features.State{Flow: features.Signup, Enabled: true, Source: "runtime"}) {
				t.Errorf("Set in a transaction returned %+v, want signup on from runtime", st)
			}
			if commit {
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				wantState(t, g, features.Signup, true, "runtime")
				if n := len(e.activities(t, "feature.enabled")); n != 1 {
					t.Errorf("%d feature.enabled after the commit, want 1", n)
				}
				continue
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			wantState(t, g, features.Signup, false, "configuration")
			if n := len(e.activities(t, "feature.enabled")); n != 0 {
				t.Errorf("%d feature.enabled after a rollback, want 0", n)
			}
		}
	})
}

// 50 switches of one flow at once, by platform admins: each one either
// applies or is refused as a concurrent change, never a database error;
// one setting row remains, and the recorded changes match the successes.
func TestConcurrentSet(t *testing.T) {
	if !slices.Contains(testdb.Dialects(), dialect.Postgres) {
		t.Skipf("no PostgreSQL (%s not set): races need a database with concurrent writers", testdb.EnvPostgres)
	}
	const parallel = 50
	e := newEnv(t, testdb.New(t, dialect.Postgres))
	g := features.New(e.c, nil)
	ctx := e.asUser(t, e.admin)
	for _, f := range []features.Flow{features.Signup, features.Invitations} {
		errs := make([]error, parallel)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range parallel {
			wg.Go(func() {
				<-start
				_, errs[i] = g.Set(ctx, e.c, f, ptr(i%2 == 0))
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, authz.ErrConcurrentUpdate):
			default:
				t.Errorf("%s: Set %d: %v, want nil or authz.ErrConcurrentUpdate", f, i, err)
			}
		}
		n := e.c.Preference.Query().Where(preference.ScopeEQ(preference.ScopeSystem), preference.Key("features."+string(f))).CountX(sys())
		if n != 1 {
			t.Errorf("%s: %d setting rows, want 1", f, n)
		}
		acts := e.c.Activity.Query().Where(activity.VerbIn("feature.enabled", "feature.disabled")).AllX(sys())
		mine := 0
		for _, a := range acts {
			if a.Data["flow"] == string(f) {
				mine++
			}
		}
		if ok == 0 || mine != ok {
			t.Errorf("%s: %d Sets succeeded and %d recorded, want the same, at least 1", f, ok, mine)
		}
		if p := e.row(t, f); p != nil && p.Version != ok {
			t.Errorf("%s: version %d after %d successful Sets, want %d", f, p.Version, ok, ok)
		}
	}

	// On, off and back to the configuration at once, over a set flow.
	values := []*bool{ptr(true), ptr(false), nil}
	for round := range 3 {
		errs := make([]error, parallel)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range parallel {
			wg.Go(func() {
				<-start
				_, errs[i] = g.Set(ctx, e.c, features.Signup, values[i%3])
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil && !errors.Is(err, authz.ErrConcurrentUpdate) {
				t.Errorf("round %d: Set %d (%v): %v, want nil or authz.ErrConcurrentUpdate", round, i, values[i%3], err)
			}
		}
		p := e.row(t, features.Signup)
		st := states(t, g)[features.Signup]
		switch {
		case p == nil && st.Source != "configuration":
			t.Errorf("round %d: no setting row, but the state is %+v", round, st)
		case p != nil && (st.Source != "runtime" || string(p.Value) != map[bool]string{true: "true", false: "false"}[st.Enabled]):
			t.Errorf("round %d: setting %s, but the state is %+v", round, p.Value, st)
		}
	}
}
