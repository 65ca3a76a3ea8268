package adminapi_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/adminapi"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/bootstrap"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	entinv "github.com/cf/identity/ent/invitation"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/features"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/mailtest"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/invitation"
	"github.com/cf/identity/mail"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/session"
	"github.com/cf/identity/tenancy"
)

const password = "Marigold-Pelican-Causeway-482"

// fixture is a real server (graph.NewHandler with sign-in and the
// invitation flow) over a fresh database: the bootstrap superadmin, an
// organization owned by alice with bob and carol as members, eve who
// belongs nowhere, and a personal key with every scope for each of them.
type fixture struct {
	client   *ent.Client
	sessions *session.Manager
	box      *mailtest.Mailbox
	url      string

	adminKey, aliceKey, bobKey, eveKey string
	adminID, aliceID, bobID, carolID   pulid.ID
	org                                *ent.Organization
}

func system() context.Context { return actor.NewContext(context.Background(), actor.System("test")) }

func newFixture(t *testing.T, db testdb.Target) *fixture {
	t.Helper()
	ctx := context.Background()
	client, _ := testdb.Migrated(t, db)
	admin, err := bootstrap.Superadmin(ctx, client, "admin@example.com", "Admin")
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	f := &fixture{client: client, box: &mailtest.Mailbox{}, adminKey: admin.Key, adminID: admin.UserID}

	cfg := session.DefaultConfig()
	cfg.Argon2 = secret.MinArgon2
	cfg.MasterKey = make([]byte, 32)
	if _, err := rand.Read(cfg.MasterKey); err != nil {
		t.Fatal(err)
	}
	if f.sessions, err = session.New(ctx, client, cfg); err != nil {
		t.Fatalf("session.New: %v", err)
	}
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	outbox := mail.NewOutbox(f.box, discard, mail.OutboxOptions{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := outbox.Close(ctx); err != nil {
			t.Errorf("closing the outbox: %v", err)
		}
	})
	courier, err := mail.NewCourier(outbox, mail.CourierOptions{PublicURL: "http://identity.test", Log: discard})
	if err != nil {
		t.Fatalf("courier: %v", err)
	}
	gates := features.New(client, nil)
	inv, err := invitation.New(client, invitation.Config{Sessions: f.sessions, Mail: courier, Gates: gates})
	if err != nil {
		t.Fatalf("invitations: %v", err)
	}
	srv := httptest.NewServer(graph.NewHandler(client, graph.Options{
		Logger: discard, Sessions: f.sessions, Flows: graph.Flows{Invitations: inv, Features: gates},
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL

	var alice, bob, carol *ent.User
	alice, f.aliceKey = f.newUser(t, "alice@example.com", "Alice")
	bob, f.bobKey = f.newUser(t, "bob@example.com", "Bob")
	carol, _ = f.newUser(t, "carol@example.com", "Carol")
	_, f.eveKey = f.newUser(t, "eve@example.com", "Eve")
	f.aliceID, f.bobID, f.carolID = alice.ID, bob.ID, carol.ID
	actx, err := authz.NewContext(ctx, client, actor.User(alice.ID, actor.PlatformNone))
	if err != nil {
		t.Fatal(err)
	}
	if f.org, err = tenancy.CreateOrganization(actx, client, ent.CreateOrganizationInput{Name: "Acme", Slug: "acme"}); err != nil {
		t.Fatalf("creating the organization: %v", err)
	}
	for _, m := range []tenancy.AddMemberInput{
		{OrganizationID: f.org.ID, UserID: bob.ID, Title: ptr("Agent"), Department: ptr("Support")},
		{OrganizationID: f.org.ID, UserID: carol.ID, Title: ptr("Engineer")},
	} {
		if _, err := tenancy.AddMember(system(), client, m); err != nil {
			t.Fatalf("adding a member: %v", err)
		}
	}
	return f
}

// newUser creates an active user with a password and a personal key with
// every scope, as the system.
func (f *fixture) newUser(t *testing.T, email, name string) (*ent.User, string) {
	t.Helper()
	active, none := user.StatusActive, user.PlatformRoleNone
	pw := password
	u, err := f.sessions.CreateUser(system(), f.client, ent.CreateUserInput{Email: email, DisplayName: &name, Status: &active, PlatformRole: &none}, &pw)
	if err != nil {
		t.Fatalf("creating %s: %v", email, err)
	}
	key, _, err := apikey.Create(system(), f.client, apikey.Params{Name: "test", OwnerID: u.ID, Scopes: []string{actor.ScopeAll}})
	if err != nil {
		t.Fatalf("key of %s: %v", email, err)
	}
	return u, key
}

// login opens a session of email with the user agent ua.
func (f *fixture) login(t *testing.T, email, ua string) pulid.ID {
	t.Helper()
	tok, err := f.sessions.Login(context.Background(), session.LoginInput{
		Email: email, Password: password, Client: session.Client{IP: "192.0.2.7", UserAgent: ua},
	})
	if err != nil {
		t.Fatalf("login of %s: %v", email, err)
	}
	return tok.SessionID
}

func ptr[T any](v T) *T { return &v }

func TestClient(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		f := newFixture(t, db)
		ctx := context.Background()
		admin := adminapi.New(f.url, f.adminKey)
		alice := adminapi.New(f.url+"/graphql", f.aliceKey)

		t.Run("viewer", func(t *testing.T) {
			cases := []struct {
				name, key, kind, email, platformRole string
				orgs                                 []string // slug:role keys
			}{
				{"bootstrap key", f.adminKey, "api_key", "admin@example.com", "superadmin", nil},
				{"owner's key", f.aliceKey, "api_key", "alice@example.com", "none", []string{"acme:owner"}},
				{"member's key", f.bobKey, "api_key", "bob@example.com", "none", []string{"acme:member"}},
				{"key of nobody's member", f.eveKey, "api_key", "eve@example.com", "none", nil},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					resp, err := adminapi.Viewer(ctx, adminapi.New(f.url, c.key))
					if err != nil {
						t.Fatalf("Viewer: %v", err)
					}
					v := resp.Viewer
					if v.Kind != c.kind || v.User == nil || v.User.Email != c.email || v.PlatformRole != c.platformRole {
						t.Fatalf("viewer = kind %q, user %+v, platform role %q; want %q, %s, %q", v.Kind, v.User, v.PlatformRole, c.kind, c.email, c.platformRole)
					}
					if v.ApiKey == nil || v.ApiKey.Prefix == "" || v.ApiKey.OrganizationID != nil {
						t.Errorf("apiKey = %+v, want a personal key", v.ApiKey)
					}
					var orgs []string
					for _, o := range v.Organizations {
						for _, r := range o.Roles {
							orgs = append(orgs, o.Organization.Slug+":"+r.Key)
						}
					}
					if !slices.Equal(orgs, c.orgs) {
						t.Errorf("organizations = %v, want %v", orgs, c.orgs)
					}
				})
			}
		})

		t.Run("organization members, page by page", func(t *testing.T) {
			want := []string{"alice@example.com owner  ", "bob@example.com member Agent Support", "carol@example.com member Engineer "}
			for _, size := range []int{1, 2, 100} {
				var got []string
				var after *string
				for pages := 0; ; pages++ {
					if pages > 3 {
						t.Fatalf("first %d: more pages than members", size)
					}
					resp, err := adminapi.OrganizationMembers(ctx, alice, f.org.ID, &size, after)
					if err != nil {
						t.Fatalf("OrganizationMembers(first %d): %v", size, err)
					}
					org := resp.Organization()
					if org == nil || org.Id != f.org.ID || org.Slug != "acme" {
						t.Fatalf("organization = %+v, want acme", org)
					}
					page := org.Memberships
					if page.TotalCount != 3 {
						t.Errorf("totalCount = %d, want 3", page.TotalCount)
					}
					for _, e := range page.Edges {
						m := e.Node
						var keys []string
						for _, r := range m.Roles.Edges {
							keys = append(keys, r.Node.Key)
						}
						if m.Status != adminapi.MembershipStatusActive {
							t.Errorf("member %s: status %s", m.User.Email, m.Status)
						}
						got = append(got, m.User.Email+" "+joinKeys(keys)+" "+m.Title+" "+m.Department)
					}
					if !page.PageInfo.HasNextPage {
						break
					}
					after = page.PageInfo.EndCursor
				}
				sort.Strings(got)
				if !slices.Equal(got, want) {
					t.Errorf("first %d: members = %q, want %q", size, got, want)
				}
			}
		})

		t.Run("refusals", func(t *testing.T) {
			unknownOrg, unknownUser, unknownSession := pulid.New("org"), pulid.New("usr"), pulid.New("ses")
			cases := []struct {
				name string
				call func() error
				code string
			}{
				{"members of an unknown organization", func() error {
					_, err := adminapi.OrganizationMembers(ctx, admin, unknownOrg, nil, nil)
					return err
				}, "NOT_FOUND"},
				{"members of an organization the caller is not in", func() error {
					_, err := adminapi.OrganizationMembers(ctx, adminapi.New(f.url, f.eveKey), f.org.ID, nil, nil)
					return err
				}, "NOT_FOUND"},
				{"ban of an unknown user", func() error {
					_, err := adminapi.Ban(ctx, admin, unknownUser, "spam", nil)
					return err
				}, "NOT_FOUND"},
				{"revoke of an unknown session", func() error {
					_, err := adminapi.RevokeSession(ctx, admin, unknownSession)
					return err
				}, "NOT_FOUND"},
				{"no key", func() error {
					_, err := adminapi.Viewer(ctx, adminapi.New(f.url, ""))
					return err
				}, "UNAUTHENTICATED"},
				{"invalid key", func() error {
					_, err := adminapi.Viewer(ctx, adminapi.New(f.url, "cfk_notakey_0000000000000000"))
					return err
				}, "UNAUTHENTICATED"},
				{"invite by a member without member:invite", func() error {
					_, err := adminapi.Invite(ctx, adminapi.New(f.url, f.bobKey), f.org.ID, "mallory@example.com", nil, nil)
					return err
				}, "FORBIDDEN"},
				{"ban by an organization owner (no platform:user_manage)", func() error {
					_, err := adminapi.Ban(ctx, alice, f.bobID, "spam", nil)
					return err
				}, "FORBIDDEN"},
				{"acting in an organization the key is not in", func() error {
					_, err := adminapi.Viewer(ctx, adminapi.New(f.url, f.eveKey, adminapi.WithOrganization(f.org.ID)))
					return err
				}, "FORBIDDEN"},
				{"ban expiring in the past", func() error {
					_, err := adminapi.Ban(ctx, admin, f.bobID, "spam", ptr(time.Now().Add(-time.Hour)))
					return err
				}, "BAD_USER_INPUT"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					err := c.call()
					if got := adminapi.Code(err); got != c.code {
						t.Fatalf("Code(%v) = %q, want %q", err, got, c.code)
					}
				})
			}
			// Nothing was changed by the refusals.
			if n := f.client.Invitation.Query().CountX(system()); n != 0 {
				t.Errorf("%d invitations after the refused invite", n)
			}
			if u := f.client.User.GetX(system(), f.bobID); u.BannedAt != nil {
				t.Errorf("bob banned by a refused ban: %+v", u.BannedAt)
			}
		})

		t.Run("invite", func(t *testing.T) {
			resp, err := adminapi.Invite(ctx, alice, f.org.ID, "Dave@Example.com", nil, ptr("Welcome aboard"))
			if err != nil {
				t.Fatalf("Invite: %v", err)
			}
			inv := resp.InviteMember
			if inv.Email != "dave@example.com" || inv.Status != adminapi.InvitationStatusPending || inv.OrganizationID != f.org.ID ||
				inv.Message != "Welcome aboard" || inv.SentCount != 1 || len(inv.Roles) != 1 || inv.Roles[0].Key != "member" || !inv.ExpiresAt.After(time.Now()) {
				t.Fatalf("invitation = %+v", inv)
			}
			stored := f.client.Invitation.GetX(system(), inv.Id)
			if stored.Email != "dave@example.com" || stored.Status != entinv.StatusPending || stored.InviterID == nil || *stored.InviterID != f.aliceID {
				t.Errorf("stored invitation = %+v", stored)
			}
			f.box.Wait(t, "dave@example.com", "invitation", 1)
			// A second invitation of the address is a conflict.
			_, err = adminapi.Invite(ctx, alice, f.org.ID, "dave@example.com", nil, nil)
			if got := adminapi.Code(err); got != "CONFLICT" {
				t.Errorf("second invitation: Code(%v) = %q, want CONFLICT", err, got)
			}
		})

		t.Run("sessions: list and revoke", func(t *testing.T) {
			first := f.login(t, "bob@example.com", "laptop")
			second := f.login(t, "bob@example.com", "phone")
			f.login(t, "carol@example.com", "desktop")
			cases := []struct {
				name, key string
				userID    *pulid.ID
				want      []pulid.ID
			}{
				{"bob's, by the platform admin", f.adminKey, &f.bobID, []pulid.ID{first, second}},
				{"the viewer's own, by bob's key", f.bobKey, nil, []pulid.ID{first, second}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					resp, err := adminapi.Sessions(ctx, adminapi.New(f.url, c.key), c.userID, true, ptr(50), nil)
					if err != nil {
						t.Fatalf("Sessions: %v", err)
					}
					var got []pulid.ID
					for _, e := range resp.Sessions.Edges {
						if e.Node.UserID != f.bobID || e.Node.RevokedAt != nil || e.Node.Ip != "192.0.2.7" {
							t.Errorf("session %+v", e.Node)
						}
						got = append(got, e.Node.Id)
					}
					slices.Sort(got)
					want := slices.Sorted(slices.Values(c.want))
					if !slices.Equal(got, want) || resp.Sessions.TotalCount != len(want) {
						t.Errorf("sessions = %v (totalCount %d), want %v", got, resp.Sessions.TotalCount, want)
					}
				})
			}

			rev, err := adminapi.RevokeSession(ctx, admin, first)
			if err != nil {
				t.Fatalf("RevokeSession: %v", err)
			}
			if rev.RevokeSession.Id != first || rev.RevokeSession.RevokedAt == nil || rev.RevokeSession.RevokedReason == "" {
				t.Fatalf("revoked = %+v", rev.RevokeSession)
			}
			live, err := adminapi.Sessions(ctx, admin, &f.bobID, true, nil, nil)
			if err != nil {
				t.Fatalf("Sessions: %v", err)
			}
			if n := len(live.Sessions.Edges); n != 1 || live.Sessions.Edges[0].Node.Id != second {
				t.Errorf("live sessions after the revoke: %+v", live.Sessions.Edges)
			}
			all, err := adminapi.Sessions(ctx, admin, &f.bobID, false, nil, nil)
			if err != nil {
				t.Fatalf("Sessions: %v", err)
			}
			if all.Sessions.TotalCount != 2 {
				t.Errorf("all of bob's sessions: totalCount %d, want 2", all.Sessions.TotalCount)
			}
		})

		t.Run("ban and unban", func(t *testing.T) {
			until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
			cases := []struct {
				name    string
				expires *time.Time
			}{
				{"until lifted", nil},
				{"until tomorrow", &until},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					f.login(t, "carol@example.com", "tablet")
					resp, err := adminapi.Ban(ctx, admin, f.carolID, "chargeback fraud", c.expires)
					if err != nil {
						t.Fatalf("Ban: %v", err)
					}
					b := resp.BanUser
					if b.Id != f.carolID || b.BannedAt == nil || b.BanReason != "chargeback fraud" {
						t.Fatalf("banned user = %+v", b)
					}
					if (c.expires == nil) != (b.BanExpiresAt == nil) || (c.expires != nil && !b.BanExpiresAt.Equal(*c.expires)) {
						t.Errorf("banExpiresAt = %v, want %v", b.BanExpiresAt, c.expires)
					}
					stored := f.client.User.GetX(system(), f.carolID)
					if stored.BannedAt == nil || stored.BanReason != "chargeback fraud" {
						t.Errorf("stored user: bannedAt %v, reason %q", stored.BannedAt, stored.BanReason)
					}
					live, err := adminapi.Sessions(ctx, admin, &f.carolID, true, nil, nil)
					if err != nil {
						t.Fatalf("Sessions: %v", err)
					}
					if live.Sessions.TotalCount != 0 {
						t.Errorf("%d live sessions of a banned user", live.Sessions.TotalCount)
					}
					un, err := adminapi.Unban(ctx, admin, f.carolID, "appeal granted")
					if err != nil {
						t.Fatalf("Unban: %v", err)
					}
					if un.UnbanUser.BannedAt != nil || un.UnbanUser.BanExpiresAt != nil || un.UnbanUser.Status != adminapi.UserStatusActive {
						t.Errorf("unbanned user = %+v", un.UnbanUser)
					}
				})
			}
			// The trail names the client's User-Agent.
			acts := f.client.Activity.Query().Where(activity.Verb("user.banned")).AllX(system())
			if len(acts) != len(cases) {
				t.Fatalf("%d user.banned activities, want %d", len(acts), len(cases))
			}
			for _, a := range acts {
				if a.UserAgent != adminapi.DefaultUserAgent {
					t.Errorf("activity user agent = %q, want %q", a.UserAgent, adminapi.DefaultUserAgent)
				}
			}
		})
	})
}

func joinKeys(keys []string) string {
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

func TestCodeWithoutGraphQLError(t *testing.T) {
	for _, err := range []error{nil, errors.New("dial tcp: connection refused"), context.DeadlineExceeded} {
		if got := adminapi.Code(err); got != "" {
			t.Errorf("Code(%v) = %q, want empty", err, got)
		}
	}
}
