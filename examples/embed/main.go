// Command identity-embed shows how a Go program in another module embeds
// the cf identity model: it opens and migrates a database, puts actors on
// contexts, runs the domain operations of package tenancy, invites a
// member with package invitation, gets the same refusals and the same
// activity trail as the GraphQL API, and signs a user in with package
// session.
//
// It is also a CI check: every step prints "allowed: ..." or
// "refused as expected: ...", and the program exits non-zero as soon as an
// allowed step fails or a refused step succeeds.
//
//	go run .                                  # a fresh SQLite file in a temp dir
//	IDENTITY_DATABASE_URL='postgres://postgres@127.0.0.1:5432/mydb?sslmode=disable' go run .
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/privacy"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/audit"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/credential"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/invitation"
	"github.com/cf/identity/mail"
	"github.com/cf/identity/migrations"
	"github.com/cf/identity/password"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/session"
	"github.com/cf/identity/storage" // also wires the policies and hooks into the client
	"github.com/cf/identity/tenancy"
)

func main() {
	log.SetFlags(0)
	ctx := context.Background()

	// Every write below is recorded in the activity trail with the request
	// details of its context. A program that serves requests would set the
	// caller's IP, user agent and request ID here.
	ctx = audit.WithRequest(ctx, audit.Request{Channel: audit.ChannelClient, UserAgent: "identity-embed example"})

	// ---------------------------------------------------------------------
	// 1. Open a database, apply the embedded migrations, open the client.
	// ---------------------------------------------------------------------
	url := os.Getenv("IDENTITY_DATABASE_URL")
	if url == "" {
		dir, err := os.MkdirTemp("", "identity-embed-")
		if err != nil {
			log.Fatal(err)
		}
		defer func() { _ = os.RemoveAll(dir) }() // a temporary directory
		url = "sqlite://" + filepath.Join(dir, "example.db")
	}
	applied, err := migrations.Apply(ctx, url)
	must("apply migrations", err)
	fmt.Printf("database %s: %d migration(s) applied\n", storage.Redact(url), len(applied))

	// storage.Open also returns the *sql.DB and the parsed URL; closing the
	// client closes the database.
	client, _, _, err := storage.Open(ctx, url)
	must("open the client", err)
	defer client.Close()

	// Names get a random suffix, so that the example also runs on a
	// database that already holds a previous run (emails and slugs are
	// unique).
	run := suffix()

	// ---------------------------------------------------------------------
	// 2. Seed as the system actor. It passes every policy: create it only
	//    in audited places (seeds, jobs), always with a reason.
	// ---------------------------------------------------------------------
	sys := actor.NewContext(ctx, actor.System("example seed"))
	alice, err := client.User.Create().
		SetEmail("alice-" + run + "@example.com").
		SetDisplayName("Alice").
		SetStatus(user.StatusActive).
		Save(sys)
	must("seed alice", err)
	// Bob's address is known to be his (the seed says so): an invitation
	// to an account whose address was never verified is accepted with a
	// new password instead, which ends every other way into the account.
	bob, err := client.User.Create().
		SetEmail("bob-" + run + "@example.com").
		SetDisplayName("Bob").
		SetStatus(user.StatusActive).
		SetPlatformRole(user.PlatformRoleNone).
		SetEmailVerified(true).
		Save(sys)
	must("seed bob", err)
	allowed("the system actor seeds users %s and %s", alice.Email, bob.Email)

	// ---------------------------------------------------------------------
	// 3. Alice acts. authz.NewContext puts her on the context and resolves
	//    her grants from the database once; her platform role is read from
	//    the database too, not taken from the claim below.
	// ---------------------------------------------------------------------
	asAlice, err := authz.NewContext(ctx, client, actor.User(alice.ID, actor.PlatformNone))
	must("build alice's context", err)

	// She creates an organization and becomes its owner.
	acme, err := tenancy.CreateOrganization(asAlice, client, ent.CreateOrganizationInput{
		Name: "Acme",
		Slug: "acme-" + run,
	})
	must("alice creates Acme", err)
	allowed("alice creates organization %s (%s) and becomes its owner", acme.Name, acme.ID)

	// She cannot add bob directly: adding an existing user to an
	// organization is a platform act (platform:user_manage).
	// Organizations grow by invitation.
	_, err = tenancy.AddMember(asAlice, client, tenancy.AddMemberInput{OrganizationID: acme.ID, UserID: bob.ID})
	refused("alice adds bob directly", err, func(err error) bool {
		return errors.Is(err, privacy.Deny) && strings.Contains(err.Error(), "inviteMember")
	})

	// She invites him (package invitation). The invitation is mailed after
	// its transaction commits, through the program's own Mailer (here one
	// that keeps the links; mail.NewSMTP sends through an SMTP server).
	cfg := session.DefaultConfig()
	cfg.MasterKey = make([]byte, 32) // a real program reads its master key
	_, err = rand.Read(cfg.MasterKey)
	must("make a master key", err)
	sessions, err := session.New(ctx, client, cfg)
	must("open the session manager", err)
	inbox := &linkMailer{}
	outbox := mail.NewOutbox(inbox, nil, mail.OutboxOptions{})
	defer func() {
		if err := outbox.Close(ctx); err != nil {
			log.Printf("mail outbox closed with messages unsent: %v", err)
		}
	}()
	courier, err := mail.NewCourier(outbox, mail.CourierOptions{PublicURL: "https://id.example.com"})
	must("open the mail courier", err)
	invitations, err := invitation.New(client, invitation.Config{Sessions: sessions, Mail: courier})
	must("open the invitation flows", err)
	inv, err := invitations.Invite(asAlice, client, invitation.InviteInput{OrganizationID: acme.ID, Email: bob.Email, Message: "Welcome to Acme"})
	must("alice invites bob", err)
	must("wait for the invitation mail", courier.Flush(ctx))
	link := inbox.last()
	allowed("alice invites %s (%s, %s); the mail links to %s?token=...", inv.Email, inv.ID, inv.Status, strings.SplitN(link, "?", 2)[0])

	// Bob follows the link: the token alone proves his address (he has an
	// account, so no password), and he joins with the member role.
	u, err := neturl.Parse(link)
	must("read the invitation link", err)
	accepted, err := invitations.Accept(ctx, client, invitation.AcceptInput{Token: u.Query().Get("token")})
	must("bob accepts the invitation", err)
	bobMember := accepted.Membership
	allowed("bob accepts the invitation and joins Acme as member (%s)", bobMember.ID)
	_, err = invitations.Accept(ctx, client, invitation.AcceptInput{Token: u.Query().Get("token")})
	refused("bob accepts the invitation a second time", err, is(invitation.ErrAccepted))

	// She creates a custom role: a team lead may assign roles, up to level
	// 60 (between member, 50, and admin, 80). Its level and permissions
	// must be within her own.
	level := 60
	teamLead, err := tenancy.CreateRole(asAlice, client, ent.CreateRoleInput{
		OrganizationID: &acme.ID,
		Key:            "team_lead",
		Name:           "Team lead",
		Level:          &level,
		Permissions: []string{
			permission.OrganizationRead, permission.MemberRead, permission.RoleRead,
			permission.RoleAssign, permission.UserRead,
		},
	})
	must("alice creates the team_lead role", err)
	allowed("alice creates custom role %s (level %d, %d permissions)", teamLead.Key, teamLead.Level, len(teamLead.Permissions))

	// And assigns it to bob, who now holds member and team_lead.
	bobMember, err = tenancy.AssignRole(asAlice, client, bobMember.ID, teamLead.ID)
	must("alice assigns team_lead to bob", err)
	allowed("alice assigns %s to bob (bob's roles: %s)", teamLead.Key, roleKeys(bobMember.Edges.Roles))

	// What may alice do? The viewer lists her organizations with each
	// effective permission and the roles granting it; Can answers one
	// question with its reason.
	viewer, err := tenancy.ViewerOf(asAlice)
	must("alice's viewer", err)
	for _, o := range viewer.Organizations {
		fmt.Printf("  alice in %s: level %d, %d permissions\n", o.OrganizationID, o.Level, len(o.Permissions))
		for _, p := range o.Permissions {
			fmt.Printf("    %-22s granted by %s\n", p.Permission, strings.Join(p.GrantedBy, ", "))
		}
	}
	d, err := tenancy.Can(asAlice, permission.OrganizationDelete, acme.ID)
	must("can alice delete Acme?", err)
	if !d.Allowed {
		log.Fatalf("FAILED: alice should hold %s in Acme: %s", permission.OrganizationDelete, d.Reason)
	}
	allowed("alice may %s in Acme (%s)", permission.OrganizationDelete, d.Reason)

	// ---------------------------------------------------------------------
	// 4. Refusals. Each comes back as an error the caller can test with
	//    errors.Is / ent.IsNotFound; a refused write changes nothing and
	//    records nothing.
	// ---------------------------------------------------------------------
	asBob, err := authz.NewContext(ctx, client, actor.User(bob.ID, actor.PlatformNone))
	must("build bob's context", err)

	d, err = tenancy.Can(asBob, permission.OrganizationUpdate, acme.ID)
	must("can bob update Acme?", err)
	if d.Allowed {
		log.Fatalf("FAILED: bob should not hold %s in Acme", permission.OrganizationUpdate)
	}
	fmt.Printf("  bob may not %s in Acme: %s\n", permission.OrganizationUpdate, d.Reason)

	// Bob can read Acme but not update it: the update policy filters the
	// organizations he may write, so the row is not found for him.
	_, err = client.Organization.UpdateOneID(acme.ID).SetName("Bob's Acme").Save(asBob)
	refused("bob renames Acme", err, isNotFoundOrDenied)

	// Bob may assign roles now (team_lead), but not one above his own
	// level: admin is 80, his highest role is 60.
	_, err = tenancy.AssignRole(asBob, client, bobMember.ID, permission.AdminRoleID)
	refused("bob assigns himself the admin role", err, is(authz.ErrAboveLevel))

	// Alice is Acme's only owner: she cannot leave it ownerless.
	aliceMember, err := client.Membership.Query().
		Where(membership.UserID(alice.ID), membership.OrganizationID(acme.ID)).
		Only(asAlice)
	must("find alice's membership", err)
	err = tenancy.RemoveMember(asAlice, client, aliceMember.ID)
	refused("alice removes herself, the last owner", err, is(authz.ErrLastOwner))

	// No actor on the context: every query and mutation is denied.
	_, err = client.User.Query().Count(ctx)
	refused("a query without an actor", err, is(privacy.Deny))

	// A user put on the context with actor.NewContext alone has no
	// resolved grants: the policies deny it and name the fix.
	bare := actor.NewContext(ctx, actor.User(alice.ID, actor.PlatformNone))
	_, err = client.Organization.Query().All(bare)
	refused("alice queries without authz.NewContext", err, is(authz.ErrNotLoaded))

	// Built-in roles (owner, admin, member, viewer) are the same in every
	// organization and never change.
	name := "Everyone"
	_, err = tenancy.UpdateRole(asAlice, client, permission.MemberRoleID, ent.UpdateRoleInput{Name: &name})
	refused("alice renames the built-in member role", err, is(authz.ErrBuiltinRole))

	// ---------------------------------------------------------------------
	// 5. The activity trail of Acme, as alice reads it (activity:read).
	//    Every successful write above is there, with its actor; none of
	//    the refused ones.
	// ---------------------------------------------------------------------
	trail, err := client.Activity.Query().
		Where(activity.OrganizationID(acme.ID)).
		Order(ent.Asc(activity.FieldCreatedAt), ent.Asc(activity.FieldID)).
		All(asAlice)
	must("alice reads Acme's activity trail", err)
	fmt.Printf("  activity trail of Acme (%d entries):\n", len(trail))
	var verbs []string
	for _, a := range trail {
		who := string(a.ActorType)
		if a.ActorUserID != nil {
			who += " " + string(*a.ActorUserID)
		}
		fmt.Printf("    %-20s %-12s %s by %s (%s) via %s, changes %v\n", a.Verb, a.ObjectType, a.ObjectID, who, a.ActorDisplay, a.Channel, a.Data["changes"])
		verbs = append(verbs, a.Verb)
	}
	want := []string{"organization.created", "membership.created", "member.invited", "invitation.accepted", "member.joined", "role.created", "role.assigned"}
	slices.Sort(verbs)
	slices.Sort(want)
	if !slices.Equal(verbs, want) {
		log.Fatalf("FAILED: the trail holds %v, want %v", verbs, want)
	}
	allowed("alice reads Acme's trail: every write recorded, no refused one")

	// Reads are filtered rather than refused: bob lacks activity:read, so
	// the same query returns his own entries only (his acceptance).
	mine, err := client.Activity.Query().Where(activity.OrganizationID(acme.ID)).All(asBob)
	must("bob reads Acme's activity trail", err)
	for _, a := range mine {
		if a.ActorUserID == nil || *a.ActorUserID != bob.ID {
			log.Fatalf("FAILED: bob sees %s by %v in Acme's trail, want his own entries only", a.Verb, a.ActorUserID)
		}
	}
	if len(mine) != 2 {
		log.Fatalf("FAILED: bob sees %d entries of Acme's trail, want his 2", len(mine))
	}
	fmt.Printf("refused as expected: bob reads Acme's trail: filtered to his own %d entries\n", len(mine))

	// ---------------------------------------------------------------------
	// 7. Sign-in from Go: package session (passwords, sessions, tokens)
	//    and package credential (a bearer credential becomes an actor).
	// ---------------------------------------------------------------------
	// sessions is the session manager opened for the invitation above.
	pw := "violet cactus harbor 1987 drums"
	active := user.StatusActive
	carol, err := sessions.CreateUser(sys, client, ent.CreateUserInput{Email: "carol-" + run + "@example.com", Status: &active}, &pw)
	must("create carol with a password", err)
	weak := "password1234"
	_, err = sessions.CreateUser(sys, client, ent.CreateUserInput{Email: "dave-" + run + "@example.com"}, &weak)
	refused("a common password", err, is(password.ErrRejected))
	_, err = sessions.Login(ctx, session.LoginInput{Email: carol.Email, Password: "wrong horse battery staple"})
	refused("carol signs in with a wrong password", err, is(session.ErrInvalidCredentials))
	tokens, err := sessions.Login(ctx, session.LoginInput{Email: carol.Email, Password: pw, Client: session.Client{IP: "192.0.2.7", UserAgent: "identity-embed example"}})
	must("carol signs in", err)
	allowed("carol signs in: session %s, access token for %d s", tokens.SessionID, tokens.ExpiresIn)
	// The access token authenticates like an API key would.
	a, err := credential.Authenticate(ctx, client, sessions, tokens.AccessToken, time.Now())
	must("authenticate carol's access token", err)
	if a.UserID() != carol.ID || a.SessionID() != tokens.SessionID {
		log.Fatalf("FAILED: the access token stands for %s (session %s)", a.UserID(), a.SessionID())
	}
	allowed("carol's access token stands for %s", a)
	next, err := sessions.Refresh(ctx, tokens.RefreshToken, session.Client{IP: "192.0.2.7", UserAgent: "identity-embed example"})
	must("carol refreshes", err)
	// Presented again by another client, the used refresh token revokes
	// the session: a stolen token is worth one use at most.
	_, err = sessions.Refresh(ctx, tokens.RefreshToken, session.Client{IP: "203.0.113.9", UserAgent: "someone else"})
	refused("the used refresh token, replayed by another client", err, is(session.ErrTokenReused))
	_, err = credential.Authenticate(ctx, client, sessions, next.AccessToken, time.Now())
	refused("the access token of the revoked session", err, is(credential.ErrInvalid))

	fmt.Println("ok")
}

// linkMailer is a mail.Mailer that keeps the link of every message: a
// program without a mail server (tests, this example) reads it there.
type linkMailer struct {
	mu    sync.Mutex
	links []string
}

func (m *linkMailer) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.links = append(m.links, msg.Link)
	return nil
}

// last returns the link of the last message, or stops the program when
// none was sent.
func (m *linkMailer) last() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.links) == 0 {
		log.Fatal("FAILED: no mail was sent")
	}
	return m.links[len(m.links)-1]
}

// must stops the program when a step that should succeed fails.
func must(what string, err error) {
	if err != nil {
		log.Fatalf("FAILED: %s: %v", what, err)
	}
}

func allowed(format string, args ...any) {
	fmt.Printf("allowed: "+format+"\n", args...)
}

// refused stops the program unless err is the expected refusal.
func refused(what string, err error, expected func(error) bool) {
	switch {
	case err == nil:
		log.Fatalf("FAILED: %s: succeeded, want a refusal", what)
	case !expected(err):
		log.Fatalf("FAILED: %s: refused with an unexpected error: %v", what, err)
	}
	fmt.Printf("refused as expected: %s: %v\n", what, err)
}

func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func isNotFoundOrDenied(err error) bool {
	return ent.IsNotFound(err) || errors.Is(err, privacy.Deny)
}

func roleKeys(rs []*ent.Role) string {
	keys := make([]string, len(rs))
	for i, r := range rs {
		keys[i] = r.Key
	}
	slices.Sort(keys)
	return strings.Join(keys, ", ")
}

// suffix returns 4 random hex characters.
func suffix() string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
