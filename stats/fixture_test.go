package stats_test

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/invitation"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
)

// Built-in roles (permission.*RoleID).
const (
	ownerRole  pulid.ID = "rol_00000000000000000000000001"
	adminRole  pulid.ID = "rol_00000000000000000000000002"
	memberRole pulid.ID = "rol_00000000000000000000000003"
	viewerRole pulid.ID = "rol_00000000000000000000000004"
)

// quiet returns a context acting as the system whose writes the audit
// hook does not record: fixtures add no activity of their own, so that
// the tests count exactly the activities they insert.
func quiet() context.Context {
	return trail.Domain(actor.NewContext(context.Background(), actor.System("test")))
}

// env is one fresh, migrated database.
type env struct {
	db    testdb.Target
	c     *ent.Client
	sqlDB *sql.DB
	now   time.Time
	seq   int
}

func newEnv(t testing.TB, db testdb.Target) *env {
	t.Helper()
	c, sqlDB := testdb.Migrated(t, db)
	return &env{db: db, c: c, sqlDB: sqlDB, now: time.Now().UTC()}
}

// q returns the placeholder of the n-th argument (1-based).
func (e *env) q(n int) string {
	if e.db.Dialect == dialect.Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// user creates a user (active, platform role none unless mod changes it).
// A status a user cannot start with (suspended, disabled, archived) is
// written after the insert, past the lifecycle rules.
func (e *env) user(t testing.TB, email string, mod func(*ent.UserCreate)) *ent.User {
	t.Helper()
	b := e.c.User.Create().SetEmail(email).SetStatus(user.StatusActive).SetPlatformRole(user.PlatformRoleNone)
	if mod != nil {
		mod(b)
	}
	st, _ := b.Mutation().Status()
	if st != user.StatusActive && st != user.StatusPending {
		b.SetStatus(user.StatusActive)
	}
	u, err := b.Save(quiet())
	if err != nil {
		t.Fatalf("creating user %s: %v", email, err)
	}
	if u.Status != st {
		e.exec(t, "UPDATE cf_users SET status = "+e.q(1)+" WHERE id = "+e.q(2), string(st), string(u.ID))
		u.Status = st
	}
	return u
}

// exec runs a statement of a fixture.
func (e *env) exec(t testing.TB, query string, args ...any) {
	t.Helper()
	if _, err := e.sqlDB.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (e *env) org(t testing.TB, slug string) *ent.Organization {
	t.Helper()
	o, err := e.c.Organization.Create().SetName(slug).SetSlug(slug).Save(quiet())
	if err != nil {
		t.Fatalf("creating organization %s: %v", slug, err)
	}
	return o
}

// member adds u to org with status st and roles.
func (e *env) member(t testing.TB, org *ent.Organization, u *ent.User, st membership.Status, roles ...pulid.ID) *ent.Membership {
	t.Helper()
	create := st
	if st == membership.StatusSuspended {
		create = membership.StatusActive // a membership starts invited or active
	}
	m, err := e.c.Membership.Create().SetOrganizationID(org.ID).SetUserID(u.ID).SetStatus(create).AddRoleIDs(roles...).Save(quiet())
	if err != nil {
		t.Fatalf("adding %s to %s: %v", u.Email, org.Slug, err)
	}
	if st != create {
		e.exec(t, "UPDATE cf_memberships SET status = "+e.q(1)+" WHERE id = "+e.q(2), string(st), string(m.ID))
		m.Status = st
	}
	return m
}

// session opens a session of u (in org when not nil), neither revoked nor
// expired unless mod changes it.
func (e *env) session(t testing.TB, u *ent.User, org *ent.Organization, mod func(*ent.SessionCreate)) {
	t.Helper()
	b := e.c.Session.Create().SetUserID(u.ID).SetLastUsedAt(e.now).
		SetIdleExpiresAt(e.now.Add(time.Hour)).SetExpiresAt(e.now.Add(24 * time.Hour))
	if org != nil {
		b.SetOrganizationID(org.ID)
	}
	if mod != nil {
		mod(b)
	}
	if err := b.Exec(quiet()); err != nil {
		t.Fatalf("creating a session of %s: %v", u.Email, err)
	}
}

// apiKey stores an API key of owner (of org when not nil).
func (e *env) apiKey(t testing.TB, owner *ent.User, org *ent.Organization, mod func(*ent.APIKeyCreate)) {
	t.Helper()
	tok, prefix, err := secret.NewToken("cfk")
	if err != nil {
		t.Fatal(err)
	}
	b := e.c.APIKey.Create().SetUserID(owner.ID).SetName("test").SetPrefix(prefix).
		SetSecretHash(secret.DigestOf(tok)).SetScopes([]string{actor.ScopeAll})
	if org != nil {
		b.SetOrganizationID(org.ID)
	}
	if mod != nil {
		mod(b)
	}
	if err := b.Exec(quiet()); err != nil {
		t.Fatalf("creating an API key: %v", err)
	}
}

func (e *env) invitation(t testing.TB, org *ent.Organization, st invitation.Status, expires time.Time) {
	t.Helper()
	err := e.c.Invitation.Create().SetOrganizationID(org.ID).
		SetEmail(fmt.Sprintf("i%d@example.com", time.Now().UnixNano())).
		SetTokenDigest(secret.DigestOf(string(pulid.New("inv")))).
		SetStatus(st).SetExpiresAt(expires).AddRoleIDs(memberRole).Exec(quiet())
	if err != nil {
		t.Fatalf("creating an invitation: %v", err)
	}
}

// act inserts an activity with raw SQL, as the trail would have written
// it at time at: of org (nil: of no organization), by actorUser (nil: the
// system). Its seq is far above those the trail hands out, so that the
// trail can still write its own rows to the chain.
func (e *env) act(t testing.TB, org *ent.Organization, actorUser *ent.User, verb string, at time.Time) {
	t.Helper()
	e.seq++
	var orgID, chain, actorType, userID any = nil, "platform", "system", nil
	if org != nil {
		orgID, chain = string(org.ID), string(org.ID)
	}
	if actorUser != nil {
		actorType, userID = "user", string(actorUser.ID)
	}
	ph := make([]string, 8)
	for i := range ph {
		ph[i] = e.q(i + 1)
	}
	_, err := e.sqlDB.Exec(`INSERT INTO cf_activities (id, created_at, organization_id, actor_type, actor_user_id, verb, chain, seq, prev_hash, hash)
		VALUES (`+strings.Join(ph, ", ")+`, '', '')`,
		string(pulid.New("act")), at, orgID, actorType, userID, verb, chain, 1_000_000_000+e.seq)
	if err != nil {
		t.Fatalf("inserting activity %s: %v", verb, err)
	}
}

// as returns a context acting as a, with its grants loaded.
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

func day(s string) time.Time {
	d, err := time.Parse("2006-01-02T15:04:05Z07:00", s)
	if err != nil {
		panic(err)
	}
	return d
}
