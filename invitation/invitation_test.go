package invitation_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	entinv "github.com/cf/identity/ent/invitation"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/role"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/features"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/invitation"
	"github.com/cf/identity/mail"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/session"
	"github.com/cf/identity/tenancy"
	"github.com/cf/identity/validation"
)

// newPassword passes the default password rules (12 code points or more,
// not the user's own words).
const newPassword = "plum-kettle-orbit-7391"

func sys() context.Context { return actor.NewContext(context.Background(), actor.System("test")) }

// capture is the Mailer of the tests: it keeps what it is given.
type capture struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (c *capture) Send(_ context.Context, m mail.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return nil
}

// take returns the messages captured so far and forgets them.
func (c *capture) take() []mail.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.msgs
	c.msgs = nil
	return out
}

// clock is the Config.Now of the tests: it moves only when told to, in
// whole seconds, so that stored times compare exactly on both dialects.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a migrated database with an invitation Service over it and a
// world: organization Acme (owner, admin, member), and organization Other
// of the user out, with a custom role.
type env struct {
	db       testdb.Target
	c        *ent.Client
	sql      *sql.DB
	svc      *invitation.Service
	sessions *session.Manager
	courier  *mail.Courier
	box      *capture
	clock    *clock

	owner, admin, member, out *ent.User
	org, other                *ent.Organization
	otherRole                 *ent.Role

	mu     sync.Mutex
	tokens []string // every token mailed, for the secrets scan
}

// newEnv migrates db and builds the Service and the world; opts change the
// session config.
func newEnv(t *testing.T, db testdb.Target, opts ...func(*session.Config)) *env {
	t.Helper()
	c, sqlDB := testdb.Migrated(t, db)
	e := &env{db: db, c: c, sql: sqlDB, box: &capture{},
		clock: &clock{now: time.Now().UTC().Truncate(time.Second)}}

	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	cfg := session.DefaultConfig()
	cfg.Argon2 = secret.MinArgon2
	cfg.MasterKey = key
	cfg.Now = e.clock.Now
	for _, o := range opts {
		o(&cfg)
	}
	sessions, err := session.New(context.Background(), c, cfg)
	if err != nil {
		t.Fatalf("session.New: %v", err)
	}
	e.sessions = sessions
	outbox := mail.NewOutbox(e.box, slog.New(slog.DiscardHandler), mail.OutboxOptions{Backoff: time.Millisecond})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := outbox.Close(ctx); err != nil {
			t.Errorf("outbox.Close: %v", err)
		}
	})
	if e.courier, err = mail.NewCourier(outbox, mail.CourierOptions{PublicURL: "https://app.example.com"}); err != nil {
		t.Fatalf("mail.NewCourier: %v", err)
	}
	if e.svc, err = invitation.New(c, invitation.Config{Sessions: sessions, Mail: e.courier, Now: e.clock.Now}); err != nil {
		t.Fatalf("invitation.New: %v", err)
	}

	mk := func(email string) *ent.User {
		return c.User.Create().SetEmail(email).SetStatus(user.StatusActive).SaveX(sys())
	}
	e.owner, e.admin, e.member, e.out = mk("owner@a.com"), mk("admin@a.com"), mk("member@a.com"), mk("out@b.com")
	if e.org, err = tenancy.CreateOrganization(e.as(t, e.owner), c, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"}); err != nil {
		t.Fatalf("CreateOrganization: %v", err)
	}
	if _, err := tenancy.AddMember(sys(), c, tenancy.AddMemberInput{OrganizationID: e.org.ID, UserID: e.admin.ID, RoleIDs: []pulid.ID{permission.AdminRoleID}}); err != nil {
		t.Fatalf("AddMember admin: %v", err)
	}
	if _, err := tenancy.AddMember(sys(), c, tenancy.AddMemberInput{OrganizationID: e.org.ID, UserID: e.member.ID}); err != nil {
		t.Fatalf("AddMember member: %v", err)
	}
	if e.other, err = tenancy.CreateOrganization(e.as(t, e.out), c, ent.CreateOrganizationInput{Name: "Other", Slug: "other"}); err != nil {
		t.Fatalf("CreateOrganization other: %v", err)
	}
	lvl := 10
	if e.otherRole, err = tenancy.CreateRole(e.as(t, e.out), c, ent.CreateRoleInput{OrganizationID: &e.other.ID, Key: "other_team", Name: "Other team", Level: &lvl}); err != nil {
		t.Fatalf("CreateRole other: %v", err)
	}
	// After every test: no token is stored in plaintext anywhere.
	t.Cleanup(func() {
		for _, f := range e.plaintextTokens(t) {
			t.Errorf("secrets: %s", f)
		}
	})
	return e
}

func (e *env) as(t *testing.T, u *ent.User) context.Context {
	t.Helper()
	ctx, err := authz.NewContext(context.Background(), e.c, actor.User(u.ID, actor.PlatformRole(u.PlatformRole)))
	if err != nil {
		t.Fatalf("authz.NewContext(%s): %v", u.Email, err)
	}
	return ctx
}

// sent flushes the outbox and returns the messages sent since the last
// call, remembering their tokens.
func (e *env) sent(t *testing.T) []mail.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.courier.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	msgs := e.box.take()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range msgs {
		if u, err := url.Parse(m.Link); err == nil {
			if tok := u.Query().Get("token"); tok != "" {
				e.tokens = append(e.tokens, tok)
			}
		}
	}
	return msgs
}

// tokenOf returns the token of the link of m.
func tokenOf(t *testing.T, m mail.Message) string {
	t.Helper()
	u, err := url.Parse(m.Link)
	if err != nil {
		t.Fatalf("link %q: %v", m.Link, err)
	}
	tok := u.Query().Get("token")
	if tok == "" {
		t.Fatalf("link %q has no token", m.Link)
	}
	return tok
}

// oneToken flushes the outbox, wants exactly one message, to email, and
// returns its token.
func (e *env) oneToken(t *testing.T, email string) string {
	t.Helper()
	msgs := e.sent(t)
	if len(msgs) != 1 {
		t.Fatalf("%d messages sent, want 1: %+v", len(msgs), msgs)
	}
	if msgs[0].To != email {
		t.Fatalf("message to %q, want %q", msgs[0].To, email)
	}
	return tokenOf(t, msgs[0])
}

// invite invites email to Acme as the owner and returns the invitation and
// the mailed token.
func (e *env) invite(t *testing.T, email string, roles ...pulid.ID) (*ent.Invitation, string) {
	t.Helper()
	inv, err := e.svc.Invite(e.as(t, e.owner), e.c, invitation.InviteInput{OrganizationID: e.org.ID, Email: email, RoleIDs: roles})
	if err != nil {
		t.Fatalf("Invite %s: %v", email, err)
	}
	return inv, e.oneToken(t, strings.ToLower(strings.TrimSpace(email)))
}

// q rewrites the ? placeholders of query for the dialect.
func (e *env) q(query string) string {
	if e.db.Dialect != dialect.Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.sql.QueryRowContext(context.Background(), e.q(query), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// status reads the stored status of invitation id.
func (e *env) status(t *testing.T, id pulid.ID) string {
	t.Helper()
	var s string
	if err := e.sql.QueryRowContext(context.Background(), e.q(`SELECT status FROM cf_invitations WHERE id = ?`), string(id)).Scan(&s); err != nil {
		t.Fatalf("status of %s: %v", id, err)
	}
	return s
}

// activity is a row of cf_activities.
type activity struct {
	Verb, ObjectType, ObjectID, ActorType string
	Org, ActorUser                        sql.NullString
}

// activities returns the activities with verb, oldest first.
func (e *env) activities(t *testing.T, verb string) []activity {
	t.Helper()
	rows, err := e.sql.QueryContext(context.Background(), e.q(`SELECT verb, object_type, object_id, actor_type, organization_id, actor_user_id
		FROM cf_activities WHERE verb = ? ORDER BY id`), verb)
	if err != nil {
		t.Fatalf("activities %s: %v", verb, err)
	}
	defer rows.Close()
	var out []activity
	for rows.Next() {
		var a activity
		if err := rows.Scan(&a.Verb, &a.ObjectType, &a.ObjectID, &a.ActorType, &a.Org, &a.ActorUser); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// activitiesOf returns the activities with verb about object id.
func (e *env) activitiesOf(t *testing.T, verb string, id pulid.ID) []activity {
	t.Helper()
	var out []activity
	for _, a := range e.activities(t, verb) {
		if a.ObjectID == string(id) {
			out = append(out, a)
		}
	}
	return out
}

// wantOneActivity fails t unless exactly one activity verb about id
// exists, in organization org ("" for none), and returns it.
func (e *env) wantOneActivity(t *testing.T, verb string, id, org pulid.ID) activity {
	t.Helper()
	as := e.activitiesOf(t, verb, id)
	if len(as) != 1 {
		t.Fatalf("%d %s activities about %s, want 1", len(as), verb, id)
	}
	a := as[0]
	if got := a.Org.String; a.Org.Valid != (org != "") || got != string(org) {
		t.Fatalf("%s about %s: organization_id = %v, want %q", verb, id, a.Org, org)
	}
	return a
}

// snapshot counts what an invitation flow writes.
type snapshot struct{ invitations, pending, users, memberships, activities, roles int }

func (e *env) snap(t *testing.T) snapshot {
	t.Helper()
	return snapshot{
		invitations: e.count(t, `SELECT count(*) FROM cf_invitations`),
		pending:     e.count(t, `SELECT count(*) FROM cf_invitations WHERE status = 'pending'`),
		users:       e.count(t, `SELECT count(*) FROM cf_users`),
		memberships: e.count(t, `SELECT count(*) FROM cf_memberships`),
		activities:  e.count(t, `SELECT count(*) FROM cf_activities`),
		roles:       e.count(t, `SELECT count(*) FROM cf_invitation_roles`),
	}
}

func (e *env) unchanged(t *testing.T, before snapshot) {
	t.Helper()
	if after := e.snap(t); after != before {
		t.Fatalf("the refusal wrote: before %+v, after %+v", before, after)
	}
}

// tables lists the tables of the database.
func (e *env) tables(t *testing.T) []string {
	t.Helper()
	query := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if e.db.Dialect == dialect.Postgres {
		query = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
	}
	rows, err := e.sql.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatalf("tables: %v", err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("tables: %v", err)
	}
	return names
}

// plaintextTokens scans every column of every row of every table for the
// tokens mailed so far, whole or their secret part, and returns where it
// found one.
func (e *env) plaintextTokens(t *testing.T) []string {
	t.Helper()
	e.mu.Lock()
	var needles []string
	for _, tok := range e.tokens {
		needles = append(needles, tok)
		if i := strings.LastIndex(tok, "_"); i > 0 {
			needles = append(needles, tok[i+1:])
		}
	}
	e.mu.Unlock()
	if len(needles) == 0 {
		return nil
	}
	var found []string
	for _, table := range e.tables(t) {
		rows, err := e.sql.QueryContext(context.Background(), `SELECT * FROM `+table)
		if err != nil {
			t.Errorf("scanning %s: %v", table, err)
			continue
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Errorf("scanning %s: %v", table, err)
				break
			}
			for i, v := range vals {
				var s string
				switch v := v.(type) {
				case []byte:
					s = string(v)
				case string:
					s = v
				default:
					continue
				}
				s = strings.ToLower(s)
				for _, n := range needles {
					if strings.Contains(s, n) {
						found = append(found, fmt.Sprintf("%s.%s holds a token in plaintext", table, cols[i]))
					}
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Errorf("scanning %s: %v", table, err)
		}
		rows.Close()
	}
	return found
}

func wantValidation(t *testing.T, err error, field string) {
	t.Helper()
	var ve *validation.Error
	if !errors.As(err, &ve) || ve.Field != field {
		t.Fatalf("err = %v, want a *validation.Error on %q", err, field)
	}
}

func rolesOfInvitation(t *testing.T, c *ent.Client, id pulid.ID) []pulid.ID {
	t.Helper()
	ids := c.Role.Query().Where(role.HasInvitationsWith(entinv.ID(id))).IDsX(sys())
	slices.Sort(ids)
	return ids
}

func rolesOfMembership(t *testing.T, c *ent.Client, id pulid.ID) []pulid.ID {
	t.Helper()
	ids := c.Role.Query().Where(role.HasMembershipsWith(membership.ID(id))).IDsX(sys())
	slices.Sort(ids)
	return ids
}

func sorted(ids ...pulid.ID) []pulid.ID {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

func TestNewConfig(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		sessions := e.sessions
		tests := []struct {
			name string
			cfg  invitation.Config
			ok   bool
		}{
			{"no sessions", invitation.Config{Mail: e.courier}, false},
			{"no mail", invitation.Config{Sessions: sessions}, false},
			{"default TTL", invitation.Config{Sessions: sessions, Mail: e.courier}, true},
			{"one hour", invitation.Config{Sessions: sessions, Mail: e.courier, TTL: time.Hour}, true},
			{"90 days", invitation.Config{Sessions: sessions, Mail: e.courier, TTL: 90 * 24 * time.Hour}, true},
			{"too short", invitation.Config{Sessions: sessions, Mail: e.courier, TTL: 59 * time.Minute}, false},
			{"too long", invitation.Config{Sessions: sessions, Mail: e.courier, TTL: 91 * 24 * time.Hour}, false},
			{"negative", invitation.Config{Sessions: sessions, Mail: e.courier, TTL: -time.Hour}, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := invitation.New(e.c, tt.cfg)
				if (err == nil) != tt.ok {
					t.Fatalf("New: err = %v, want ok = %v", err, tt.ok)
				}
			})
		}
	})
}

func TestStatus(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		stored  entinv.Status
		expires time.Time
		want    entinv.Status
	}{
		{entinv.StatusPending, now.Add(time.Second), entinv.StatusPending},
		{entinv.StatusPending, now, entinv.StatusExpired},
		{entinv.StatusPending, now.Add(-time.Second), entinv.StatusExpired},
		{entinv.StatusAccepted, now.Add(-time.Hour), entinv.StatusAccepted},
		{entinv.StatusRevoked, now.Add(-time.Hour), entinv.StatusRevoked},
		{entinv.StatusExpired, now.Add(time.Hour), entinv.StatusExpired},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.stored, tt.expires.Sub(now)), func(t *testing.T) {
			got := invitation.Status(&ent.Invitation{Status: tt.stored, ExpiresAt: tt.expires}, now)
			if got != tt.want {
				t.Fatalf("Status = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for _, err := range []error{invitation.ErrAccepted, invitation.ErrRevoked, invitation.ErrExpired, invitation.ErrInvalidToken} {
		if !errors.Is(err, invitation.ErrInvalidToken) {
			t.Errorf("%v does not match ErrInvalidToken", err)
		}
	}
	if errors.Is(invitation.ErrPending, invitation.ErrInvalidToken) || errors.Is(invitation.ErrAccepted, invitation.ErrRevoked) {
		t.Error("unrelated errors match")
	}
	var err error = &invitation.StateError{Status: "accepted"}
	if !errors.Is(err, invitation.ErrNotPending) || !strings.Contains(err.Error(), "accepted") {
		t.Errorf("StateError %v", err)
	}
}

func TestInvite(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		lvl := 30
		team, err := tenancy.CreateRole(e.as(t, e.owner), e.c, ent.CreateRoleInput{OrganizationID: &e.org.ID, Key: "team", Name: "Team", Level: &lvl})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name      string
			by        *ent.User
			email     string
			roles     []pulid.ID
			wantEmail string
			wantRoles []pulid.ID
		}{
			{"owner, default role", e.owner, "ada@example.com", nil, "ada@example.com", []pulid.ID{permission.MemberRoleID}},
			{"admin, default role", e.admin, "grace@example.com", nil, "grace@example.com", []pulid.ID{permission.MemberRoleID}},
			{"owner, explicit roles", e.owner, "alan@example.com", []pulid.ID{permission.AdminRoleID, team.ID, team.ID}, "alan@example.com", sorted(permission.AdminRoleID, team.ID)},
			{"admin, admin role (its own level)", e.admin, "edsger@example.com", []pulid.ID{permission.AdminRoleID}, "edsger@example.com", []pulid.ID{permission.AdminRoleID}},
			{"email lower-cased and trimmed", e.owner, "  Barbara.Liskov@Example.COM ", nil, "barbara.liskov@example.com", []pulid.ID{permission.MemberRoleID}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				inv, err := e.svc.Invite(e.as(t, tt.by), e.c, invitation.InviteInput{OrganizationID: e.org.ID, Email: tt.email, RoleIDs: tt.roles, Message: "Welcome aboard!"})
				if err != nil {
					t.Fatalf("Invite: %v", err)
				}
				if inv.Email != tt.wantEmail || inv.Status != entinv.StatusPending || inv.OrganizationID != e.org.ID || inv.SentCount != 1 {
					t.Fatalf("invitation = %+v", inv)
				}
				if inv.InviterID == nil || *inv.InviterID != tt.by.ID {
					t.Fatalf("inviter = %v, want %s", inv.InviterID, tt.by.ID)
				}
				if want := e.clock.Now().Add(invitation.DefaultTTL); !inv.ExpiresAt.Equal(want) {
					t.Fatalf("expires at %s, want %s", inv.ExpiresAt, want)
				}
				if got := rolesOfInvitation(t, e.c, inv.ID); !slices.Equal(got, tt.wantRoles) {
					t.Fatalf("roles = %v, want %v", got, tt.wantRoles)
				}
				var stored string
				if err := e.sql.QueryRow(e.q(`SELECT email FROM cf_invitations WHERE id = ?`), string(inv.ID)).Scan(&stored); err != nil || stored != tt.wantEmail {
					t.Fatalf("stored email = %q, %v", stored, err)
				}
				a := e.wantOneActivity(t, "member.invited", inv.ID, e.org.ID)
				if a.ActorType != "user" || a.ActorUser.String != string(tt.by.ID) || a.ObjectType != "Invitation" {
					t.Fatalf("member.invited = %+v", a)
				}

				msgs := e.sent(t)
				if len(msgs) != 1 {
					t.Fatalf("%d messages, want 1", len(msgs))
				}
				m := msgs[0]
				if m.Kind != mail.KindInvitation || m.To != tt.wantEmail {
					t.Fatalf("message kind %q to %q", m.Kind, m.To)
				}
				if !strings.HasPrefix(m.Link, "https://app.example.com"+invitation.AcceptPath+"?token=cfinv_") {
					t.Fatalf("link = %q", m.Link)
				}
				tok := tokenOf(t, m)
				if !strings.Contains(m.Text, m.Link) || !strings.Contains(m.Text, "Acme") || !strings.Contains(m.Subject, "Acme") {
					t.Fatalf("message does not carry the link and the organization:\n%s\n%s", m.Subject, m.Text)
				}
				if !strings.Contains(m.Subject, tt.by.Email) || !strings.Contains(m.Text, "Welcome aboard!") {
					t.Fatalf("message does not name the inviter or carry the note:\n%s\n%s", m.Subject, m.Text)
				}
				if n := e.count(t, `SELECT count(*) FROM cf_invitations WHERE id = ? AND status = 'pending'`, string(inv.ID)); n != 1 {
					t.Fatalf("invitation not stored pending")
				}
				// The mailed token names this invitation.
				if id, err := e.c.Invitation.Query().Where(entinv.TokenDigest(secret.DigestOf(tok))).OnlyID(sys()); err != nil || id != inv.ID {
					t.Fatalf("the digest of the mailed token names %s, %v; want %s", id, err, inv.ID)
				}
			})
		}
	})
}

func TestInviteRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		// A pending invitation and a member, for the conflicts.
		e.invite(t, "pending@example.com")
		tests := []struct {
			name  string
			by    *ent.User
			org   func() pulid.ID
			email string
			roles []pulid.ID
			check func(t *testing.T, err error)
		}{
			{"role of another organization", e.owner, func() pulid.ID { return e.org.ID }, "x1@example.com", []pulid.ID{e.otherRole.ID},
				func(t *testing.T, err error) {
					if !errors.Is(err, authz.ErrForeignRole) {
						t.Fatalf("err = %v, want ErrForeignRole", err)
					}
				}},
			{"unknown role", e.owner, func() pulid.ID { return e.org.ID }, "x2@example.com", []pulid.ID{"rol_01NOSUCHROLE0000000000000"},
				func(t *testing.T, err error) {
					if !errors.Is(err, authz.ErrForeignRole) {
						t.Fatalf("err = %v, want ErrForeignRole", err)
					}
				}},
			{"role above the inviter's level", e.admin, func() pulid.ID { return e.org.ID }, "x3@example.com", []pulid.ID{permission.OwnerRoleID},
				func(t *testing.T, err error) {
					if !errors.Is(err, authz.ErrAboveLevel) {
						t.Fatalf("err = %v, want ErrAboveLevel", err)
					}
				}},
			{"a plain member lacks member:invite", e.member, func() pulid.ID { return e.org.ID }, "x4@example.com", nil,
				func(t *testing.T, err error) {
					if !errors.Is(err, privacy.Deny) {
						t.Fatalf("err = %v, want privacy.Deny", err)
					}
				}},
			{"organization not visible", e.out, func() pulid.ID { return e.org.ID }, "x5@example.com", nil,
				func(t *testing.T, err error) {
					if !ent.IsNotFound(err) {
						t.Fatalf("err = %v, want not found", err)
					}
				}},
			{"organization that does not exist", e.owner, func() pulid.ID { return "org_01NOSUCHORG00000000000000" }, "x6@example.com", nil,
				func(t *testing.T, err error) {
					if !ent.IsNotFound(err) {
						t.Fatalf("err = %v, want not found", err)
					}
				}},
			{"malformed email", e.owner, func() pulid.ID { return e.org.ID }, "not an address", nil,
				func(t *testing.T, err error) { wantValidation(t, err, "email") }},
			{"email without a domain dot", e.owner, func() pulid.ID { return e.org.ID }, "ada@localhost", nil,
				func(t *testing.T, err error) { wantValidation(t, err, "email") }},
			{"empty email", e.owner, func() pulid.ID { return e.org.ID }, "   ", nil,
				func(t *testing.T, err error) { wantValidation(t, err, "email") }},
			{"second pending invitation", e.owner, func() pulid.ID { return e.org.ID }, "pending@example.com", nil,
				func(t *testing.T, err error) {
					if !errors.Is(err, invitation.ErrPending) {
						t.Fatalf("err = %v, want ErrPending", err)
					}
				}},
			{"second pending invitation, other case", e.admin, func() pulid.ID { return e.org.ID }, "PENDING@example.com", nil,
				func(t *testing.T, err error) {
					if !errors.Is(err, invitation.ErrPending) {
						t.Fatalf("err = %v, want ErrPending", err)
					}
				}},
			{"email of a member", e.owner, func() pulid.ID { return e.org.ID }, "Member@A.com", nil,
				func(t *testing.T, err error) {
					if !errors.Is(err, invitation.ErrAlreadyMember) {
						t.Fatalf("err = %v, want ErrAlreadyMember", err)
					}
				}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := e.snap(t)
				inv, err := e.svc.Invite(e.as(t, tt.by), e.c, invitation.InviteInput{OrganizationID: tt.org(), Email: tt.email, RoleIDs: tt.roles})
				if err == nil {
					t.Fatalf("Invite succeeded: %+v", inv)
				}
				tt.check(t, err)
				e.unchanged(t, before)
				if msgs := e.sent(t); len(msgs) != 0 {
					t.Fatalf("a refused invitation sent %d messages", len(msgs))
				}
			})
		}
		t.Run("message too long", func(t *testing.T) {
			before := e.snap(t)
			_, err := e.svc.Invite(e.as(t, e.owner), e.c, invitation.InviteInput{OrganizationID: e.org.ID, Email: "long@example.com", Message: strings.Repeat("x", 1001)})
			wantValidation(t, err, "message")
			e.unchanged(t, before)
		})
		t.Run("no actor", func(t *testing.T) {
			before := e.snap(t)
			if _, err := e.svc.Invite(context.Background(), e.c, invitation.InviteInput{OrganizationID: e.org.ID, Email: "nobody@example.com"}); err == nil {
				t.Fatal("Invite without an actor succeeded")
			}
			e.unchanged(t, before)
		})
	})
}

// An expired pending invitation does not block a new one: the new
// invitation marks it expired, with an activity.
func TestInviteAfterExpiry(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		old, oldTok := e.invite(t, "late@example.com")
		e.clock.Advance(invitation.DefaultTTL + time.Second)
		if len(e.activitiesOf(t, "invitation.expired", old.ID)) != 0 {
			t.Fatal("expired before anything looked at it")
		}
		fresh, freshTok := e.invite(t, "late@example.com")
		if fresh.ID == old.ID {
			t.Fatal("the old invitation was reused")
		}
		if got := e.status(t, old.ID); got != "expired" {
			t.Fatalf("old invitation status = %s, want expired", got)
		}
		a := e.wantOneActivity(t, "invitation.expired", old.ID, e.org.ID)
		if a.ActorType != "system" {
			t.Fatalf("invitation.expired actor = %s, want system", a.ActorType)
		}
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: oldTok, Password: newPassword}); !errors.Is(err, invitation.ErrExpired) {
			t.Fatalf("accept old token = %v, want ErrExpired", err)
		}
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: freshTok, Password: newPassword}); err != nil {
			t.Fatalf("accept new token: %v", err)
		}
	})
}

// With a transaction of the caller, the mail goes at its commit, and not at
// all when it rolls back.
func TestInviteInCallerTransaction(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		for _, commit := range []bool{false, true} {
			t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
				email := fmt.Sprintf("tx-%v@example.com", commit)
				ctx := e.as(t, e.owner)
				tx, err := e.c.Tx(ctx)
				if err != nil {
					t.Fatal(err)
				}
				tctx := ent.NewTxContext(ctx, tx)
				inv, err := e.svc.Invite(tctx, tx.Client(), invitation.InviteInput{OrganizationID: e.org.ID, Email: email})
				if err != nil {
					_ = tx.Rollback()
					t.Fatalf("Invite in a transaction: %v", err)
				}
				if msgs := e.sent(t); len(msgs) != 0 {
					_ = tx.Rollback()
					t.Fatalf("%d messages sent before the commit", len(msgs))
				}
				if commit {
					err = tx.Commit()
				} else {
					err = tx.Rollback()
				}
				if err != nil {
					t.Fatal(err)
				}
				msgs := e.sent(t)
				n := e.count(t, `SELECT count(*) FROM cf_invitations WHERE id = ?`, string(inv.ID))
				acts := len(e.activitiesOf(t, "member.invited", inv.ID))
				if !commit {
					if len(msgs) != 0 || n != 0 || acts != 0 {
						t.Fatalf("after rollback: %d messages, %d rows, %d activities; want none", len(msgs), n, acts)
					}
					return
				}
				if len(msgs) != 1 || msgs[0].To != email || n != 1 || acts != 1 {
					t.Fatalf("after commit: %d messages, %d rows, %d activities; want one each", len(msgs), n, acts)
				}
				tok := tokenOf(t, msgs[0])
				if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok, Password: newPassword}); err != nil {
					t.Fatalf("accept the committed invitation: %v", err)
				}
			})
		}
	})
}

func TestAcceptNewUser(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		lvl := 30
		team, err := tenancy.CreateRole(e.as(t, e.owner), e.c, ent.CreateRoleInput{OrganizationID: &e.org.ID, Key: "team", Name: "Team", Level: &lvl})
		if err != nil {
			t.Fatal(err)
		}
		inv, err := e.svc.Invite(e.as(t, e.admin), e.c, invitation.InviteInput{OrganizationID: e.org.ID, Email: "New.Person@Example.com", RoleIDs: []pulid.ID{team.ID, permission.ViewerRoleID}})
		if err != nil {
			t.Fatal(err)
		}
		tok := e.oneToken(t, "new.person@example.com")
		e.clock.Advance(time.Hour)
		out, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: " " + tok + " ", Password: newPassword, Name: " New Person "})
		if err != nil {
			t.Fatalf("Accept: %v", err)
		}
		if !out.UserCreated || out.User == nil || out.Membership == nil || out.Invitation == nil {
			t.Fatalf("Accepted = %+v", out)
		}
		u := e.c.User.GetX(sys(), out.User.ID)
		if u.Email != "new.person@example.com" || u.Status != user.StatusActive || !u.EmailVerified || u.EmailVerifiedAt == nil || u.DisplayName != "New Person" {
			t.Fatalf("user = %+v", u)
		}
		if !u.EmailVerifiedAt.Equal(e.clock.Now()) {
			t.Fatalf("email verified at %s, want %s", u.EmailVerifiedAt, e.clock.Now())
		}
		if u.PasswordHash.IsZero() {
			t.Fatal("the new user has no password hash")
		}
		if !u.PasswordHash.Verify(newPassword) {
			t.Fatal("the new user's password does not verify")
		}
		m := e.c.Membership.GetX(sys(), out.Membership.ID)
		if m.UserID != u.ID || m.OrganizationID != e.org.ID || m.Status != membership.StatusActive || m.JoinedAt == nil {
			t.Fatalf("membership = %+v", m)
		}
		if m.InvitedByID == nil || *m.InvitedByID != e.admin.ID {
			t.Fatalf("invited_by = %v, want the admin %s", m.InvitedByID, e.admin.ID)
		}
		if got, want := rolesOfMembership(t, e.c, m.ID), sorted(team.ID, permission.ViewerRoleID); !slices.Equal(got, want) {
			t.Fatalf("membership roles = %v, want %v", got, want)
		}
		stored := e.c.Invitation.GetX(sys(), inv.ID)
		if stored.Status != entinv.StatusAccepted || stored.AcceptedByID == nil || *stored.AcceptedByID != u.ID || stored.AcceptedAt == nil {
			t.Fatalf("invitation = %+v", stored)
		}
		// The new member sees the organization.
		ctx := e.as(t, u)
		if _, err := e.c.Organization.Get(ctx, e.org.ID); err != nil {
			t.Fatalf("the new member cannot read the organization: %v", err)
		}
		// Activities.
		e.wantOneActivity(t, "user.created", u.ID, "")
		acc := e.wantOneActivity(t, "invitation.accepted", inv.ID, e.org.ID)
		joined := e.wantOneActivity(t, "member.joined", m.ID, e.org.ID)
		for _, a := range []activity{acc, joined} {
			if a.ActorType != "user" || a.ActorUser.String != string(u.ID) {
				t.Fatalf("%s recorded as %s %s, want the new user", a.Verb, a.ActorType, a.ActorUser.String)
			}
		}
		// No generic audit records for the domain writes.
		if n := e.count(t, `SELECT count(*) FROM cf_activities WHERE object_id IN (?, ?, ?) AND verb IN ('user.updated', 'membership.created', 'invitation.updated')`, string(u.ID), string(m.ID), string(inv.ID)); n != 0 {
			t.Fatalf("%d generic activities besides the domain ones", n)
		}
		// Accepting again is refused, and nothing changes.
		before := e.snap(t)
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok, Password: newPassword}); !errors.Is(err, invitation.ErrAccepted) || !errors.Is(err, invitation.ErrInvalidToken) {
			t.Fatalf("accept twice = %v, want ErrAccepted", err)
		}
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok}); !errors.Is(err, invitation.ErrAccepted) {
			t.Fatalf("accept twice without a password = %v, want ErrAccepted", err)
		}
		e.unchanged(t, before)
	})
}

func TestAcceptExistingUser(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		// out is active, not verified, and a member of Other only.
		if e.out.EmailVerified {
			t.Fatal("fixture: out is verified already")
		}
		inv, tok := e.invite(t, "OUT@b.com", permission.ViewerRoleID)
		before := e.snap(t)
		// Nobody proved the address for this account: accepting with
		// the token alone is refused, the token's holder sets the
		// password (and every other way in ends).
		_, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok})
		wantValidation(t, err, "password")
		e.unchanged(t, before)
		oldHash := e.c.User.GetX(sys(), e.out.ID).PasswordHash

		// The fixture's own creation is recorded by the generic audit.
		createdBefore := len(e.activities(t, "user.created"))
		out, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok, Password: newPassword})
		if err != nil {
			t.Fatalf("Accept: %v", err)
		}
		if h := e.c.User.GetX(sys(), e.out.ID).PasswordHash; h.IsZero() || !h.Verify(newPassword) || (!oldHash.IsZero() && oldHash.Verify(newPassword)) {
			t.Fatal("accepting for an unverified account did not set its password")
		}
		if out.UserCreated || out.User.ID != e.out.ID {
			t.Fatalf("Accepted = %+v, want the existing user", out)
		}
		u := e.c.User.GetX(sys(), e.out.ID)
		if !u.EmailVerified || u.EmailVerifiedAt == nil {
			t.Fatalf("the existing user's email is not verified: %+v", u)
		}
		if got := rolesOfMembership(t, e.c, out.Membership.ID); !slices.Equal(got, []pulid.ID{permission.ViewerRoleID}) {
			t.Fatalf("roles = %v", got)
		}
		if out.Membership.InvitedByID == nil || *out.Membership.InvitedByID != e.owner.ID {
			t.Fatalf("invited_by = %v", out.Membership.InvitedByID)
		}
		if n := e.count(t, `SELECT count(*) FROM cf_memberships WHERE user_id = ?`, string(e.out.ID)); n != 2 {
			t.Fatalf("out has %d memberships, want 2", n)
		}
		if len(e.activities(t, "user.created")) != createdBefore {
			t.Fatal("user.created recorded for an existing user")
		}
		e.wantOneActivity(t, "invitation.accepted", inv.ID, e.org.ID)
		e.wantOneActivity(t, "member.joined", out.Membership.ID, e.org.ID)
		if after := e.snap(t); after.users != before.users || after.memberships != before.memberships+1 {
			t.Fatalf("before %+v, after %+v", before, after)
		}
	})
}

func TestAcceptRefused(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		other, _, err := secret.NewToken("cfinv")
		if err != nil {
			t.Fatal(err)
		}
		reset, _, _ := secret.NewToken("cfrst")
		_, pendingTok := e.invite(t, "weak@example.com")
		revoked, revokedTok := e.invite(t, "revoked@example.com")
		if _, err := e.svc.Revoke(e.as(t, e.owner), e.c, revoked.ID); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name  string
			in    invitation.AcceptInput
			check func(t *testing.T, err error)
		}{
			{"weak password", invitation.AcceptInput{Token: pendingTok, Password: "short"}, func(t *testing.T, err error) { wantValidation(t, err, "password") }},
			{"password is the address", invitation.AcceptInput{Token: pendingTok, Password: "weak@example.com"}, func(t *testing.T, err error) { wantValidation(t, err, "password") }},
			{"new address without a password", invitation.AcceptInput{Token: pendingTok}, func(t *testing.T, err error) { wantValidation(t, err, "password") }},
			{"name too long", invitation.AcceptInput{Token: pendingTok, Password: newPassword, Name: strings.Repeat("n", 201)}, func(t *testing.T, err error) { wantValidation(t, err, "name") }},
			{"unknown token", invitation.AcceptInput{Token: other, Password: newPassword}, tokenErr(invitation.ErrInvalidToken)},
			{"malformed token", invitation.AcceptInput{Token: "cfinv_nope", Password: newPassword}, tokenErr(invitation.ErrInvalidToken)},
			{"empty token", invitation.AcceptInput{Password: newPassword}, tokenErr(invitation.ErrInvalidToken)},
			{"token of another kind", invitation.AcceptInput{Token: reset, Password: newPassword}, tokenErr(invitation.ErrInvalidToken)},
			{"token with its secret changed", invitation.AcceptInput{Token: pendingTok[:len(pendingTok)-1] + flip(pendingTok[len(pendingTok)-1]), Password: newPassword}, tokenErr(invitation.ErrInvalidToken)},
			{"revoked", invitation.AcceptInput{Token: revokedTok, Password: newPassword}, tokenErr(invitation.ErrRevoked)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := e.snap(t)
				out, err := e.svc.Accept(context.Background(), e.c, tt.in)
				if err == nil {
					t.Fatalf("Accept succeeded: %+v", out)
				}
				tt.check(t, err)
				e.unchanged(t, before)
			})
		}
		// After all that, the pending invitation still works.
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: pendingTok, Password: newPassword}); err != nil {
			t.Fatalf("accept after refusals: %v", err)
		}
	})
}

func tokenErr(want error) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, want) || !errors.Is(err, invitation.ErrInvalidToken) {
			t.Fatalf("err = %v, want %v (matching ErrInvalidToken)", err, want)
		}
	}
}

func flip(b byte) string {
	if b == 'a' {
		return "b"
	}
	return "a"
}

// An expired token is refused and marks the invitation expired.
func TestAcceptExpired(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		inv, tok := e.invite(t, "slow@example.com")
		e.clock.Advance(invitation.DefaultTTL)
		usersBefore := e.count(t, `SELECT count(*) FROM cf_users`)
		_, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok, Password: newPassword})
		if !errors.Is(err, invitation.ErrExpired) || !errors.Is(err, invitation.ErrInvalidToken) {
			t.Fatalf("accept expired = %v, want ErrExpired", err)
		}
		if got := e.status(t, inv.ID); got != "expired" {
			t.Fatalf("status after an expired acceptance = %s, want expired", got)
		}
		e.wantOneActivity(t, "invitation.expired", inv.ID, e.org.ID)
		if n := e.count(t, `SELECT count(*) FROM cf_users`); n != usersBefore {
			t.Fatal("an expired acceptance created a user")
		}
		if n := e.count(t, `SELECT count(*) FROM cf_memberships WHERE organization_id = ?`, string(e.org.ID)); n != 3 {
			t.Fatalf("%d memberships in Acme, want 3", n)
		}
		// Again: the same refusal, and no second activity.
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok, Password: newPassword}); !errors.Is(err, invitation.ErrExpired) {
			t.Fatalf("accept expired again = %v, want ErrExpired", err)
		}
		e.wantOneActivity(t, "invitation.expired", inv.ID, e.org.ID)
	})
}

func TestAcceptSignedIn(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		grace := e.c.User.Create().SetEmail("grace@example.com").SetStatus(user.StatusActive).SetEmailVerified(true).SaveX(sys())
		_, graceTok := e.invite(t, "grace@example.com")
		_, outTok := e.invite(t, "out@b.com")
		_, newTok := e.invite(t, "nobody-yet@example.com")

		t.Run("another user's invitation", func(t *testing.T) {
			before := e.snap(t)
			_, err := e.svc.Accept(e.as(t, e.out), e.c, invitation.AcceptInput{Token: graceTok})
			if !errors.Is(err, invitation.ErrEmailMismatch) {
				t.Fatalf("err = %v, want ErrEmailMismatch", err)
			}
			_, err = e.svc.Accept(e.as(t, grace), e.c, invitation.AcceptInput{Token: newTok, Password: newPassword})
			if !errors.Is(err, invitation.ErrEmailMismatch) {
				t.Fatalf("signed in, invitation of a new address: err = %v, want ErrEmailMismatch", err)
			}
			e.unchanged(t, before)
		})
		t.Run("an API key", func(t *testing.T) {
			before := e.snap(t)
			ctx := actor.NewContext(context.Background(), actor.APIKey("key_01TESTKEY000000000000000", e.out.ID, actor.PlatformNone, e.other.ID, []string{permission.MemberRead}))
			_, err := e.svc.Accept(ctx, e.c, invitation.AcceptInput{Token: outTok})
			if err == nil {
				t.Fatal("an API key accepted an invitation")
			}
			if !errors.Is(err, authz.ErrNotLoaded) {
				t.Fatalf("err = %v, want one matching authz.ErrNotLoaded", err)
			}
			e.unchanged(t, before)
		})
		t.Run("own invitation", func(t *testing.T) {
			out, err := e.svc.Accept(e.as(t, grace), e.c, invitation.AcceptInput{Token: graceTok})
			if err != nil {
				t.Fatalf("Accept: %v", err)
			}
			if out.UserCreated || out.User.ID != grace.ID || out.Membership.OrganizationID != e.org.ID {
				t.Fatalf("Accepted = %+v", out)
			}
			// Signed in with a password given: refused as for anyone.
			_, err = e.svc.Accept(e.as(t, e.out), e.c, invitation.AcceptInput{Token: outTok, Password: newPassword})
			wantValidation(t, err, "password")
			out, err = e.svc.Accept(e.as(t, e.out), e.c, invitation.AcceptInput{Token: outTok})
			if err != nil || out.User.ID != e.out.ID {
				t.Fatalf("out accepts its own: %+v, %v", out, err)
			}
		})
	})
}

// A user who became a member since the invitation cannot accept it; the
// invitation stays pending. Roles deleted since fall back to member.
func TestAcceptMembershipChanges(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		grace := e.c.User.Create().SetEmail("grace@example.com").SetStatus(user.StatusActive).SetEmailVerified(true).SaveX(sys())
		inv, tok := e.invite(t, "grace@example.com")
		if _, err := tenancy.AddMember(sys(), e.c, tenancy.AddMemberInput{OrganizationID: e.org.ID, UserID: grace.ID}); err != nil {
			t.Fatal(err)
		}
		before := e.snap(t)
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok}); !errors.Is(err, invitation.ErrAlreadyMember) {
			t.Fatalf("err = %v, want ErrAlreadyMember", err)
		}
		e.unchanged(t, before)
		if got := e.status(t, inv.ID); got != "pending" {
			t.Fatalf("status = %s, want pending", got)
		}
		if _, err := e.svc.Resend(e.as(t, e.owner), e.c, inv.ID); !errors.Is(err, invitation.ErrAlreadyMember) {
			t.Fatalf("resend to a member = %v, want ErrAlreadyMember", err)
		}

		lvl := 20
		gone, err := tenancy.CreateRole(e.as(t, e.owner), e.c, ent.CreateRoleInput{OrganizationID: &e.org.ID, Key: "gone", Name: "Gone", Level: &lvl})
		if err != nil {
			t.Fatal(err)
		}
		inv2, tok2 := e.invite(t, "orphan@example.com", gone.ID)
		if err := tenancy.DeleteRole(e.as(t, e.owner), e.c, gone.ID, true); err != nil {
			t.Fatalf("DeleteRole: %v", err)
		}
		if got := rolesOfInvitation(t, e.c, inv2.ID); len(got) != 0 {
			t.Fatalf("invitation roles after delete = %v", got)
		}
		out, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok2, Password: newPassword})
		if err != nil {
			t.Fatal(err)
		}
		if got := rolesOfMembership(t, e.c, out.Membership.ID); !slices.Equal(got, []pulid.ID{permission.MemberRoleID}) {
			t.Fatalf("roles = %v, want member", got)
		}
	})
}

func TestResend(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		inv, tok1 := e.invite(t, "again@example.com")
		e.clock.Advance(2 * time.Hour)
		re, err := e.svc.Resend(e.as(t, e.admin), e.c, inv.ID)
		if err != nil {
			t.Fatalf("Resend: %v", err)
		}
		tok2 := e.oneToken(t, "again@example.com")
		if tok2 == tok1 {
			t.Fatal("resend mailed the same token")
		}
		if re.ID != inv.ID || re.SentCount != 2 || re.Status != entinv.StatusPending {
			t.Fatalf("resent = %+v", re)
		}
		if want := e.clock.Now().Add(invitation.DefaultTTL); !re.ExpiresAt.Equal(want) || !re.ExpiresAt.After(inv.ExpiresAt) {
			t.Fatalf("expires at %s, want %s (after %s)", re.ExpiresAt, want, inv.ExpiresAt)
		}
		if n := e.count(t, `SELECT sent_count FROM cf_invitations WHERE id = ?`, string(inv.ID)); n != 2 {
			t.Fatalf("stored sent_count = %d", n)
		}
		a := e.wantOneActivity(t, "invitation.resent", inv.ID, e.org.ID)
		if a.ActorUser.String != string(e.admin.ID) {
			t.Fatalf("invitation.resent by %s, want the admin", a.ActorUser.String)
		}
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok1, Password: newPassword}); !errors.Is(err, invitation.ErrInvalidToken) || errors.Is(err, invitation.ErrAccepted) {
			t.Fatalf("old token = %v, want ErrInvalidToken", err)
		}
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok2, Password: newPassword}); err != nil {
			t.Fatalf("new token: %v", err)
		}
		_, err = e.svc.Resend(e.as(t, e.owner), e.c, inv.ID)
		var se *invitation.StateError
		if !errors.As(err, &se) || se.Status != "accepted" || !errors.Is(err, invitation.ErrNotPending) {
			t.Fatalf("resend accepted = %v, want a StateError", err)
		}
		if msgs := e.sent(t); len(msgs) != 0 {
			t.Fatalf("a refused resend sent %d messages", len(msgs))
		}
	})
}

func TestResendExpired(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		// One past its expiry but still stored pending, one swept to
		// expired by ExpireDue.
		lazy, _ := e.invite(t, "lazy@example.com")
		swept, _ := e.invite(t, "swept@example.com")
		e.clock.Advance(invitation.DefaultTTL + time.Minute)
		if _, err := e.c.Invitation.UpdateOneID(swept.ID).SetStatus(entinv.StatusExpired).Save(sys()); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			name  string
			inv   *ent.Invitation
			email string
		}{{"stored pending", lazy, "lazy@example.com"}, {"stored expired", swept, "swept@example.com"}} {
			t.Run(tt.name, func(t *testing.T) {
				re, err := e.svc.Resend(e.as(t, e.owner), e.c, tt.inv.ID)
				if err != nil {
					t.Fatalf("Resend: %v", err)
				}
				if re.Status != entinv.StatusPending || e.status(t, tt.inv.ID) != "pending" || !re.ExpiresAt.After(e.clock.Now()) {
					t.Fatalf("resent = %+v", re)
				}
				tok := e.oneToken(t, tt.email)
				if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok, Password: newPassword}); err != nil {
					t.Fatalf("accept the resent invitation: %v", err)
				}
			})
		}
		t.Run("a newer one is pending", func(t *testing.T) {
			old, _ := e.invite(t, "twice@example.com")
			e.clock.Advance(invitation.DefaultTTL + time.Minute)
			newer, _ := e.invite(t, "twice@example.com")
			before := e.snap(t)
			if _, err := e.svc.Resend(e.as(t, e.owner), e.c, old.ID); !errors.Is(err, invitation.ErrPending) {
				t.Fatalf("resend the old one = %v, want ErrPending", err)
			}
			e.unchanged(t, before)
			if e.status(t, old.ID) != "expired" || e.status(t, newer.ID) != "pending" {
				t.Fatalf("statuses %s, %s", e.status(t, old.ID), e.status(t, newer.ID))
			}
			if msgs := e.sent(t); len(msgs) != 0 {
				t.Fatalf("a refused resend sent %d messages", len(msgs))
			}
		})
	})
}

func TestRevoke(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		inv, tok := e.invite(t, "bye@example.com")
		rv, err := e.svc.Revoke(e.as(t, e.admin), e.c, inv.ID)
		if err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if rv.Status != entinv.StatusRevoked || rv.RevokedAt == nil || !rv.RevokedAt.Equal(e.clock.Now()) || e.status(t, inv.ID) != "revoked" {
			t.Fatalf("revoked = %+v", rv)
		}
		a := e.wantOneActivity(t, "invitation.revoked", inv.ID, e.org.ID)
		if a.ActorUser.String != string(e.admin.ID) {
			t.Fatalf("invitation.revoked by %s", a.ActorUser.String)
		}
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok, Password: newPassword}); !errors.Is(err, invitation.ErrRevoked) {
			t.Fatalf("accept revoked = %v, want ErrRevoked", err)
		}
		// Twice: no change, no second activity.
		e.clock.Advance(time.Minute)
		again, err := e.svc.Revoke(e.as(t, e.owner), e.c, inv.ID)
		if err != nil || again.Status != entinv.StatusRevoked || !again.RevokedAt.Equal(*rv.RevokedAt) {
			t.Fatalf("revoke twice = %+v, %v", again, err)
		}
		e.wantOneActivity(t, "invitation.revoked", inv.ID, e.org.ID)
		// Resend of a revoked one.
		_, err = e.svc.Resend(e.as(t, e.owner), e.c, inv.ID)
		var se *invitation.StateError
		if !errors.As(err, &se) || se.Status != "revoked" || !errors.Is(err, invitation.ErrNotPending) {
			t.Fatalf("resend revoked = %v, want a StateError", err)
		}
		// A revoked invitation does not block a new one.
		if _, tok2 := e.invite(t, "bye@example.com"); tok2 == tok {
			t.Fatal("same token")
		}

		acc, accTok := e.invite(t, "stays@example.com")
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: accTok, Password: newPassword}); err != nil {
			t.Fatal(err)
		}
		before := e.snap(t)
		_, err = e.svc.Revoke(e.as(t, e.owner), e.c, acc.ID)
		if !errors.As(err, &se) || se.Status != "accepted" || !errors.Is(err, invitation.ErrNotPending) {
			t.Fatalf("revoke accepted = %v, want a StateError", err)
		}
		e.unchanged(t, before)
		if e.status(t, acc.ID) != "accepted" {
			t.Fatal("revoke changed an accepted invitation")
		}
	})
}

// Only an actor with member:invite in the invitation's organization
// resends or revokes it; to anyone else it does not exist.
func TestResendRevokeCrossTenant(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		inv, tok := e.invite(t, "guarded@example.com")
		for _, who := range []struct {
			name string
			u    *ent.User
		}{{"owner of another organization", e.out}, {"plain member", e.member}} {
			t.Run(who.name, func(t *testing.T) {
				before := e.snap(t)
				if _, err := e.svc.Resend(e.as(t, who.u), e.c, inv.ID); !ent.IsNotFound(err) {
					t.Fatalf("resend = %v, want not found", err)
				}
				if _, err := e.svc.Revoke(e.as(t, who.u), e.c, inv.ID); !ent.IsNotFound(err) {
					t.Fatalf("revoke = %v, want not found", err)
				}
				e.unchanged(t, before)
				if msgs := e.sent(t); len(msgs) != 0 {
					t.Fatalf("%d messages", len(msgs))
				}
			})
		}
		t.Run("no actor", func(t *testing.T) {
			if _, err := e.svc.Revoke(context.Background(), e.c, inv.ID); err == nil {
				t.Fatal("revoke without an actor succeeded")
			}
			if _, err := e.svc.Resend(context.Background(), e.c, inv.ID); err == nil {
				t.Fatal("resend without an actor succeeded")
			}
		})
		if e.status(t, inv.ID) != "pending" {
			t.Fatal("the invitation changed")
		}
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok, Password: newPassword}); err != nil {
			t.Fatalf("the token stopped working: %v", err)
		}
	})
}

func TestExpireDue(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		var due []*ent.Invitation
		for i := range 3 {
			inv, _ := e.invite(t, fmt.Sprintf("due%d@example.com", i))
			due = append(due, inv)
		}
		// One in the other organization.
		oinv, err := e.svc.Invite(e.as(t, e.out), e.c, invitation.InviteInput{OrganizationID: e.other.ID, Email: "due-other@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		e.sent(t)
		due = append(due, oinv)
		accepted, accTok := e.invite(t, "done@example.com")
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: accTok, Password: newPassword}); err != nil {
			t.Fatal(err)
		}
		revoked, _ := e.invite(t, "gone@example.com")
		if _, err := e.svc.Revoke(e.as(t, e.owner), e.c, revoked.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(invitation.DefaultTTL + time.Second)
		fresh, _ := e.invite(t, "fresh@example.com")

		n, err := e.svc.ExpireDue(context.Background(), 3)
		if err != nil || n != 3 {
			t.Fatalf("ExpireDue(3) = %d, %v; want 3", n, err)
		}
		n, err = e.svc.ExpireDue(context.Background(), 0)
		if err != nil || n != 1 {
			t.Fatalf("ExpireDue(0) = %d, %v; want 1", n, err)
		}
		n, err = e.svc.ExpireDue(context.Background(), 0)
		if err != nil || n != 0 {
			t.Fatalf("ExpireDue again = %d, %v; want 0", n, err)
		}
		for _, inv := range due {
			if got := e.status(t, inv.ID); got != "expired" {
				t.Fatalf("%s: status %s, want expired", inv.Email, got)
			}
			a := e.wantOneActivity(t, "invitation.expired", inv.ID, inv.OrganizationID)
			if a.ActorType != "system" || a.ObjectType != "Invitation" {
				t.Fatalf("invitation.expired = %+v", a)
			}
		}
		for id, want := range map[pulid.ID]string{accepted.ID: "accepted", revoked.ID: "revoked", fresh.ID: "pending"} {
			if got := e.status(t, id); got != want {
				t.Fatalf("%s: status %s, want %s", id, got, want)
			}
		}
		if got := len(e.activities(t, "invitation.expired")); got != len(due) {
			t.Fatalf("%d invitation.expired activities, want %d", got, len(due))
		}
	})
}

// Every verb of the flows is recorded once, in the right organization.
func TestActivities(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		inv, _ := e.invite(t, "trail@example.com")
		if _, err := e.svc.Resend(e.as(t, e.owner), e.c, inv.ID); err != nil {
			t.Fatal(err)
		}
		tok := e.oneToken(t, "trail@example.com")
		out, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok, Password: newPassword})
		if err != nil {
			t.Fatal(err)
		}
		rinv, _ := e.invite(t, "never@example.com")
		if _, err := e.svc.Revoke(e.as(t, e.owner), e.c, rinv.ID); err != nil {
			t.Fatal(err)
		}
		xinv, _ := e.invite(t, "expires@example.com")
		e.clock.Advance(invitation.DefaultTTL)
		if _, err := e.svc.ExpireDue(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			verb string
			id   pulid.ID
			org  pulid.ID
		}{
			{"member.invited", inv.ID, e.org.ID},
			{"member.invited", rinv.ID, e.org.ID},
			{"member.invited", xinv.ID, e.org.ID},
			{"invitation.resent", inv.ID, e.org.ID},
			{"invitation.accepted", inv.ID, e.org.ID},
			{"member.joined", out.Membership.ID, e.org.ID},
			{"user.created", out.User.ID, ""},
			{"invitation.revoked", rinv.ID, e.org.ID},
			{"invitation.expired", xinv.ID, e.org.ID},
		}
		for _, tt := range tests {
			t.Run(tt.verb, func(t *testing.T) {
				e.wantOneActivity(t, tt.verb, tt.id, tt.org)
			})
		}
		// Nothing else of the invitation verbs.
		if n := e.count(t, `SELECT count(*) FROM cf_activities WHERE verb LIKE 'invitation.%' OR verb IN ('member.invited', 'member.joined')`); n != len(tests)-1 {
			t.Fatalf("%d invitation activities, want %d", n, len(tests)-1)
		}
	})
}

// No token is stored in plaintext: the scanner finds one planted, and
// none after the flows (newEnv scans after every test too).
func TestTokensNotStored(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		inv, tok := e.invite(t, "secret@example.com")
		if _, err := e.svc.Resend(e.as(t, e.owner), e.c, inv.ID); err != nil {
			t.Fatal(err)
		}
		tok2 := e.oneToken(t, "secret@example.com")
		if _, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok2, Password: newPassword}); err != nil {
			t.Fatal(err)
		}
		rinv, _ := e.invite(t, "revoked@example.com")
		if _, err := e.svc.Revoke(e.as(t, e.owner), e.c, rinv.ID); err != nil {
			t.Fatal(err)
		}
		e.invite(t, "left-pending@example.com")
		if len(e.tokens) != 4 || tok == tok2 {
			t.Fatalf("%d tokens issued, want 4 distinct", len(e.tokens))
		}
		if found := e.plaintextTokens(t); len(found) != 0 {
			t.Fatalf("tokens in plaintext: %v", found)
		}
		if len(e.tables(t)) < 10 {
			t.Fatalf("only %d tables scanned", len(e.tables(t)))
		}
		// The scanner sees a planted token (the secret part, upper-case).
		secretPart := strings.ToUpper(tok[strings.LastIndex(tok, "_")+1:])
		planted, err := e.svc.Invite(e.as(t, e.owner), e.c, invitation.InviteInput{OrganizationID: e.org.ID, Email: "planted@example.com", Message: "psst " + secretPart})
		if err != nil {
			t.Fatal(err)
		}
		e.box.take()
		if found := e.plaintextTokens(t); len(found) == 0 || !strings.Contains(strings.Join(found, " "), "cf_invitations.message") {
			t.Fatalf("the scanner missed a planted token: %v", found)
		}
		// Take the plant out again for the scan of newEnv.
		if _, err := e.sql.Exec(e.q(`UPDATE cf_invitations SET message = '' WHERE id = ?`), string(planted.ID)); err != nil {
			t.Fatal(err)
		}
		if found := e.plaintextTokens(t); len(found) != 0 {
			t.Fatalf("after removing the plant: %v", found)
		}
	})
}

// An impersonated session cannot accept for the impersonated user.
func TestAcceptImpersonated(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		inv, tok := e.invite(t, "out@b.com")
		before := e.snap(t)
		ctx := actor.NewContext(context.Background(), actor.User(e.out.ID, actor.PlatformNone).ImpersonatedBy(e.owner.ID))
		_, err := e.svc.Accept(ctx, e.c, invitation.AcceptInput{Token: tok})
		if !errors.Is(err, authz.ErrImpersonated) {
			t.Fatalf("err = %v, want ErrImpersonated", err)
		}
		e.unchanged(t, before)
		if e.status(t, inv.ID) != "pending" {
			t.Fatal("the invitation changed")
		}
	})
}

// A new address invited to two organizations: the first acceptance creates
// the account (with the password); the second joins with the account.
func TestAcceptSecondInvitation(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		_, tokA := e.invite(t, "twice@example.com")
		if _, err := e.svc.Invite(e.as(t, e.out), e.c, invitation.InviteInput{OrganizationID: e.other.ID, Email: "twice@example.com"}); err != nil {
			t.Fatal(err)
		}
		tokB := e.oneToken(t, "twice@example.com")
		first, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tokB, Password: newPassword})
		if err != nil || !first.UserCreated {
			t.Fatalf("first acceptance: %+v, %v", first, err)
		}
		_, err = e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tokA, Password: newPassword})
		wantValidation(t, err, "password")
		second, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tokA})
		if err != nil || second.UserCreated || second.User.ID != first.User.ID {
			t.Fatalf("second acceptance: %+v, %v", second, err)
		}
		if n := e.count(t, `SELECT count(*) FROM cf_memberships WHERE user_id = ?`, string(first.User.ID)); n != 2 {
			t.Fatalf("%d memberships, want 2", n)
		}
	})
}

// With the invitations flow switched off, nobody invites, resends or
// accepts.
func TestGateOff(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		inv, tok := e.invite(t, "gated@example.com")
		off, err := invitation.New(e.c, invitation.Config{Sessions: e.sessions, Mail: e.courier, Now: e.clock.Now,
			Gates: features.New(e.c, map[features.Flow]bool{features.Invitations: false})})
		if err != nil {
			t.Fatal(err)
		}
		before := e.snap(t)
		for name, do := range map[string]func() error{
			"invite": func() error {
				_, err := off.Invite(e.as(t, e.owner), e.c, invitation.InviteInput{OrganizationID: e.org.ID, Email: "other@example.com"})
				return err
			},
			"resend": func() error { _, err := off.Resend(e.as(t, e.owner), e.c, inv.ID); return err },
			"accept": func() error {
				_, err := off.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok, Password: newPassword})
				return err
			},
		} {
			if err := do(); !errors.Is(err, features.ErrDisabled) {
				t.Errorf("%s with the flow off = %v, want features.ErrDisabled", name, err)
			}
		}
		e.unchanged(t, before)
		if msgs := e.sent(t); len(msgs) != 0 {
			t.Fatalf("%d messages", len(msgs))
		}
	})
}
