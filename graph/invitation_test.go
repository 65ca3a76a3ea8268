package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/features"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/mailtest"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/invitation"
	"github.com/cf/identity/mail"
	"github.com/cf/identity/oauthlink"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/session"
	"github.com/cf/identity/tenancy"
)

// mailbox keeps the mail of the flows (package mailtest).
type mailbox = mailtest.Mailbox

// mailWait is how long a test waits for a message.
const mailWait = mailtest.Wait

// tokenOf returns the token of the link of m, which must lead to path
// below the public URL and appear in the text body.
func tokenOf(t *testing.T, m mail.Message, path string) string {
	t.Helper()
	u, err := url.Parse(m.Link)
	if err != nil {
		t.Fatalf("link %q: %v", m.Link, err)
	}
	if u.Scheme+"://"+u.Host != flowPublicURL || u.Path != path {
		t.Errorf("link %s, want %s%s?token=...", m.Link, flowPublicURL, path)
	}
	if !strings.Contains(m.Text, m.Link) {
		t.Errorf("the text of the %s message does not hold its link:\n%s", m.Kind, m.Text)
	}
	tok := u.Query().Get("token")
	if tok == "" {
		t.Fatalf("link %s has no token", m.Link)
	}
	return tok
}

// flowPublicURL is the public URL of the flow tests: links start with it.
const flowPublicURL = "https://id.example.test"

// flowEnv is a server with sign-in and the mailed-link flows, mailing to
// box (or to the Mailer of flowOptions).
type flowEnv struct {
	*authEnv
	box   *mailbox
	flows graph.Flows
}

type flowOptions struct {
	opts graph.Options
	// defaults are the configured flow switches (features.Defaults when
	// nil).
	defaults map[features.Flow]bool
	// mailer replaces the mailbox.
	mailer mail.Mailer
	// mod changes the session configuration.
	mod func(*session.Config)
}

// setupFlows is setupAuth with real flows: invitations, recovery, OAuth
// links and feature switches over the environment's database and session
// manager, mailing through an outbox to a mailbox (or fo.mailer).
func setupFlows(t *testing.T, db testdb.Target, fo flowOptions) *flowEnv {
	t.Helper()
	fe := &flowEnv{box: &mailbox{}}
	mailer := fo.mailer
	if mailer == nil {
		mailer = fe.box
	}
	fe.authEnv = setupAuthFlows(t, db, fo.opts, fo.mod, func(e *authEnv) graph.Flows {
		outbox := mail.NewOutbox(mailer, discardLogger(), mail.OutboxOptions{Attempts: 2, Backoff: 10 * time.Millisecond})
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = outbox.Close(ctx)
		})
		courier, err := mail.NewCourier(outbox, mail.CourierOptions{PublicURL: flowPublicURL, Product: "Acme ID", Log: discardLogger()})
		if err != nil {
			t.Fatalf("courier: %v", err)
		}
		gates := features.New(e.client, fo.defaults)
		rec, err := session.NewRecovery(e.m, session.RecoveryConfig{Mail: courier, Gates: gates})
		if err != nil {
			t.Fatalf("recovery: %v", err)
		}
		inv, err := invitation.New(e.client, invitation.Config{Sessions: e.m, Mail: courier, Gates: gates})
		if err != nil {
			t.Fatalf("invitations: %v", err)
		}
		links, err := oauthlink.New(e.client, e.m.Sealer())
		if err != nil {
			t.Fatalf("oauth links: %v", err)
		}
		fe.flows = graph.Flows{Invitations: inv, Recovery: rec, OAuth: links, Features: gates}
		return fe.flows
	})
	return fe
}

const (
	inviteMutation = `mutation($o: ID!, $e: String!, $m: String, $r: [ID!]) {
  inviteMember(organizationID: $o, email: $e, message: $m, roleIDs: $r) {
    id email status sentCount message expiresAt organization { id } inviter { id } roles { id } } }`
	revokeMutation = `mutation($id: ID!) { revokeInvitation(id: $id) { id status revokedAt } }`
	acceptMutation = `mutation($t: String!) { acceptInvitation(token: $t) { userCreated invitation { id status acceptedBy { id } } membership { id status organizationID organization { id } } } }`
	addMemberQuery = `mutation($o: ID!, $u: ID!) { addMember(input: {organizationID: $o, userID: $u}) { id } }`
	newcomerPW     = "Saffron-Heron-Lighthouse-4471"
)

type invitedData struct {
	InviteMember struct {
		ID, Email, Status, Message string
		SentCount                  int
		ExpiresAt                  time.Time
		Organization               struct{ ID string }
		Inviter                    *struct{ ID string }
		Roles                      []struct{ ID string }
	}
}

// invite invites email to org with the credential and returns the
// invitation's ID and the token of the mailed link (the n-th invitation
// mail to the address).
func (e *flowEnv) invite(t *testing.T, credential string, org pulid.ID, email string, n int) (string, string) {
	t.Helper()
	var d invitedData
	r := gqlOn(t, e.srv, credential, inviteMutation, map[string]any{"o": org, "e": email}, nil)
	wantOK(t, r, &d)
	tok := tokenOf(t, e.box.Wait(t, strings.ToLower(email), mail.KindInvitation, n), invitation.AcceptPath)
	assertNoSecrets(t, r, tok)
	return d.InviteMember.ID, tok
}

// acceptHTTP posts the token (and password and name, when set) to
// /auth/invitations/accept.
func (e *flowEnv) acceptHTTP(t *testing.T, token, pw, name string) response {
	t.Helper()
	body := map[string]string{"token": token}
	if pw != "" {
		body["password"] = pw
	}
	if name != "" {
		body["name"] = name
	}
	return authPost(t, e.srv, "/auth/invitations/accept", jsonString(t, body), nil)
}

// wantMessage checks that g's message is msg, whole: no request position,
// path or package prefix in front of it.
func wantMessage(t *testing.T, g gqlError, msg string) {
	t.Helper()
	if g.Message != msg {
		t.Errorf("message = %q, want %q", g.Message, msg)
	}
}

// TestInvitationJourney: an owner invites an address through GraphQL, the
// link arrives by mail, the invitee accepts it over HTTP with a password
// and signs in; the token works once, an unknown or malformed one is
// refused, and so is the token of a revoked invitation.
func TestInvitationJourney(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupFlows(t, db, flowOptions{})
		org, owner, ownerKey := e.orgFixture(t, "acme")

		var d invitedData
		r := gqlOn(t, e.srv, ownerKey, inviteMutation, map[string]any{"o": org.ID, "e": "  Newcomer@Example.com ", "m": "Welcome aboard"}, nil)
		wantOK(t, r, &d)
		inv := d.InviteMember
		if pulid.ID(inv.ID).Prefix() != "inv" || inv.Email != "newcomer@example.com" || inv.Status != "pending" || inv.SentCount != 1 ||
			inv.Message != "Welcome aboard" || inv.Organization.ID != string(org.ID) || inv.Inviter == nil || inv.Inviter.ID != string(owner.ID) ||
			len(inv.Roles) != 1 || inv.Roles[0].ID != string(permission.MemberRoleID) {
			t.Errorf("inviteMember = %+v", inv)
		}
		if d := time.Until(inv.ExpiresAt); d < invitation.DefaultTTL-time.Hour || d > invitation.DefaultTTL+time.Hour {
			t.Errorf("expiresAt = %s, want about %s from now", inv.ExpiresAt, invitation.DefaultTTL)
		}
		msg := e.box.Wait(t, "newcomer@example.com", mail.KindInvitation, 1)
		tok := tokenOf(t, msg, invitation.AcceptPath)
		for _, want := range []string{"Welcome aboard", "acme", "Acme ID", owner.Email} {
			if !strings.Contains(msg.Text, want) {
				t.Errorf("invitation text lacks %q:\n%s", want, msg.Text)
			}
		}
		assertNoSecrets(t, r, tok)
		if n := e.count(t, `SELECT COUNT(*) FROM cf_activities WHERE verb = 'member.invited'`); n != 1 {
			t.Errorf("member.invited activities = %d, want 1", n)
		}

		// Accepting over HTTP creates the user and the membership.
		r = e.acceptHTTP(t, tok, newcomerPW, "New Comer")
		if r.status != http.StatusOK {
			t.Fatalf("accept: HTTP %d: %s", r.status, r.raw)
		}
		assertNoSecrets(t, r, tok, newcomerPW)
		var acc struct {
			InvitationID, OrganizationID, MembershipID, UserID, Email string
			UserCreated                                               bool
		}
		if err := json.Unmarshal(r.raw, &acc); err != nil {
			t.Fatal(err)
		}
		if acc.InvitationID != inv.ID || acc.OrganizationID != string(org.ID) || pulid.ID(acc.MembershipID).Prefix() != "mem" ||
			pulid.ID(acc.UserID).Prefix() != "usr" || acc.Email != "newcomer@example.com" || !acc.UserCreated {
			t.Errorf("accept answer = %+v", acc)
		}

		// The newcomer signs in and is an active member with a verified
		// address.
		s := e.login(t, "newcomer@example.com", newcomerPW)
		var v struct {
			Viewer struct {
				User struct {
					Email         string
					EmailVerified bool
					DisplayName   string
				}
				Organizations []struct {
					Organization struct{ ID string }
					Roles        []struct{ Key string }
				}
			}
		}
		wantOK(t, gqlOn(t, e.srv, s.AccessToken, `{ viewer { user { email emailVerified displayName } organizations { organization { id } roles { key } } } }`, nil, nil), &v)
		if u := v.Viewer.User; u.Email != "newcomer@example.com" || !u.EmailVerified || u.DisplayName != "New Comer" {
			t.Errorf("viewer user = %+v, want the newcomer, verified", u)
		}
		if os := v.Viewer.Organizations; len(os) != 1 || os[0].Organization.ID != string(org.ID) || len(os[0].Roles) != 1 || os[0].Roles[0].Key != "member" {
			t.Errorf("viewer organizations = %+v, want acme as member", os)
		}

		// A token works once.
		again := e.acceptHTTP(t, tok, newcomerPW, "")
		wantAuthError(t, again, http.StatusConflict, graph.CodeInvitationAccepted)
		assertNoSecrets(t, again, tok, newcomerPW)
		if n := e.count(t, `SELECT COUNT(*) FROM cf_memberships WHERE user_id = `+e.q(1), acc.UserID); n != 1 {
			t.Errorf("memberships of the newcomer = %d after a second acceptance, want 1", n)
		}

		// Unknown and malformed tokens.
		unknown, _, err := secret.NewToken("cfinv")
		if err != nil {
			t.Fatal(err)
		}
		reset, _, _ := secret.NewToken("cfrst")
		for _, bad := range []string{unknown, "cfinv_abc", "not a token", reset, tok + "x", strings.ToUpper(tok)} {
			r := e.acceptHTTP(t, bad, newcomerPW, "")
			g := wantAuthError(t, r, http.StatusBadRequest, graph.CodeInvalidToken)
			if f, _ := g.Extensions["field"].(string); f != "token" {
				t.Errorf("%q: extensions.field = %q, want token", bad, f)
			}
			assertNoSecrets(t, r, bad, tok, newcomerPW)
		}
		for _, body := range []string{`{}`, `{"token":""}`} {
			wantAuthError(t, authPost(t, e.srv, "/auth/invitations/accept", body, nil), http.StatusBadRequest, graph.CodeBadUserInput)
		}

		// A revoked invitation's link stops working.
		revokedID, revokedTok := e.invite(t, ownerKey, org.ID, "revoked@example.com", 1)
		var rv struct {
			RevokeInvitation struct {
				ID, Status string
				RevokedAt  *time.Time
			}
		}
		wantOK(t, gqlOn(t, e.srv, ownerKey, revokeMutation, map[string]any{"id": revokedID}, nil), &rv)
		if rv.RevokeInvitation.Status != "revoked" || rv.RevokeInvitation.RevokedAt == nil {
			t.Errorf("revokeInvitation = %+v", rv.RevokeInvitation)
		}
		r = e.acceptHTTP(t, revokedTok, newcomerPW, "")
		wantAuthError(t, r, http.StatusGone, graph.CodeInvitationRevoked)
		assertNoSecrets(t, r, revokedTok, newcomerPW)
		if n := e.count(t, `SELECT COUNT(*) FROM cf_users WHERE email = 'revoked@example.com'`); n != 0 {
			t.Errorf("a revoked invitation created %d users", n)
		}

		// Inviting a member, or an address with a pending invitation, is a
		// conflict.
		e.invite(t, ownerKey, org.ID, "pending@example.com", 1)
		for _, email := range []string{"newcomer@example.com", "pending@example.com"} {
			r := gqlOn(t, e.srv, ownerKey, inviteMutation, map[string]any{"o": org.ID, "e": email}, nil)
			if g := r.onlyError(t); g.code() != graph.CodeConflict {
				t.Errorf("inviting %s: %s", email, r.raw)
			}
			assertNoSecrets(t, r)
		}
	})
}

// TestAcceptInvitationSignedIn: a signed-in user accepts an invitation of
// their own address with acceptInvitation; one of another address, an API
// key and a password for an existing account are refused.
func TestAcceptInvitationSignedIn(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupFlows(t, db, flowOptions{})
		org, _, ownerKey := e.orgFixture(t, "acme")
		invitee := e.newPasswordUser(t, "invitee@example.com", testPassword)
		// A verified address: its account keeps its password (an
		// unverified one is taken back, TestAcceptTakesBackUnverifiedAccount).
		if err := e.client.User.UpdateOneID(invitee.ID).SetEmailVerified(true).Exec(sys()); err != nil {
			t.Fatal(err)
		}
		e.newPasswordUser(t, "bystander@example.com", otherPassword)
		invID, tok := e.invite(t, ownerKey, org.ID, "Invitee@example.com", 1)
		members := func() int {
			return e.count(t, `SELECT COUNT(*) FROM cf_memberships WHERE organization_id = `+e.q(1), string(org.ID))
		}
		before := members()

		// A user of another address.
		bystander := e.login(t, "bystander@example.com", otherPassword)
		r := gqlOn(t, e.srv, bystander.AccessToken, acceptMutation, map[string]any{"t": tok}, nil)
		g := r.onlyError(t)
		if g.code() != graph.CodeForbidden {
			t.Errorf("accepting another address's invitation: %s", r.raw)
		}
		wantMessage(t, g, "the invitation was sent to another email address than yours")
		assertNoSecrets(t, r, tok)

		// An API key, even the invitee's own.
		key, _, err := apikey.Create(sys(), e.client, apikey.Params{Name: "k", OwnerID: invitee.ID, Scopes: []string{actor.ScopeAll}})
		if err != nil {
			t.Fatal(err)
		}
		r = gqlOn(t, e.srv, key, acceptMutation, map[string]any{"t": tok}, nil)
		if g := r.onlyError(t); g.code() != graph.CodeForbidden || !strings.Contains(g.Message, "signed-in") {
			t.Errorf("accepting with an API key: want FORBIDDEN naming a signed-in user, got %s", r.raw)
		}
		assertNoSecrets(t, r, tok, key)

		// A password for an address that has an account.
		r = e.acceptHTTP(t, tok, newcomerPW, "")
		if g := wantAuthError(t, r, http.StatusBadRequest, graph.CodeBadUserInput); g.Extensions["field"] != "password" {
			t.Errorf("a password for an existing account: %s", r.raw)
		}
		if n := members(); n != before {
			t.Fatalf("memberships = %d after refused acceptances, want %d", n, before)
		}

		// The invitee, signed in.
		s := e.login(t, "invitee@example.com", testPassword)
		var d struct {
			AcceptInvitation struct {
				UserCreated bool
				Invitation  struct {
					ID, Status string
					AcceptedBy struct{ ID string }
				}
				Membership struct {
					ID, Status, OrganizationID string
					Organization               struct{ ID string }
				}
			}
		}
		r = gqlOn(t, e.srv, s.AccessToken, acceptMutation, map[string]any{"t": tok}, nil)
		wantOK(t, r, &d)
		a := d.AcceptInvitation
		if a.UserCreated || a.Invitation.ID != invID || a.Invitation.Status != "accepted" || a.Invitation.AcceptedBy.ID != string(invitee.ID) ||
			a.Membership.Status != "active" || a.Membership.OrganizationID != string(org.ID) ||
			a.Membership.Organization.ID != string(org.ID) {
			t.Errorf("acceptInvitation = %+v", a)
		}
		assertNoSecrets(t, r, tok)
		if n := members(); n != before+1 {
			t.Errorf("memberships = %d, want %d", n, before+1)
		}
		r = gqlOn(t, e.srv, s.AccessToken, acceptMutation, map[string]any{"t": tok}, nil)
		if g := r.onlyError(t); g.code() != graph.CodeInvitationAccepted {
			t.Errorf("a second acceptInvitation: %s", r.raw)
		}
	})
}

// TestAcceptTakesBackUnverifiedAccount: an invitation to the address of
// an account that never proved it (a signup with someone else's address)
// is accepted with a new password: the token proves the address, and every
// other way into the account ends.
func TestAcceptTakesBackUnverifiedAccount(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupFlows(t, db, flowOptions{})
		org, _, ownerKey := e.orgFixture(t, "acme")
		squatter := e.newPasswordUser(t, "real-owner@example.com", testPassword)
		s := e.login(t, "real-owner@example.com", testPassword)
		key, _, err := apikey.Create(sys(), e.client, apikey.Params{Name: "k", OwnerID: squatter.ID, Scopes: []string{actor.ScopeAll}})
		if err != nil {
			t.Fatal(err)
		}
		_, tok := e.invite(t, ownerKey, org.ID, "real-owner@example.com", 1)

		// Without a password: refused, naming it.
		r := e.acceptHTTP(t, tok, "", "")
		if g := wantAuthError(t, r, http.StatusBadRequest, graph.CodeBadUserInput); g.Extensions["field"] != "password" {
			t.Errorf("accepting without a password: %s", r.raw)
		}
		wantOK(t, gqlOn(t, e.srv, s.AccessToken, viewerQuery, nil, nil), nil)

		r = e.acceptHTTP(t, tok, newcomerPW, "")
		if r.status != http.StatusOK || !strings.Contains(string(r.raw), `"userCreated":false`) {
			t.Fatalf("accept: HTTP %d %s", r.status, r.raw)
		}
		assertNoSecrets(t, r, tok, newcomerPW)
		wantAuthError(t, gqlOn(t, e.srv, s.AccessToken, viewerQuery, nil, nil), http.StatusUnauthorized, graph.CodeUnauthenticated)
		wantAuthError(t, gqlOn(t, e.srv, key, viewerQuery, nil, nil), http.StatusUnauthorized, graph.CodeUnauthenticated)
		wantAuthError(t, refreshOn(t, e.srv, s.RefreshToken), http.StatusUnauthorized, graph.CodeSessionRevoked)
		wantAuthError(t, loginOn(t, e.srv, "real-owner@example.com", testPassword), http.StatusUnauthorized, graph.CodeInvalidCredentials)
		e.login(t, "real-owner@example.com", newcomerPW)
		if u := e.client.User.GetX(sys(), squatter.ID); !u.EmailVerified {
			t.Error("the accepted address is not verified")
		}
	})
}

// TestAddMemberIsAPlatformAct: an organization's owner or admin cannot add
// an existing user directly (they invite); a platform admin can.
func TestAddMemberIsAPlatformAct(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupFlows(t, db, flowOptions{})
		org, _, ownerKey := e.orgFixture(t, "acme")
		admin, adminKey, _ := e.newUserKey(t, "org-admin@example.com")
		if _, err := tenancy.AddMember(sys(), e.client, tenancy.AddMemberInput{OrganizationID: org.ID, UserID: admin.ID, RoleIDs: []pulid.ID{permission.AdminRoleID}}); err != nil {
			t.Fatal(err)
		}
		target, _, _ := e.newUserKey(t, "target@example.com")
		padmin, padminKey, _ := e.newUserKey(t, "platform-admin@example.com")
		if err := e.client.User.UpdateOneID(padmin.ID).SetPlatformRole(user.PlatformRoleAdmin).Exec(sys()); err != nil {
			t.Fatal(err)
		}
		joined := func() bool {
			return e.client.Membership.Query().Where(membership.OrganizationID(org.ID), membership.UserID(target.ID)).ExistX(sys())
		}
		for _, c := range []struct{ name, key string }{{"organization owner", ownerKey}, {"organization admin", adminKey}} {
			t.Run(c.name, func(t *testing.T) {
				r := gqlOn(t, e.srv, c.key, addMemberQuery, map[string]any{"o": org.ID, "u": target.ID}, nil)
				g := r.onlyError(t)
				if g.code() != graph.CodeForbidden {
					t.Errorf("addMember: %s", r.raw)
				}
				if !strings.Contains(g.Message, "inviteMember") || !strings.Contains(g.Message, permission.PlatformUserManage) {
					t.Errorf("message = %q, want it to name %s and inviteMember", g.Message, permission.PlatformUserManage)
				}
				assertNoSecrets(t, r)
				if joined() {
					t.Fatal("a refused addMember wrote the membership")
				}
			})
		}
		// The admin invites instead.
		e.invite(t, adminKey, org.ID, "target@example.com", 1)
		wantOK(t, gqlOn(t, e.srv, padminKey, addMemberQuery, map[string]any{"o": org.ID, "u": target.ID}, nil), nil)
		if !joined() {
			t.Fatal("a platform admin's addMember wrote no membership")
		}
	})
}

// TestInvitationsConnection: Organization.invitations with a status
// filter, as the inviter sees them; a pending invitation past its expiry
// reads expired before and after the sweep marks it; members without
// member:invite see none.
func TestInvitationsConnection(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupFlows(t, db, flowOptions{})
		org, _, ownerKey := e.orgFixture(t, "acme")
		keep, _ := e.invite(t, ownerKey, org.ID, "keep@example.com", 1)
		late, _ := e.invite(t, ownerKey, org.ID, "late@example.com", 1)
		gone, _ := e.invite(t, ownerKey, org.ID, "gone@example.com", 1)
		wantOK(t, gqlOn(t, e.srv, ownerKey, revokeMutation, map[string]any{"id": gone}, nil), nil)
		// late passes its expiry; the sweep has not run.
		if err := e.client.Invitation.UpdateOneID(pulid.ID(late)).SetExpiresAt(time.Now().Add(-time.Minute)).Exec(sys()); err != nil {
			t.Fatal(err)
		}
		const q = `query($id: ID!, $w: InvitationWhereInput) { node(id: $id) { ... on Organization {
  invitations(where: $w, first: 50, orderBy: [{field: EMAIL}]) { totalCount edges { node { id email status } } } } } }`
		list := func(t *testing.T, key string, where map[string]any) (int, map[string]string) {
			t.Helper()
			var d struct {
				Node struct {
					Invitations struct {
						TotalCount int
						Edges      []struct {
							Node struct{ ID, Email, Status string }
						}
					}
				}
			}
			vars := map[string]any{"id": org.ID}
			if where != nil {
				vars["w"] = where
			}
			wantOK(t, gqlOn(t, e.srv, key, q, vars, nil), &d)
			out := map[string]string{}
			for _, ed := range d.Node.Invitations.Edges {
				out[ed.Node.ID] = ed.Node.Status
			}
			return d.Node.Invitations.TotalCount, out
		}
		n, all := list(t, ownerKey, nil)
		if want := map[string]string{keep: "pending", late: "expired", gone: "revoked"}; n != 3 || !mapsEqual(all, want) {
			t.Errorf("invitations = %d %v, want %v", n, all, want)
		}
		// The filter is on the stored status: late is still pending there
		// until the sweep, and reads expired.
		n, pending := list(t, ownerKey, map[string]any{"status": "pending"})
		if want := map[string]string{keep: "pending", late: "expired"}; n != 2 || !mapsEqual(pending, want) {
			t.Errorf("pending invitations = %d %v, want %v", n, pending, want)
		}
		if marked, err := e.flows.Invitations.ExpireDue(context.Background(), 0); err != nil || marked != 1 {
			t.Fatalf("ExpireDue = %d, %v; want 1", marked, err)
		}
		n, pending = list(t, ownerKey, map[string]any{"status": "pending"})
		if want := map[string]string{keep: "pending"}; n != 1 || !mapsEqual(pending, want) {
			t.Errorf("pending invitations after the sweep = %d %v, want %v", n, pending, want)
		}
		n, expired := list(t, ownerKey, map[string]any{"statusIn": []string{"expired", "revoked"}})
		if want := map[string]string{late: "expired", gone: "revoked"}; n != 2 || !mapsEqual(expired, want) {
			t.Errorf("expired and revoked invitations = %d %v, want %v", n, expired, want)
		}
		if got := e.activities(t, "invitation.expired"); got != 1 {
			t.Errorf("invitation.expired activities = %d, want 1", got)
		}

		// A member (member:read, no member:invite) sees the organization
		// and none of its invitations, nor one by node.
		member, memberKey, _ := e.newUserKey(t, "member@example.com")
		e.addMember(t, org, member.ID)
		if n, got := list(t, memberKey, nil); n != 0 || len(got) != 0 {
			t.Errorf("a member sees invitations: %d %v", n, got)
		}
		r := gqlOn(t, e.srv, memberKey, `query($id: ID!) { node(id: $id) { id ... on Invitation { email } } }`, map[string]any{"id": keep}, nil)
		if g := r.onlyError(t); g.code() != graph.CodeNotFound || strings.Contains(string(r.raw), "keep@example.com") {
			t.Errorf("a member's node(id:) of an invitation: %s", r.raw)
		}
	})
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// requestedBody is the answer of a password-reset request, the same for
// every well-formed address.
const requestedBody = `{"status":"requested","message":"if this address has an account, a link to reset its password is on its way"}` + "\n"

// TestPasswordResetOverHTTP: a request answers 202 with the same body for
// a known and an unknown address, and only the known one gets mail; the
// link sets a new password once, and every session of the user ends.
func TestPasswordResetOverHTTP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupFlows(t, db, flowOptions{})
		known := e.newPasswordUser(t, "known@example.com", testPassword)
		s1 := e.login(t, "known@example.com", testPassword)
		s2 := e.login(t, "known@example.com", testPassword)

		request := func(t *testing.T, email string) response {
			t.Helper()
			r := authPost(t, e.srv, "/auth/password-reset/request", jsonString(t, map[string]string{"email": email}), nil)
			if r.status != http.StatusAccepted || string(r.raw) != requestedBody {
				t.Errorf("reset request for %s: HTTP %d %q, want 202 %q", email, r.status, r.raw, requestedBody)
			}
			assertNoSecrets(t, r)
			return r
		}
		unknown := request(t, "nobody@example.com")
		knownR := request(t, "Known@Example.com")
		if unknown.header.Get("Content-Type") != knownR.header.Get("Content-Type") || len(unknown.raw) != len(knownR.raw) {
			t.Errorf("the answers differ: %v %q and %v %q", unknown.header, unknown.raw, knownR.header, knownR.raw)
		}
		msg := e.box.Wait(t, "known@example.com", mail.KindPasswordReset, 1)
		tok := tokenOf(t, msg, session.ResetPath)
		if !strings.HasPrefix(tok, "cfrst_") {
			t.Errorf("reset token %q, want cfrst_...", tok)
		}
		// The unknown address gets nothing (the request runs after its
		// answer: give it the time the known one took, and more).
		time.Sleep(200 * time.Millisecond)
		if ms := e.box.All(); len(ms) != 1 {
			t.Errorf("mail sent: %v, want one reset to known@example.com", mailtest.Summary(ms))
		}
		if n := e.count(t, `SELECT COUNT(*) FROM cf_user_tokens`); n != 1 {
			t.Errorf("user tokens = %d, want 1", n)
		}

		// Confirm with a weak password first: refused, the token still works.
		r := authPost(t, e.srv, "/auth/password-reset/confirm", jsonString(t, map[string]string{"token": tok, "newPassword": "password1234"}), nil)
		wantAuthError(t, r, http.StatusBadRequest, graph.CodeBadUserInput)
		assertNoSecrets(t, r, tok, "password1234")
		r = authPost(t, e.srv, "/auth/password-reset/confirm", jsonString(t, map[string]string{"token": tok, "newPassword": otherPassword}), nil)
		if r.status != http.StatusNoContent || len(r.raw) != 0 {
			t.Fatalf("confirm: HTTP %d %q, want 204", r.status, r.raw)
		}
		// Used once.
		r = authPost(t, e.srv, "/auth/password-reset/confirm", jsonString(t, map[string]string{"token": tok, "newPassword": "Another-Long-Passphrase-8812"}), nil)
		wantAuthError(t, r, http.StatusConflict, graph.CodeTokenUsed)
		assertNoSecrets(t, r, tok)
		for _, bad := range []string{"cfrst_nope", "", strings.Replace(tok, "cfrst_", "cfvrf_", 1)} {
			r := authPost(t, e.srv, "/auth/password-reset/confirm", jsonString(t, map[string]string{"token": bad, "newPassword": otherPassword}), nil)
			want := graph.CodeInvalidToken
			if bad == "" {
				want = graph.CodeBadUserInput
			}
			wantAuthError(t, r, http.StatusBadRequest, want)
			assertNoSecrets(t, r, tok, otherPassword)
		}

		// Every session of the user ended; the new password signs in, the
		// old one does not.
		for _, s := range []tokenAnswer{s1, s2} {
			wantAuthError(t, gqlOn(t, e.srv, s.AccessToken, viewerQuery, nil, nil), http.StatusUnauthorized, graph.CodeUnauthenticated)
			wantAuthError(t, refreshOn(t, e.srv, s.RefreshToken), http.StatusUnauthorized, graph.CodeSessionRevoked)
		}
		wantAuthError(t, loginOn(t, e.srv, "known@example.com", testPassword), http.StatusUnauthorized, graph.CodeInvalidCredentials)
		e.login(t, "known@example.com", otherPassword)
		if got := e.client.User.GetX(sys(), known.ID); !got.EmailVerified {
			t.Error("a password reset did not mark the address verified")
		}
		if n := e.activities(t, "user.password_reset"); n != 1 {
			t.Errorf("user.password_reset activities = %d, want 1", n)
		}
	})
}

// TestPasswordResetRateLimit: requests for one address past the
// per-account limit are answered 429, whichever client sends them.
func TestPasswordResetRateLimit(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		const limit = 3
		e := setupFlows(t, db, flowOptions{opts: graph.Options{AuthRateAccount: limit, AuthRateIP: 1000}})
		e.newPasswordUser(t, "target@example.com", testPassword)
		for i := range limit {
			r := authPost(t, e.srv, "/auth/password-reset/request", jsonString(t, map[string]string{"email": "target@example.com"}), nil)
			if r.status != http.StatusAccepted {
				t.Fatalf("request %d: HTTP %d %s", i+1, r.status, r.raw)
			}
		}
		for _, email := range []string{"target@example.com", " TARGET@example.com"} {
			r := authPost(t, e.srv, "/auth/password-reset/request", jsonString(t, map[string]string{"email": email}), nil)
			wantAuthError(t, r, http.StatusTooManyRequests, graph.CodeRateLimited)
			if r.header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			assertNoSecrets(t, r)
		}
		// Another address is not limited by it.
		r := authPost(t, e.srv, "/auth/password-reset/request", jsonString(t, map[string]string{"email": "other@example.com"}), nil)
		if r.status != http.StatusAccepted {
			t.Errorf("another address: HTTP %d %s", r.status, r.raw)
		}
		// The limited requests mailed nothing more than the allowed ones.
		e.box.Wait(t, "target@example.com", mail.KindPasswordReset, limit)
		time.Sleep(100 * time.Millisecond)
		if n := len(e.box.Of("target@example.com", mail.KindPasswordReset)); n != limit {
			t.Errorf("reset mails = %d, want %d", n, limit)
		}
	})
}

// TestVerifyEmail: a signed-in user verifies their address, and changes it
// to a new one that becomes theirs once its link is followed.
func TestVerifyEmail(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupFlows(t, db, flowOptions{})
		u := e.newPasswordUser(t, "verify@example.com", testPassword)
		e.newPasswordUser(t, "taken@example.com", otherPassword)
		s := e.login(t, "verify@example.com", testPassword)
		verified := func() bool { return e.client.User.GetX(sys(), u.ID).EmailVerified }
		if verified() {
			t.Fatal("a new user's address is verified")
		}
		wantOK(t, gqlOn(t, e.srv, s.AccessToken, `mutation { requestEmailVerification }`, nil, nil), nil)
		tok := tokenOf(t, e.box.Wait(t, "verify@example.com", mail.KindEmailVerification, 1), session.VerifyPath)
		if !strings.HasPrefix(tok, "cfvrf_") {
			t.Errorf("verification token %q", tok)
		}
		r := authPost(t, e.srv, "/auth/verify-email", jsonString(t, map[string]string{"token": tok}), nil)
		if r.status != http.StatusOK {
			t.Fatalf("verify: HTTP %d %s", r.status, r.raw)
		}
		var out struct {
			UserID, Email string
			EmailVerified bool
		}
		if err := json.Unmarshal(r.raw, &out); err != nil {
			t.Fatal(err)
		}
		if out.UserID != string(u.ID) || out.Email != "verify@example.com" || !out.EmailVerified || !verified() {
			t.Errorf("verify answer = %+v", out)
		}
		assertNoSecrets(t, r, tok)
		r = authPost(t, e.srv, "/auth/verify-email", jsonString(t, map[string]string{"token": tok}), nil)
		wantAuthError(t, r, http.StatusConflict, graph.CodeTokenUsed)
		r = authPost(t, e.srv, "/auth/verify-email", jsonString(t, map[string]string{"token": "cfvrf_x"}), nil)
		wantAuthError(t, r, http.StatusBadRequest, graph.CodeInvalidToken)
		// Verified already: nothing is sent.
		wantOK(t, gqlOn(t, e.srv, s.AccessToken, `mutation { requestEmailVerification }`, nil, nil), nil)

		// An API key cannot ask: it is no signed-in user.
		_, key, _ := e.newUserKey(t, "keyed@example.com")
		r = gqlOn(t, e.srv, key, `mutation { requestEmailVerification }`, nil, nil)
		if g := r.onlyError(t); g.code() != graph.CodeForbidden {
			t.Errorf("requestEmailVerification with an API key: %s", r.raw)
		}
		assertNoSecrets(t, r, key)

		// Changing the address needs the current password; the answer is
		// the same for another account's address (which gets no link) and
		// a new one, which gets the link and becomes the user's, verified.
		const change = `mutation($e: String!, $p: String!) { requestEmailChange(email: $e, currentPassword: $p) }`
		r = gqlOn(t, e.srv, s.AccessToken, change, map[string]any{"e": "moved@example.com", "p": "not the password at all"}, nil)
		if g := r.onlyError(t); g.code() != graph.CodeBadUserInput || g.Extensions["field"] != "currentPassword" {
			t.Errorf("changing the address with a wrong password: %s", r.raw)
		}
		assertNoSecrets(t, r, "not the password at all")
		taken := gqlOn(t, e.srv, s.AccessToken, change, map[string]any{"e": "taken@example.com", "p": testPassword}, nil)
		free := gqlOn(t, e.srv, s.AccessToken, change, map[string]any{"e": "Moved@Example.com", "p": testPassword}, nil)
		wantOK(t, free, nil)
		if taken.status != free.status || string(taken.raw) != string(free.raw) {
			t.Errorf("the answer tells a taken address: %d %s, and %d %s for a free one", taken.status, taken.raw, free.status, free.raw)
		}
		assertNoSecrets(t, free, testPassword)
		msg := e.box.Wait(t, "moved@example.com", mail.KindEmailChange, 1)
		time.Sleep(100 * time.Millisecond)
		if ms := e.box.Of("taken@example.com", mail.KindEmailChange); len(ms) != 0 {
			t.Errorf("another account's address got %d email-change links", len(ms))
		}
		ctok := tokenOf(t, msg, session.VerifyPath)
		if got := e.client.User.GetX(sys(), u.ID).Email; got != "verify@example.com" {
			t.Errorf("email = %s before the link was followed", got)
		}
		r = authPost(t, e.srv, "/auth/verify-email", jsonString(t, map[string]string{"token": ctok}), nil)
		if r.status != http.StatusOK || !strings.Contains(string(r.raw), `"email":"moved@example.com"`) {
			t.Fatalf("verifying the new address: HTTP %d %s", r.status, r.raw)
		}
		e.login(t, "moved@example.com", testPassword)
		wantAuthError(t, loginOn(t, e.srv, "verify@example.com", testPassword), http.StatusUnauthorized, graph.CodeInvalidCredentials)
		if n := e.activities(t, "user.email_changed"); n != 1 {
			t.Errorf("user.email_changed activities = %d, want 1", n)
		}
	})
}

// TestSignupAndFeatures: signup is off by default (FEATURE_DISABLED); a
// superadmin switches it on with setFeature, and then a signup creates an
// active, unverified user who verifies by mail and signs in. GET
// /auth/features and the features query show the switches; setFeature
// needs platform:settings_manage.
func TestSignupAndFeatures(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupFlows(t, db, flowOptions{})
		const pw = "Juniper-Orchard-Kestrel-3380"
		signup := func(email string) response {
			return authPost(t, e.srv, "/auth/signup", jsonString(t, map[string]string{"email": email, "password": pw, "name": "Sign Up"}), nil)
		}
		getFeatures := func(t *testing.T) map[string]bool {
			t.Helper()
			r := request(t, e.srv, http.MethodGet, "/auth/features", nil, nil)
			if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("GET /auth/features: HTTP %d %v %s", r.status, r.header, r.raw)
			}
			var out map[string]bool
			if err := json.Unmarshal(r.raw, &out); err != nil {
				t.Fatal(err)
			}
			return out
		}
		if got := getFeatures(t); !mapsEqualBool(got, map[string]bool{"signup": false, "invitations": true, "password_reset": true}) {
			t.Errorf("features = %v, want the defaults", got)
		}

		r := signup("first@example.com")
		g := wantAuthError(t, r, http.StatusForbidden, graph.CodeFeatureDisabled)
		if g.Extensions["flow"] != "signup" {
			t.Errorf("extensions = %v, want flow signup", g.Extensions)
		}
		assertNoSecrets(t, r, pw)
		if n := e.count(t, `SELECT COUNT(*) FROM cf_users WHERE email = 'first@example.com'`); n != 0 {
			t.Fatal("a refused signup created the user")
		}

		const set = `mutation($f: Feature!, $on: Boolean) { setFeature(flow: $f, enabled: $on) { flow enabled source } }`
		// Not without platform:settings_manage.
		_, plainKey, _ := e.newUserKey(t, "plain@example.com")
		r = gqlOn(t, e.srv, plainKey, set, map[string]any{"f": "SIGNUP", "on": true}, nil)
		if g := r.onlyError(t); g.code() != graph.CodeForbidden {
			t.Errorf("setFeature by a plain user: %s", r.raw)
		}
		assertNoSecrets(t, r)
		var st struct {
			SetFeature struct {
				Flow, Source string
				Enabled      bool
			}
		}
		wantOK(t, gqlOn(t, e.srv, e.adminKey, set, map[string]any{"f": "SIGNUP", "on": true}, nil), &st)
		if st.SetFeature.Flow != "SIGNUP" || !st.SetFeature.Enabled || st.SetFeature.Source != "runtime" {
			t.Errorf("setFeature = %+v", st.SetFeature)
		}
		if got := getFeatures(t); !got["signup"] {
			t.Errorf("features after setFeature = %v", got)
		}
		var fs struct {
			Features []struct {
				Flow, Source string
				Enabled      bool
			}
		}
		wantOK(t, gqlOn(t, e.srv, plainKey, `{ features { flow enabled source } }`, nil, nil), &fs)
		want := map[string]string{"SIGNUP": "true runtime", "INVITATIONS": "true configuration", "PASSWORD_RESET": "true configuration"}
		got := map[string]string{}
		for _, f := range fs.Features {
			got[f.Flow] = fmt.Sprintf("%v %s", f.Enabled, f.Source)
		}
		if !mapsEqual(got, want) {
			t.Errorf("features = %v, want %v", got, want)
		}

		// Signing up; the same answer for an address that has an account.
		r = signup("First@Example.com")
		if r.status != http.StatusAccepted {
			t.Fatalf("signup: HTTP %d %s", r.status, r.raw)
		}
		assertNoSecrets(t, r, pw)
		again := signup("first@example.com")
		if again.status != r.status || string(again.raw) != string(r.raw) {
			t.Errorf("signup of a taken address: HTTP %d %s, want the same as %d %s", again.status, again.raw, r.status, r.raw)
		}
		created := e.client.User.Query().Where(user.Email("first@example.com")).OnlyX(sys())
		if created.Status != user.StatusActive || created.EmailVerified || created.DisplayName != "Sign Up" {
			t.Errorf("signed-up user = %+v", created)
		}
		tok := tokenOf(t, e.box.Wait(t, "first@example.com", mail.KindEmailVerification, 1), session.VerifyPath)
		r = authPost(t, e.srv, "/auth/verify-email", jsonString(t, map[string]string{"token": tok}), nil)
		if r.status != http.StatusOK || !strings.Contains(string(r.raw), `"emailVerified":true`) {
			t.Errorf("verify after signup: HTTP %d %s", r.status, r.raw)
		}
		e.login(t, "first@example.com", pw)
		time.Sleep(100 * time.Millisecond)
		if n := len(e.box.Of("first@example.com", mail.KindEmailVerification)); n != 1 {
			t.Errorf("verification mails to first@ = %d, want 1 (a second signup sends nothing)", n)
		}

		// Back to the configuration: off again.
		wantOK(t, gqlOn(t, e.srv, e.adminKey, set, map[string]any{"f": "SIGNUP", "on": nil}, nil), &st)
		if st.SetFeature.Enabled || st.SetFeature.Source != "configuration" {
			t.Errorf("setFeature(null) = %+v", st.SetFeature)
		}
		wantAuthError(t, signup("second@example.com"), http.StatusForbidden, graph.CodeFeatureDisabled)

		// Invitations switched off: inviteMember is refused.
		wantOK(t, gqlOn(t, e.srv, e.adminKey, set, map[string]any{"f": "INVITATIONS", "on": false}, nil), nil)
		org, _, ownerKey := e.orgFixture(t, "acme")
		r = gqlOn(t, e.srv, ownerKey, inviteMutation, map[string]any{"o": org.ID, "e": "x@example.com"}, nil)
		if g := r.onlyError(t); g.code() != graph.CodeFeatureDisabled {
			t.Errorf("inviteMember switched off: %s", r.raw)
		} else {
			wantMessage(t, g, "invitations is switched off on this server")
		}
		assertNoSecrets(t, r)
	})
}

func mapsEqualBool(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// dump returns every value of every cf_ table by column, as text (bytes
// as they are stored), read through the *sql.DB.
func (e *env) dump(t *testing.T) map[string][]string {
	t.Helper()
	rows, err := e.sqlDB.Query(tablesQuery(e))
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("found %d cf_ tables: %v", len(tables), tables)
	}
	out := map[string][]string{}
	for _, tbl := range tables {
		rows, err := e.sqlDB.Query("SELECT * FROM " + tbl)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for i, v := range vals {
				s := ""
				switch x := v.(type) {
				case nil:
				case []byte:
					s = string(x)
				default:
					s = fmt.Sprint(x)
				}
				out[tbl+"."+cols[i]] = append(out[tbl+"."+cols[i]], s)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

// tablesQuery lists the cf_ tables of the database of e.
func tablesQuery(e *env) string {
	if e.q(1) == "?" {
		return `SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'cf\_%' ESCAPE '\' ORDER BY name`
	}
	return `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_name LIKE 'cf\_%' ORDER BY table_name`
}

// TestFlowsStoreNoTokenInPlaintext runs the flows (an invitation accepted
// and one revoked, a password reset confirmed and one left, a
// verification, an email change, a signup, an OAuth link with provider
// tokens) and then reads every column of every cf_ table: no token that
// was mailed, and no provider token, is stored as it was issued.
func TestFlowsStoreNoTokenInPlaintext(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := setupFlows(t, db, flowOptions{defaults: map[features.Flow]bool{features.Signup: true}})
		org, _, ownerKey := e.orgFixture(t, "acme")
		var issued []string
		_, tok := e.invite(t, ownerKey, org.ID, "joiner@example.com", 1)
		issued = append(issued, tok)
		if r := e.acceptHTTP(t, tok, newcomerPW, ""); r.status != http.StatusOK {
			t.Fatalf("accept: %s", r.raw)
		}
		revID, revTok := e.invite(t, ownerKey, org.ID, "never@example.com", 1)
		issued = append(issued, revTok)
		wantOK(t, gqlOn(t, e.srv, ownerKey, revokeMutation, map[string]any{"id": revID}, nil), nil)
		_, pendTok := e.invite(t, ownerKey, org.ID, "pending@example.com", 1)
		issued = append(issued, pendTok)

		for i := 1; i <= 2; i++ {
			authPost(t, e.srv, "/auth/password-reset/request", jsonString(t, map[string]string{"email": "joiner@example.com"}), nil)
			issued = append(issued, tokenOf(t, e.box.Wait(t, "joiner@example.com", mail.KindPasswordReset, i), session.ResetPath))
		}
		if r := authPost(t, e.srv, "/auth/password-reset/confirm", jsonString(t, map[string]string{"token": issued[len(issued)-1], "newPassword": otherPassword}), nil); r.status != http.StatusNoContent {
			t.Fatalf("confirm: %s", r.raw)
		}
		s := e.login(t, "joiner@example.com", otherPassword)
		wantOK(t, gqlOn(t, e.srv, s.AccessToken, `mutation($p: String!) { requestEmailChange(email: "joined@example.com", currentPassword: $p) }`,
			map[string]any{"p": otherPassword}, nil), nil)
		issued = append(issued, tokenOf(t, e.box.Wait(t, "joined@example.com", mail.KindEmailChange, 1), session.VerifyPath))
		if r := authPost(t, e.srv, "/auth/signup", jsonString(t, map[string]string{"email": "self@example.com", "password": newcomerPW}), nil); r.status != http.StatusAccepted {
			t.Fatalf("signup: %s", r.raw)
		}
		verifyTok := tokenOf(t, e.box.Wait(t, "self@example.com", mail.KindEmailVerification, 1), session.VerifyPath)
		issued = append(issued, verifyTok)
		if r := authPost(t, e.srv, "/auth/verify-email", jsonString(t, map[string]string{"token": verifyTok}), nil); r.status != http.StatusOK {
			t.Fatalf("verify: %s", r.raw)
		}

		// An OAuth link of the signed-up user, with provider tokens.
		self := e.client.User.Query().Where(user.Email("self@example.com")).OnlyX(sys())
		providerAccess, providerRefresh := "gho_"+strings.Repeat("A1b2", 9), "ghr_"+strings.Repeat("Z9y8", 12)
		exp := time.Now().Add(time.Hour)
		acc, err := e.flows.OAuth.Link(sys(), e.client, oauthlink.LinkInput{UserID: self.ID, Provider: "github", ProviderUserID: "4242",
			ProviderEmail: "self@users.github.example", AccessToken: providerAccess, RefreshToken: providerRefresh, ExpiresAt: &exp, Scopes: []string{"read:user"}})
		if err != nil {
			t.Fatalf("link: %v", err)
		}
		if got, err := e.flows.OAuth.Tokens(sys(), e.client, acc.ID); err != nil || got.AccessToken != providerAccess || got.RefreshToken != providerRefresh {
			t.Fatalf("provider tokens do not open: %+v, %v", got, err)
		}
		issued = append(issued, providerAccess, providerRefresh)

		dump := e.dump(t)
		for col, vals := range dump {
			for _, v := range vals {
				for _, tok := range issued {
					// The whole token, or its secret part (after the
					// public prefix), would be a credential.
					secretPart := tok[strings.LastIndexByte(tok, '_')+1:]
					if strings.Contains(v, tok) || len(secretPart) >= 20 && strings.Contains(strings.ToLower(v), strings.ToLower(secretPart)) {
						t.Errorf("%s holds an issued token in plaintext (%.12s...)", col, tok)
					}
				}
			}
		}
		// The digests are there: the scan read the token tables.
		if len(dump["cf_invitations.token_digest"]) != 3 || len(dump["cf_user_tokens.token_digest"]) < 4 || len(dump["cf_oauth_accounts.access_token"]) != 1 {
			t.Errorf("scanned %d invitation digests, %d user-token digests, %d provider access tokens",
				len(dump["cf_invitations.token_digest"]), len(dump["cf_user_tokens.token_digest"]), len(dump["cf_oauth_accounts.access_token"]))
		}
		if len(issued) != 9 {
			t.Errorf("issued %d tokens, want 9", len(issued))
		}
	})
}
