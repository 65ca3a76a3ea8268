package crosstenant_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/apikey"
	"github.com/cf/identity/audit"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/bootstrap"
	"github.com/cf/identity/credential"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/preference"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/ent/usertoken"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/softdelete"
	"github.com/cf/identity/tenancy"
)

// marker is in every string value of organization A's data, so that a
// leaked name, email, slug, key or title is found by one search.
const marker = "alphasecret"

// fixture is the world of the suite. Everything of organization A (and of
// its child organization, and of the users who belong to A only) is secret
// to every actor but platform staff.
type fixture struct {
	orgA, orgAChild, orgB pulid.ID

	ownerA, adminA, memberA, viewerA pulid.ID // A-only users
	ownerB, memberB                  pulid.ID // B-only users
	shared                           pulid.ID // member of A (viewer) and B (member)
	loner                            pulid.ID // member of no organization
	support, superadmin              pulid.ID

	roleA, roleB pulid.ID // custom roles

	// memberships by organization, then user.
	memberships map[pulid.ID]map[pulid.ID]pulid.ID
	// sessions by active organization ("" for none), then user: one each.
	sessions map[pulid.ID]map[pulid.ID]pulid.ID

	// Keys of the principals, shown once.
	memberBKey, ownerBKey, orgBKey, scopedBKey, supportKey, superKey string
	ownerAKey, sharedKey                                             string
	orgBKeyRow, scopedBKeyRow, memberBKeyRow                         *ent.APIKey
	orgBScopes                                                       []string

	// secretIDs are the IDs of A's rows; secretStrings the strings of A
	// that carry no marker (key prefixes).
	secretIDs     map[string]bool
	secretStrings []string
	// aRows and bRows list, per entity, the IDs of A's rows and of B's.
	aRows, bRows map[string][]pulid.ID
	// systemRows list, per system-only entity (see systemOnly), its IDs:
	// rows of no organization that no actor but the system reaches.
	systemRows map[string][]pulid.ID

	// Tokens of the pending invitations of A (to A and to A's child) and
	// of B, as mailed; A's are secret like A's other data.
	invTokenA, invTokenAChild, invTokenB string
	// invitationsA are A's invitations (pending, revoked, accepted and one
	// pending past its expiry).
	invitationsA []pulid.ID
	invitationB  pulid.ID
}

func sysCtx() context.Context {
	return actor.NewContext(context.Background(), actor.System("test"))
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("fixture: %s: %v", what, err)
		}
		return v
	}
}

// asUser returns a context acting as user id, with its grants loaded.
func asUser(t *testing.T, c *ent.Client, id pulid.ID) context.Context {
	t.Helper()
	ctx, err := authz.NewContext(context.Background(), c, actor.User(id, actor.PlatformNone))
	if err != nil {
		t.Fatalf("fixture: acting as %s: %v", id, err)
	}
	return ctx
}

func buildFixture(t *testing.T, c *ent.Client) *fixture {
	t.Helper()
	sys := sysCtx()
	f := &fixture{}
	newUser := func(email, name string, role user.PlatformRole) pulid.ID {
		return must[*ent.User](t, "user "+email)(c.User.Create().
			SetEmail(email).SetDisplayName(name).SetFirstName(strings.Fields(name)[0]).
			SetLastName(name).SetPhone("+1555" + email[:2]).SetLocale("fr").SetTimezone("Europe/Paris").
			SetAvatarURL("https://img.example/" + email).SetMetadata(map[string]any{"note": name}).
			SetStatus(user.StatusActive).SetPlatformRole(role).Save(sys)).ID
	}
	f.ownerA = newUser("owner@alphasecret.example", "Alphasecret Owner", user.PlatformRoleNone)
	f.adminA = newUser("admin@alphasecret.example", "Alphasecret Admin", user.PlatformRoleNone)
	f.memberA = newUser("member@alphasecret.example", "Alphasecret Member", user.PlatformRoleNone)
	f.viewerA = newUser("viewer@alphasecret.example", "Alphasecret Viewer", user.PlatformRoleNone)
	f.ownerB = newUser("owner@bravo.example", "Bravo Owner", user.PlatformRoleNone)
	f.memberB = newUser("member@bravo.example", "Bravo Member", user.PlatformRoleNone)
	f.shared = newUser("shared@both.example", "Shared Person", user.PlatformRoleNone)
	f.loner = newUser("loner@nowhere.example", "Lone Person", user.PlatformRoleNone)
	f.support = newUser("support@platform.example", "Support Person", user.PlatformRoleSupport)
	root, err := bootstrap.Superadmin(sys, c, "root@platform.example", "Root")
	if err != nil {
		t.Fatalf("fixture: bootstrap: %v", err)
	}
	f.superadmin, f.superKey = root.UserID, root.Key

	// Organizations, created by their owners (who become owners).
	ctxA := asUser(t, c, f.ownerA)
	ctxB := asUser(t, c, f.ownerB)
	plan := marker + "-plan"
	f.orgA = must[*ent.Organization](t, "org A")(tenancy.CreateOrganization(ctxA, c, ent.CreateOrganizationInput{
		Name: "Alphasecret Inc", Slug: marker, Plan: &plan, Metadata: map[string]any{"tier": marker},
	})).ID
	f.orgAChild = must[*ent.Organization](t, "org A child")(tenancy.CreateOrganization(ctxA, c, ent.CreateOrganizationInput{
		Name: "Alphasecret Child", Slug: marker + "-child", ParentID: &f.orgA,
	})).ID
	f.orgB = must[*ent.Organization](t, "org B")(tenancy.CreateOrganization(ctxB, c, ent.CreateOrganizationInput{
		Name: "Bravo Corp", Slug: "bravo",
	})).ID

	// Members, added by the system: adding a user directly is a platform
	// act (organizations grow by invitation), so the owners do not.
	title, dept := "Alphasecret title", "Alphasecret dept"
	add := func(_ context.Context, org, u pulid.ID, role pulid.ID, title, dept *string) *ent.Membership {
		return must[*ent.Membership](t, "member")(tenancy.AddMember(sys, c, tenancy.AddMemberInput{
			OrganizationID: org, UserID: u, RoleIDs: []pulid.ID{role}, Title: title, Department: dept,
		}))
	}
	memAdminA := add(ctxA, f.orgA, f.adminA, permission.AdminRoleID, &title, nil)
	memMemberA := add(ctxA, f.orgA, f.memberA, permission.MemberRoleID, &title, &dept)
	memViewerA := add(ctxA, f.orgA, f.viewerA, permission.ViewerRoleID, nil, &dept)
	add(ctxA, f.orgA, f.shared, permission.ViewerRoleID, nil, nil)
	add(ctxA, f.orgAChild, f.memberA, permission.MemberRoleID, &title, nil)
	memMemberB := add(ctxB, f.orgB, f.memberB, permission.MemberRoleID, nil, nil)
	add(ctxB, f.orgB, f.shared, permission.MemberRoleID, nil, nil)
	if err := c.Membership.UpdateOne(memMemberA).SetManagerID(memAdminA.ID).SetInvitedByID(f.ownerA).Exec(ctxA); err != nil {
		t.Fatalf("fixture: manager: %v", err)
	}
	if err := c.Membership.UpdateOne(memViewerA).SetStatus("suspended").Exec(ctxA); err != nil {
		t.Fatalf("fixture: suspend: %v", err)
	}

	// Custom roles, assigned.
	lvl, desc := 20, "Alphasecret auditors"
	f.roleA = must[*ent.Role](t, "role A")(tenancy.CreateRole(ctxA, c, ent.CreateRoleInput{
		Key: marker + "_auditor", Name: "Alphasecret Auditor", Description: &desc, Level: &lvl,
		Permissions: []string{permission.MemberRead, permission.ActivityRead}, OrganizationID: &f.orgA,
	})).ID
	must[*ent.Membership](t, "assign A")(tenancy.AssignRole(ctxA, c, memViewerA.ID, f.roleA))
	f.roleB = must[*ent.Role](t, "role B")(tenancy.CreateRole(ctxB, c, ent.CreateRoleInput{
		Key: "bravo_auditor", Name: "Bravo Auditor", Level: &lvl,
		Permissions: []string{permission.MemberRead}, OrganizationID: &f.orgB,
	})).ID
	must[*ent.Membership](t, "assign B")(tenancy.AssignRole(ctxB, c, memMemberB.ID, f.roleB))

	// Keys: A's organization keys (one expiring, one revoked) and a
	// personal key of A's owner; B's organization key with every
	// organization permission, personal keys of B's users and of support.
	exp := time.Now().Add(30 * 24 * time.Hour)
	_, keyA, err := credential.CreateAPIKey(ctxA, c, apikey.Params{Name: "Alphasecret CI", OrganizationID: f.orgA,
		Scopes: []string{permission.MemberRead, permission.UserRead}, ExpiresAt: &exp})
	if err != nil {
		t.Fatalf("fixture: key A: %v", err)
	}
	_, keyA2, err := credential.CreateAPIKey(ctxA, c, apikey.Params{Name: "Alphasecret old", OrganizationID: f.orgA,
		Scopes: []string{permission.MemberRead}})
	if err != nil {
		t.Fatalf("fixture: key A2: %v", err)
	}
	must[*ent.APIKey](t, "revoke A2")(credential.RevokeAPIKey(ctxA, c, keyA2.ID))
	if err := c.APIKey.UpdateOne(keyA).SetLastUsedAt(time.Now().Add(-time.Hour)).Exec(sys); err != nil {
		t.Fatalf("fixture: key A used: %v", err)
	}
	personal := func(owner pulid.ID, name string, scopes ...string) (string, *ent.APIKey) {
		key, k, err := apikey.Create(sys, c, apikey.Params{Name: name, OwnerID: owner, Scopes: scopes})
		if err != nil {
			t.Fatalf("fixture: key %s: %v", name, err)
		}
		return key, k
	}
	ownerAKey, _ := personal(f.ownerA, "Alphasecret personal", actor.ScopeAll)
	for _, e := range permission.Catalog {
		if !e.Platform {
			f.orgBScopes = append(f.orgBScopes, e.Name)
		}
	}
	f.orgBKey, f.orgBKeyRow, err = credential.CreateAPIKey(ctxB, c, apikey.Params{Name: "Bravo CI", OrganizationID: f.orgB, Scopes: f.orgBScopes})
	if err != nil {
		t.Fatalf("fixture: key B: %v", err)
	}
	f.memberBKey, f.memberBKeyRow = personal(f.memberB, "bravo member", actor.ScopeAll)
	f.sharedKey, _ = personal(f.shared, "shared person", actor.ScopeAll)
	f.scopedBKey, f.scopedBKeyRow = personal(f.memberB, "bravo member read-only", permission.MemberRead)
	f.ownerBKey, _ = personal(f.ownerB, "bravo owner", actor.ScopeAll)
	f.supportKey, _ = personal(f.support, "support", actor.ScopeAll)

	// OAuth accounts.
	c.OAuthAccount.Create().SetUserID(f.memberA).SetProvider("github").SetProviderUserID(marker + "-gh-1").
		SetProviderEmail("gh@alphasecret.example").SetTokenExpiresAt(exp).SetScopes([]string{"read:user"}).ExecX(sys)
	c.OAuthAccount.Create().SetUserID(f.ownerA).SetProvider("google").SetProviderUserID(marker + "-go-1").ExecX(sys)
	c.OAuthAccount.Create().SetUserID(f.ownerB).SetProvider("github").SetProviderUserID("bravo-gh-1").ExecX(sys)

	// Invitations, as the invitation flow writes them (the system):
	// pending ones with tokens (to A, A's child and B), and in A a revoked
	// one, an accepted one and a pending one past its expiry.
	invite := func(org pulid.ID, email string, inviter *pulid.ID, roles ...pulid.ID) (*ent.InvitationCreate, string) {
		tok, _, err := secret.NewToken("cfinv")
		if err != nil {
			t.Fatalf("fixture: invitation token: %v", err)
		}
		return c.Invitation.Create().SetOrganizationID(org).SetEmail(email).SetNillableInviterID(inviter).
			SetTokenDigest(secret.DigestOf(tok)).SetExpiresAt(exp).AddRoleIDs(roles...), tok
	}
	q, tok := invite(f.orgA, "invitee@alphasecret.example", &f.ownerA, permission.MemberRoleID)
	f.invTokenA = tok
	f.invitationsA = append(f.invitationsA, must[*ent.Invitation](t, "invitation A")(q.SetMessage(marker+" welcome").Save(sys)).ID)
	q, f.invTokenAChild = invite(f.orgAChild, "child-invitee@alphasecret.example", nil, permission.ViewerRoleID)
	f.invitationsA = append(f.invitationsA, must[*ent.Invitation](t, "invitation A child")(q.Save(sys)).ID)
	q, _ = invite(f.orgA, "revoked@alphasecret.example", &f.adminA, permission.MemberRoleID)
	f.invitationsA = append(f.invitationsA, must[*ent.Invitation](t, "revoked invitation A")(q.SetStatus("revoked").SetRevokedAt(time.Now()).Save(sys)).ID)
	q, _ = invite(f.orgA, "member@alphasecret.example", &f.ownerA, permission.MemberRoleID)
	f.invitationsA = append(f.invitationsA, must[*ent.Invitation](t, "accepted invitation A")(q.SetStatus("accepted").
		SetAcceptedByID(f.memberA).SetAcceptedAt(time.Now()).Save(sys)).ID)
	q, _ = invite(f.orgA, "late@alphasecret.example", &f.ownerA, permission.MemberRoleID)
	f.invitationsA = append(f.invitationsA, must[*ent.Invitation](t, "expired invitation A")(q.SetExpiresAt(time.Now().Add(-time.Hour)).SetSentCount(2).Save(sys)).ID)
	q, f.invTokenB = invite(f.orgB, "invitee@bravo.example", &f.ownerB, permission.MemberRoleID)
	f.invitationB = must[*ent.Invitation](t, "invitation B")(q.Save(sys)).ID
	if err := c.Invitation.UpdateOneID(f.invitationsA[0]).AddRoleIDs(f.roleA).Exec(sys); err != nil {
		t.Fatalf("fixture: invitation A with A's role: %v", err)
	}
	if err := c.Invitation.UpdateOneID(f.invitationB).AddRoleIDs(f.roleB).Exec(sys); err != nil {
		t.Fatalf("fixture: invitation B with B's role: %v", err)
	}
	// Mailed single-use tokens (system-only rows): a password reset of A's
	// member, a verification of B's member.
	for _, ut := range []struct {
		u       pulid.ID
		purpose string
		email   string
	}{{f.memberA, "password_reset", "member@alphasecret.example"}, {f.memberB, "email_verification", "member@bravo.example"}} {
		c.UserToken.Create().SetUserID(ut.u).SetPurpose(usertoken.Purpose(ut.purpose)).SetEmail(ut.email).
			SetTokenDigest(secret.DigestOf(string(pulid.New("utk")))).SetExpiresAt(exp).ExecX(sys)
	}

	// Sessions, each with its refresh tokens (one, or a rotation of two);
	// the label is in their user agents.
	f.sessions = map[pulid.ID]map[pulid.ID]pulid.ID{}
	signedIn := time.Now().Add(-time.Hour)
	open := func(u pulid.ID, org *pulid.ID, label string) *ent.SessionCreate {
		return c.Session.Create().SetUserID(u).SetNillableOrganizationID(org).
			SetIP("10.0.0.1").SetUserAgent("agent " + label).SetLastIP("10.0.0.2").
			SetLastUsedAt(signedIn).SetIdleExpiresAt(exp).SetExpiresAt(exp)
	}
	token := func(s *ent.Session, label string) *ent.RefreshTokenCreate {
		if f.sessions[ptr(s.OrganizationID)] == nil {
			f.sessions[ptr(s.OrganizationID)] = map[pulid.ID]pulid.ID{}
		}
		f.sessions[ptr(s.OrganizationID)][s.UserID] = s.ID
		return c.RefreshToken.Create().SetUserID(s.UserID).SetNillableOrganizationID(s.OrganizationID).SetFamilyID(s.ID).
			SetTokenHash(secret.DigestOf(string(pulid.New("tok")))).SetExpiresAt(exp).
			SetIP("10.0.0.1").SetUserAgent("agent " + label)
	}
	signIn := func(u pulid.ID, org *pulid.ID, label string) {
		s := open(u, org, label).SaveX(sys)
		token(s, label).ExecX(sys)
	}
	s1 := open(f.memberA, &f.orgA, marker+"-fam-1").SaveX(sys)
	rt := token(s1, marker+"-fam-1").SaveX(sys)
	token(s1, marker+"-fam-1").SetParentID(rt.ID).SetUsedAt(time.Now()).ExecX(sys)
	s2 := open(f.ownerA, &f.orgA, marker+"-fam-2").SetRevokedAt(time.Now()).SetRevokedReason(marker + " logout").
		SetImpersonatorID(f.adminA).SaveX(sys)
	token(s2, marker+"-fam-2").SetRevokedAt(time.Now()).SetRevokedReason(marker + " logout").
		SetImpersonatorID(f.adminA).ExecX(sys)
	signIn(f.ownerA, nil, marker+"-fam-3")
	signIn(f.shared, &f.orgA, marker+"-fam-4")
	signIn(f.shared, &f.orgB, "bravo-fam-1")
	signIn(f.memberB, &f.orgB, "bravo-fam-2")
	signIn(f.ownerB, &f.orgB, "bravo-fam-3")

	// Preferences: system (public), organization and user ones.
	pref := func(scope preference.Scope, org, u *pulid.ID, key string, by *pulid.ID) {
		c.Preference.Create().SetScope(scope).SetNillableOrganizationID(org).SetNillableUserID(u).
			SetKey(key).SetValue(json.RawMessage(`{"v":"` + key + `"}`)).SetNillableUpdatedByID(by).ExecX(sys)
	}
	pref(preference.ScopeSystem, nil, nil, "site.banner", nil)
	pref(preference.ScopeOrganization, &f.orgA, nil, marker+".theme", &f.ownerA)
	pref(preference.ScopeOrganization, &f.orgAChild, nil, marker+".child", nil)
	pref(preference.ScopeUser, nil, &f.memberA, marker+".memberpref", &f.memberA)
	pref(preference.ScopeOrganization, &f.orgB, nil, "bravo.theme", &f.ownerB)
	pref(preference.ScopeUser, nil, &f.memberB, "bravo.memberpref", nil)
	if err := c.Preference.Update().Where(preference.KeyEQ(marker + ".theme")).SetValue(json.RawMessage(`{"v":2}`)).Exec(sys); err != nil {
		t.Fatalf("fixture: pref update: %v", err)
	}

	// Variety for filters: an A user with every optional field set.
	now := time.Now()
	c.User.UpdateOneID(f.viewerA).SetStatusReason(marker + " review").SetStatusChangedAt(now).
		SetBannedAt(now).SetBanReason(marker + " abuse").SetBanExpiresAt(now.Add(time.Hour)).
		SetLockedUntil(now.Add(time.Hour)).SetLastLoginAt(now.Add(-time.Hour)).SetFailedLogins(3).ExecX(sys)
	// An organization update recorded by A's owner; another through
	// GraphQL with A's owner's key (channel, IP, user agent, request ID and
	// key on the activity), and an impersonated one.
	c.Organization.UpdateOneID(f.orgA).SetPlan(marker + "-pro").ExecX(ctxA)
	f.ownerAKey = ownerAKey
	if err := c.Membership.Create().SetOrganizationID(f.orgAChild).SetUserID(f.adminA).AddRoleIDs(permission.ViewerRoleID).Exec(sys); err != nil {
		t.Fatalf("fixture: member without joined_at: %v", err)
	}
	reqCtx := audit.WithRequest(sys, audit.Request{Channel: "graphql", IP: "10.1.1.1", UserAgent: marker + " agent", RequestID: marker + "-req"})
	if err := trail.Record(reqCtx, c, trail.Event{Verb: "organization.viewed", ObjectType: "Organization", ObjectID: f.orgA, Organization: f.orgA,
		Actor: actor.User(f.adminA, actor.PlatformNone).ImpersonatedBy(f.ownerA)}); err != nil {
		t.Fatalf("fixture: impersonated activity: %v", err)
	}

	return f
}

// collect computes the IDs of A's rows (and B's) from the database.
func (f *fixture) collect(t *testing.T, c *ent.Client) {
	t.Helper()
	ctx := softdelete.IncludeDeleted(sysCtx())
	aOrgs := []pulid.ID{f.orgA, f.orgAChild}
	aUsers := []pulid.ID{f.ownerA, f.adminA, f.memberA, f.viewerA}
	bOrgs := []pulid.ID{f.orgB}
	bUsers := []pulid.ID{f.ownerB, f.memberB}
	f.secretIDs = map[string]bool{}
	f.aRows = map[string][]pulid.ID{}
	f.bRows = map[string][]pulid.ID{}
	in := func(id *pulid.ID, set []pulid.ID) bool { return id != nil && slices.Contains(set, *id) }
	p := func(id pulid.ID) *pulid.ID { return &id }
	put := func(entity string, id pulid.ID, a, b bool) {
		switch {
		case a:
			f.aRows[entity] = append(f.aRows[entity], id)
			f.secretIDs[string(id)] = true
		case b:
			f.bRows[entity] = append(f.bRows[entity], id)
		}
	}
	for _, o := range c.Organization.Query().AllX(ctx) {
		put("Organization", o.ID, in(p(o.ID), aOrgs), in(p(o.ID), bOrgs))
	}
	for _, u := range c.User.Query().AllX(ctx) {
		put("User", u.ID, in(p(u.ID), aUsers), in(p(u.ID), bUsers))
	}
	f.memberships = map[pulid.ID]map[pulid.ID]pulid.ID{}
	for _, m := range c.Membership.Query().AllX(ctx) {
		if f.memberships[m.OrganizationID] == nil {
			f.memberships[m.OrganizationID] = map[pulid.ID]pulid.ID{}
		}
		f.memberships[m.OrganizationID][m.UserID] = m.ID
		put("Membership", m.ID, in(&m.OrganizationID, aOrgs) || in(&m.UserID, aUsers), in(&m.OrganizationID, bOrgs) || in(&m.UserID, bUsers))
	}
	for _, r := range c.Role.Query().AllX(ctx) {
		put("Role", r.ID, in(r.OrganizationID, aOrgs), in(r.OrganizationID, bOrgs))
	}
	for _, o := range c.OAuthAccount.Query().AllX(ctx) {
		put("OAuthAccount", o.ID, in(&o.UserID, aUsers), in(&o.UserID, bUsers))
	}
	for _, k := range c.APIKey.Query().AllX(ctx) {
		a := in(k.OrganizationID, aOrgs) || in(&k.UserID, aUsers)
		put("APIKey", k.ID, a, in(k.OrganizationID, bOrgs) || in(&k.UserID, bUsers))
		if a {
			f.secretStrings = append(f.secretStrings, k.Prefix)
		}
	}
	for _, r := range c.Session.Query().AllX(ctx) {
		put("Session", r.ID, in(r.OrganizationID, aOrgs) || in(&r.UserID, aUsers), in(r.OrganizationID, bOrgs) || in(&r.UserID, bUsers))
	}
	for _, r := range c.RefreshToken.Query().AllX(ctx) {
		put("RefreshToken", r.ID, in(r.OrganizationID, aOrgs) || in(&r.UserID, aUsers), in(r.OrganizationID, bOrgs) || in(&r.UserID, bUsers))
	}
	f.systemRows = map[string][]pulid.ID{"SigningKey": c.SigningKey.Query().IDsX(ctx), "UserToken": c.UserToken.Query().IDsX(ctx)}
	for _, inv := range c.Invitation.Query().AllX(ctx) {
		put("Invitation", inv.ID, in(&inv.OrganizationID, aOrgs), in(&inv.OrganizationID, bOrgs))
	}
	for _, r := range c.Preference.Query().AllX(ctx) {
		put("Preference", r.ID, in(r.OrganizationID, aOrgs) || in(r.UserID, aUsers), in(r.OrganizationID, bOrgs) || in(r.UserID, bUsers))
	}
	for _, a := range c.Activity.Query().AllX(ctx) {
		dataOrg, _ := a.Data["organization_id"].(string)
		isA := in(a.OrganizationID, aOrgs) || in(a.ActorUserID, aUsers) || f.secretIDs[string(ptr(a.ActorAPIKeyID))] ||
			f.secretIDs[a.ObjectID] || slices.Contains(aOrgs, pulid.ID(dataOrg))
		isB := in(a.OrganizationID, bOrgs) || in(a.ActorUserID, bUsers)
		put("Activity", a.ID, isA, isB)
	}
	for _, e := range []string{"Organization", "User", "Membership", "Role", "OAuthAccount", "APIKey", "Session", "RefreshToken", "Preference", "Activity", "Invitation"} {
		if len(f.aRows[e]) == 0 || len(f.bRows[e]) == 0 {
			t.Fatalf("fixture: %s has %d rows of A and %d of B; want both", e, len(f.aRows[e]), len(f.bRows[e]))
		}
	}
	for e := range systemOnly {
		if len(f.systemRows[e]) == 0 {
			t.Fatalf("fixture: system-only entity %s has no row", e)
		}
	}
}

func ptr(id *pulid.ID) pulid.ID {
	if id == nil {
		return ""
	}
	return *id
}
