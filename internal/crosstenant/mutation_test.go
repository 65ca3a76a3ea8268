package crosstenant_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"testing"

	"github.com/cf/identity/graph"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
)

type mutationCase struct {
	name  string
	field string // the Mutation field it exercises
	query string
	vars  map[string]any
	// only restricts the case to the principals it returns true for (nil:
	// every principal).
	only func(p principal) bool
	// signedIn runs the case as the signed-in principal (an access token)
	// too, for the flows that need a signed-in user.
	signedIn bool
}

// mutationCases aims every mutation of the API at A. Every one must be
// refused, leave the database as it was, and return nothing of A.
func (s *suite) mutationCases() []mutationCase {
	f := s.f
	var cs []mutationCase
	add := func(field, name, query string, vars map[string]any) {
		cs = append(cs, mutationCase{name: field + " " + name, field: field, query: query, vars: vars})
	}
	// not runs the last case added for every principal but those acting as
	// user u (for whom it is a legitimate write of their own row).
	not := func(u pulid.ID) {
		cs[len(cs)-1].only = func(p principal) bool { return p.actor == nil || p.actor.UserID() != u }
	}
	aUsers := []pulid.ID{f.ownerA, f.adminA, f.memberA, f.viewerA}
	var aMemberships []pulid.ID
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		for _, m := range f.memberships[org] {
			aMemberships = append(aMemberships, m)
		}
	}
	slices.Sort(aMemberships)
	memA := f.memberships[f.orgA][f.memberA]
	memViewerA := f.memberships[f.orgA][f.viewerA]
	memB := f.memberships[f.orgB][f.memberB]
	memSharedB := f.memberships[f.orgB][f.shared]

	// Users.
	const createUser = `mutation($i: CreateUserInput!) { r: createUser(input: $i) { id email } }`
	add("createUser", "with the email of A's owner", createUser, map[string]any{"i": map[string]any{"email": "owner@alphasecret.example"}})
	add("createUser", "as a superadmin", createUser, map[string]any{"i": map[string]any{"email": "evil@evil.example", "platformRole": "superadmin", "status": "active"}})
	const updateUser = `mutation($id: ID!, $i: UpdateUserInput!) { r: updateUser(id: $id, input: $i) { id email displayName status } }`
	const deleteUser = `mutation($id: ID!) { r: deleteUser(id: $id) }`
	for _, u := range append(slices.Clone(aUsers), f.shared) {
		add("updateUser", "profile of "+string(u), updateUser, map[string]any{"id": u, "i": map[string]any{"displayName": "pwned"}})
		not(u) // one's own profile is one's own
		add("updateUser", "email of "+string(u), updateUser, map[string]any{"id": u, "i": map[string]any{"email": "pwned@evil.example"}})
		add("deleteUser", string(u), deleteUser, map[string]any{"id": u})
	}

	// Organizations.
	const createOrg = `mutation($i: CreateOrganizationInput!) { r: createOrganization(input: $i) { id name parent { id name } } }`
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		add("createOrganization", "under "+string(org), createOrg, map[string]any{"i": map[string]any{"name": "Evil", "slug": "evil-child", "parentID": org}})
	}
	const updateOrg = `mutation($id: ID!, $i: UpdateOrganizationInput!) { r: updateOrganization(id: $id, input: $i) { id name slug parentID } }`
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		add("updateOrganization", "name of "+string(org), updateOrg, map[string]any{"id": org, "i": map[string]any{"name": "pwned"}})
		add("updateOrganization", "status of "+string(org), updateOrg, map[string]any{"id": org, "i": map[string]any{"status": "suspended"}})
		add("updateOrganization", "moving "+string(org)+" under B", updateOrg, map[string]any{"id": org, "i": map[string]any{"parentID": f.orgB}})
		add("updateOrganization", "clearing the parent of "+string(org), updateOrg, map[string]any{"id": org, "i": map[string]any{"clearParent": true}})
		add("updateOrganization", "moving B under "+string(org), updateOrg, map[string]any{"id": f.orgB, "i": map[string]any{"parentID": org}})
		add("deleteOrganization", string(org), `mutation($id: ID!) { r: deleteOrganization(id: $id) }`, map[string]any{"id": org})
	}

	// Members.
	const addMember = `mutation($i: AddMemberInput!) { r: addMember(input: $i) { id organization { id name } user { id email } } }`
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		add("addMember", "B's member to "+string(org)+" as owner", addMember, map[string]any{"i": map[string]any{"organizationID": org, "userID": f.memberB, "roleIDs": []any{permission.OwnerRoleID}}})
		add("addMember", "B's owner to "+string(org), addMember, map[string]any{"i": map[string]any{"organizationID": org, "userID": f.ownerB}})
		add("addMember", "a user of no organization to "+string(org), addMember, map[string]any{"i": map[string]any{"organizationID": org, "userID": f.loner}})
	}
	add("addMember", "to B with A's custom role", addMember, map[string]any{"i": map[string]any{"organizationID": f.orgB, "userID": f.loner, "roleIDs": []any{f.roleA}}})
	for _, m := range aMemberships {
		add("removeMember", string(m), `mutation($id: ID!) { r: removeMember(id: $id) }`, map[string]any{"id": m})
	}
	const assign = `mutation($m: ID!, $r: ID!) { r: assignRole(membershipID: $m, roleID: $r) { id roles { edges { node { id key } } } } }`
	const unassign = `mutation($m: ID!, $r: ID!) { r: unassignRole(membershipID: $m, roleID: $r) { id roles { edges { node { id key } } } } }`
	const setRoles = `mutation($m: ID!, $r: [ID!]!) { r: setMemberRoles(membershipID: $m, roleIDs: $r) { id roles { edges { node { id key } } } } }`
	for _, m := range aMemberships {
		add("assignRole", "owner to "+string(m), assign, map[string]any{"m": m, "r": permission.OwnerRoleID})
		add("assignRole", "B's role to "+string(m), assign, map[string]any{"m": m, "r": f.roleB})
		add("unassignRole", "member from "+string(m), unassign, map[string]any{"m": m, "r": permission.MemberRoleID})
		add("setMemberRoles", "viewer on "+string(m), setRoles, map[string]any{"m": m, "r": []any{permission.ViewerRoleID}})
	}
	add("assignRole", "A's role to B's member", assign, map[string]any{"m": memB, "r": f.roleA})
	add("unassignRole", "A's role from A's viewer", unassign, map[string]any{"m": memViewerA, "r": f.roleA})
	add("setMemberRoles", "A's role on B's member", setRoles, map[string]any{"m": memB, "r": []any{f.roleA}})
	add("setMemberRoles", "A's role and member on B's shared member", setRoles, map[string]any{"m": memSharedB, "r": []any{f.roleA, permission.MemberRoleID}})
	const bulk = `mutation($r: ID!, $m: [ID!]!) { r: bulkAssignRole(roleID: $r, membershipIDs: $m) { id user { id email } } }`
	add("bulkAssignRole", "viewer to all of A", bulk, map[string]any{"r": permission.ViewerRoleID, "m": aMemberships})
	add("bulkAssignRole", "B's role to B's member and A's member", bulk, map[string]any{"r": f.roleB, "m": []any{memB, memA}})
	add("bulkAssignRole", "A's role to B's members", bulk, map[string]any{"r": f.roleA, "m": []any{memB, memSharedB}})

	// Roles.
	const createRole = `mutation($i: CreateRoleInput!) { r: createRole(input: $i) { id key organization { id name } } }`
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		add("createRole", "in "+string(org), createRole, map[string]any{"i": map[string]any{"organizationID": org, "key": "evil_role", "name": "Evil", "permissions": []any{permission.MemberRead}}})
	}
	const updateRole = `mutation($id: ID!, $i: UpdateRoleInput!) { r: updateRole(id: $id, input: $i) { id key name permissions } }`
	add("updateRole", "A's role", updateRole, map[string]any{"id": f.roleA, "i": map[string]any{"name": "pwned"}})
	add("updateRole", "A's role permissions", updateRole, map[string]any{"id": f.roleA, "i": map[string]any{"permissions": []any{permission.OrganizationDelete}}})
	for _, b := range permission.Builtins {
		add("updateRole", "built-in "+b.Key, updateRole, map[string]any{"id": b.ID, "i": map[string]any{"name": "pwned"}})
		add("deleteRole", "built-in "+b.Key, `mutation($id: ID!) { r: deleteRole(id: $id, unassign: true) }`, map[string]any{"id": b.ID})
	}
	add("deleteRole", "A's role", `mutation($id: ID!) { r: deleteRole(id: $id) }`, map[string]any{"id": f.roleA})
	add("deleteRole", "A's role, unassigning it", `mutation($id: ID!) { r: deleteRole(id: $id, unassign: true) }`, map[string]any{"id": f.roleA})

	// API keys.
	const createKey = `mutation($i: CreateAPIKeyInput!) { r: createAPIKey(input: $i) { key apiKey { id organization { id name } } } }`
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		add("createAPIKey", "for "+string(org), createKey, map[string]any{"i": map[string]any{"name": "evil", "organizationID": org, "scopes": []any{permission.MemberRead}}})
	}
	for _, k := range f.aRows["APIKey"] {
		add("revokeAPIKey", string(k), `mutation($id: ID!) { r: revokeAPIKey(id: $id) { id name revokedAt } }`, map[string]any{"id": k})
	}
	// A personal key holds no scope its owner does not hold: the platform
	// permission of superadmins, or an organization permission held
	// nowhere (B's member, the key's owner, is a plain member).
	notSuper := func(p principal) bool { return p.actor == nil || p.actor.UserID() != f.superadmin }
	for _, scope := range []string{permission.PlatformRoleGrant, permission.OrganizationDelete} {
		add("createAPIKey", "personal with "+scope, createKey, map[string]any{"i": map[string]any{"name": "evil", "scopes": []any{scope}}})
		if scope == permission.PlatformRoleGrant {
			cs[len(cs)-1].only = notSuper
		} else {
			cs[len(cs)-1].only = func(p principal) bool { return p.actor != nil && p.actor.UserID() == f.memberB }
		}
	}
	// Sessions and passwords.
	const revokeSession = `mutation($id: ID!) { r: revokeSession(id: $id) { id userID organizationID revokedAt revokedReason user { id email } } }`
	for _, ses := range f.aRows["Session"] {
		add("revokeSession", string(ses), revokeSession, map[string]any{"id": ses})
	}
	const revokeUserSessions = `mutation($id: ID!) { r: revokeUserSessions(userID: $id) }`
	const setPassword = `mutation($id: ID!, $pw: String!) { r: setUserPassword(id: $id, password: $pw) }`
	const unlock = `mutation($id: ID!) { r: unlockUser(id: $id) { id email failedLogins lockedUntil } }`
	for _, u := range aUsers {
		add("revokeUserSessions", "of "+string(u), revokeUserSessions, map[string]any{"id": u})
		add("setUserPassword", "of "+string(u), setPassword, map[string]any{"id": u, "pw": "a long and unguessable passphrase 7"})
		add("unlockUser", string(u), unlock, map[string]any{"id": u})
	}
	// Account administration: platform user_manage on lower ranks only.
	const transition = `mutation($id: ID!) { r: transitionUser(id: $id, to: suspended, reason: "cross-tenant") { id status statusReason } }`
	const bulkTransition = `mutation($ids: [ID!]!) { r: bulkTransitionUsers(ids: $ids, to: suspended, reason: "cross-tenant") { userID applied code user { id status } } }`
	const ban = `mutation($id: ID!) { r: banUser(id: $id, reason: "cross-tenant") { id bannedAt banReason } }`
	const unban = `mutation($id: ID!) { r: unbanUser(id: $id, reason: "cross-tenant") { id bannedAt } }`
	for _, u := range aUsers {
		add("transitionUser", "of "+string(u), transition, map[string]any{"id": u})
		add("banUser", "of "+string(u), ban, map[string]any{"id": u})
		add("unbanUser", "of "+string(u), unban, map[string]any{"id": u})
	}
	add("bulkTransitionUsers", "of A's users", bulkTransition, map[string]any{"ids": aUsers})
	const grant = `mutation($id: ID!) { r: grantPlatformRole(userID: $id, role: superadmin, reason: "cross-tenant") { id platformRole } }`
	const revoke = `mutation($id: ID!) { r: revokePlatformRole(userID: $id, reason: "cross-tenant") { id platformRole } }`
	for _, u := range append(slices.Clone(aUsers), f.shared) {
		add("grantPlatformRole", "to "+string(u), grant, map[string]any{"id": u})
		add("revokePlatformRole", "of "+string(u), revoke, map[string]any{"id": u})
	}
	// Impersonation: platform:impersonate, across organizations, of a
	// signed-in superadmin only.
	const impersonate = `mutation($id: ID!) { r: impersonateUser(userID: $id, reason: "cross-tenant") { accessToken refreshToken session { id userID } } }`
	for _, u := range append(slices.Clone(aUsers), f.shared) {
		add("impersonateUser", "of "+string(u), impersonate, map[string]any{"id": u})
	}
	const stopImpersonation = `mutation($id: ID) { r: stopImpersonation(sessionID: $id) { id userID revokedAt } }`
	for _, ses := range f.aRows["Session"] {
		add("stopImpersonation", string(ses), stopImpersonation, map[string]any{"id": ses})
	}
	add("stopImpersonation", "of the request's own session", stopImpersonation, map[string]any{"id": nil})
	// Member administration: member:update in A only.
	const updateMember = `mutation($id: ID!, $i: UpdateMemberInput!) { r: updateMember(id: $id, input: $i) { id title department managerID status user { id email } } }`
	const suspendMember = `mutation($id: ID!) { r: suspendMember(id: $id, reason: "cross-tenant") { id status } }`
	const reactivateMember = `mutation($id: ID!) { r: reactivateMember(id: $id, reason: "cross-tenant") { id status } }`
	for _, m := range aMemberships {
		add("updateMember", "title of "+string(m), updateMember, map[string]any{"id": m, "i": map[string]any{"title": "pwned"}})
		add("updateMember", "status of "+string(m), updateMember, map[string]any{"id": m, "i": map[string]any{"status": "suspended"}})
		add("updateMember", string(m)+" reporting to B's member", updateMember, map[string]any{"id": m, "i": map[string]any{"managerID": memB}})
		add("suspendMember", string(m), suspendMember, map[string]any{"id": m})
		add("reactivateMember", string(m), reactivateMember, map[string]any{"id": m})
	}
	add("updateMember", "B's member reporting to A's member", updateMember, map[string]any{"id": memB, "i": map[string]any{"managerID": memA}})
	add("updateMember", "B's shared member reporting to A's viewer", updateMember, map[string]any{"id": memSharedB, "i": map[string]any{"managerID": memViewerA}})
	// An API key cannot change its owner's password (that needs an access
	// token): the refusal must not count as a failed sign-in either.
	add("changePassword", "with an API key", `mutation($c: String!, $n: String!) { r: changePassword(currentPassword: $c, newPassword: $n) }`,
		map[string]any{"c": "not the password", "n": "a long and unguessable passphrase 7"})
	cs = append(cs, s.flowMutations()...)
	cs = append(cs, s.selfServiceMutations()...)
	return cs
}

// flowMutations aim the invitation, recovery, OAuth-link and feature
// mutations at A: inviting into A or with A's roles, resending and
// revoking A's invitations, accepting A's invitations signed in as a user
// of another address, unlinking the OAuth accounts of A's users, switching
// flows without platform:settings_manage, and the signed-in flows with an
// API key.
func (s *suite) flowMutations() []mutationCase {
	f := s.f
	var cs []mutationCase
	add := func(field, name, query string, vars map[string]any) *mutationCase {
		cs = append(cs, mutationCase{name: field + " " + name, field: field, query: query, vars: vars})
		return &cs[len(cs)-1]
	}
	const invite = `mutation($o: ID!, $e: String!, $r: [ID!]) { r: inviteMember(organizationID: $o, email: $e, roleIDs: $r) { id email status organization { id name } roles { id key } inviter { id email } } }`
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		add("inviteMember", "into "+string(org), invite, map[string]any{"o": org, "e": "evil@evil.example"}).signedIn = true
		add("inviteMember", "B's member into "+string(org)+" as owner", invite, map[string]any{"o": org, "e": "member@bravo.example", "r": []any{permission.OwnerRoleID}})
		add("inviteMember", "an address with a pending invitation to "+string(org), invite, map[string]any{"o": org, "e": "invitee@alphasecret.example"})
		add("inviteMember", "a member of "+string(org), invite, map[string]any{"o": org, "e": "member@alphasecret.example"})
		add("inviteMember", "into "+string(org)+" with A's custom role", invite, map[string]any{"o": org, "e": "evil@evil.example", "r": []any{f.roleA}})
	}
	add("inviteMember", "into B with A's custom role", invite, map[string]any{"o": f.orgB, "e": "evil@evil.example", "r": []any{f.roleA}}).signedIn = true
	add("inviteMember", "into B with A's custom role and the member role", invite, map[string]any{"o": f.orgB, "e": "evil@evil.example", "r": []any{permission.MemberRoleID, f.roleA}})
	const resend = `mutation($id: ID!) { r: resendInvitation(id: $id) { id email status sentCount expiresAt organization { id name } } }`
	const revoke = `mutation($id: ID!) { r: revokeInvitation(id: $id) { id email status revokedAt organization { id name } } }`
	for _, inv := range f.invitationsA {
		add("resendInvitation", "of A's "+string(inv), resend, map[string]any{"id": inv}).signedIn = true
		add("revokeInvitation", "of A's "+string(inv), revoke, map[string]any{"id": inv}).signedIn = true
	}
	// Accepting A's invitation: with an API key (acceptance is signed in
	// or by the token alone), and signed in as B's member, whose address
	// is not the invited one.
	const accept = `mutation($t: String!) { r: acceptInvitation(token: $t) { invitation { id email organization { id name } } membership { id } userCreated } }`
	for _, tok := range []string{f.invTokenA, f.invTokenAChild} {
		add("acceptInvitation", "of A's invitation by a user of another address", accept, map[string]any{"t": tok}).signedIn = true
	}
	// OAuth accounts of A's users.
	const unlink = `mutation($id: ID!) { r: unlinkOAuthAccount(id: $id) }`
	for _, acc := range f.aRows["OAuthAccount"] {
		add("unlinkOAuthAccount", "of A's "+string(acc), unlink, map[string]any{"id": acc}).signedIn = true
	}
	// Flow switches: platform:settings_manage, which none of these holds
	// (the superadmin acting in B holds it, and is left out).
	notSuper := func(p principal) bool { return p.actor == nil || p.actor.UserID() != f.superadmin }
	const setFeature = `mutation($f: Feature!, $on: Boolean) { r: setFeature(flow: $f, enabled: $on) { flow enabled source } }`
	for _, v := range []struct {
		flow string
		on   any
	}{{"SIGNUP", true}, {"INVITATIONS", false}, {"PASSWORD_RESET", false}, {"SIGNUP", nil}} {
		c := add("setFeature", fmt.Sprintf("%s to %v", v.flow, v.on), setFeature, map[string]any{"f": v.flow, "on": v.on})
		c.only, c.signedIn = notSuper, true
	}
	// Preferences of A: its organizations' and its users' levels, and
	// the system level (platform:settings_manage, which only the
	// superadmin acting in B holds: left out).
	const setPref = `mutation($i: SetPreferenceInput!) { r: setPreference(input: $i) { id key value version } }`
	const deletePref = `mutation($i: DeletePreferenceInput!) { r: deletePreference(input: $i) }`
	for _, org := range []pulid.ID{f.orgA, f.orgAChild} {
		for _, k := range []string{marker + ".theme", marker + ".child", "new.key"} {
			add("setPreference", fmt.Sprintf("of %s key %s", org, k), setPref, map[string]any{"i": map[string]any{
				"level": "organization", "organizationID": org, "key": k, "value": "pwned"}})
			add("setPreference", fmt.Sprintf("of %s key %s at version 1", org, k), setPref, map[string]any{"i": map[string]any{
				"level": "organization", "organizationID": org, "key": k, "value": "pwned", "expectedVersion": 1}})
			add("deletePreference", fmt.Sprintf("of %s key %s", org, k), deletePref, map[string]any{"i": map[string]any{
				"level": "organization", "organizationID": org, "key": k}})
		}
	}
	for _, u := range []pulid.ID{f.ownerA, f.adminA, f.memberA, f.viewerA} {
		notU := func(p principal) bool { return p.actor == nil || p.actor.UserID() != u }
		add("setPreference", "of A's user "+string(u), setPref, map[string]any{"i": map[string]any{
			"level": "user", "userID": u, "key": marker + ".memberpref", "value": "pwned"}}).only = notU
		add("deletePreference", "of A's user "+string(u), deletePref, map[string]any{"i": map[string]any{
			"level": "user", "userID": u, "key": marker + ".memberpref"}}).only = notU
	}
	c := add("setPreference", "at the system level", setPref, map[string]any{"i": map[string]any{"level": "system", "key": "site.banner", "value": "pwned"}})
	c.only = notSuper
	c = add("deletePreference", "at the system level", deletePref, map[string]any{"i": map[string]any{"level": "system", "key": "site.banner"}})
	c.only = notSuper
	// The signed-in flows refuse API keys.
	add("requestEmailVerification", "with an API key", `mutation { r: requestEmailVerification }`, nil)
	const emailChange = `mutation($e: String!, $p: String!) { r: requestEmailChange(email: $e, currentPassword: $p) }`
	// Signed in, a change to a free address is one's own write: see
	// TestEmailChangeTellsNothing for the signed-in cases.
	add("requestEmailChange", "to the address of A's owner with an API key", emailChange, map[string]any{"e": "owner@alphasecret.example", "p": signedInPassword})
	add("requestEmailChange", "to a new address with an API key", emailChange, map[string]any{"e": "new-address@evil.example", "p": signedInPassword})
	return cs
}

// selfServiceMutations are writes of B's member's own rows that a personal
// key narrowed to member:read does not cover (scopes narrow self-service
// too): each must be refused and change nothing. They run as the
// principals marked narrow only.
func (s *suite) selfServiceMutations() []mutationCase {
	f := s.f
	narrow := func(p principal) bool { return p.narrow }
	own := f.memberships[f.orgB][f.memberB]
	return []mutationCase{
		{name: "removeMember of one's own membership (leaving) with a member:read key", field: "removeMember", only: narrow,
			query: `mutation($id: ID!) { r: removeMember(id: $id) }`, vars: map[string]any{"id": own}},
		{name: "revokeAPIKey of one's own other key with a member:read key", field: "revokeAPIKey", only: narrow,
			query: `mutation($id: ID!) { r: revokeAPIKey(id: $id) { id revokedAt } }`, vars: map[string]any{"id": f.memberBKeyRow.ID}},
		{name: "updateUser of one's own profile with a member:read key", field: "updateUser", only: narrow,
			query: `mutation($id: ID!, $i: UpdateUserInput!) { r: updateUser(id: $id, input: $i) { id displayName } }`,
			vars:  map[string]any{"id": f.memberB, "i": map[string]any{"displayName": "changed"}}},
		{name: "createAPIKey of a personal key with a member:read key", field: "createAPIKey", only: narrow,
			query: `mutation($i: CreateAPIKeyInput!) { r: createAPIKey(input: $i) { key } }`,
			vars:  map[string]any{"i": map[string]any{"name": "more", "scopes": []any{permission.MemberRead}}}},
		{name: "revokeSession of one's own session with a member:read key", field: "revokeSession", only: narrow,
			query: `mutation($id: ID!) { r: revokeSession(id: $id) { id revokedAt } }`, vars: map[string]any{"id": f.sessions[f.orgB][f.memberB]}},
		{name: "revokeUserSessions of oneself with a member:read key", field: "revokeUserSessions", only: narrow,
			query: `mutation($id: ID!) { r: revokeUserSessions(userID: $id) }`, vars: map[string]any{"id": f.memberB}},
		{name: "createOrganization with a member:read key", field: "createOrganization", only: narrow,
			query: `mutation($i: CreateOrganizationInput!) { r: createOrganization(input: $i) { id } }`,
			vars:  map[string]any{"i": map[string]any{"name": "Mine", "slug": "mine-by-narrow-key"}}},
	}
}

func (s *suite) runMutations(t *testing.T, si schemaInfo) {
	cases := s.mutationCases()
	// Every mutation of the schema has cases.
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.field] = true
	}
	var missing []string
	for _, f := range si.Mutation.Fields {
		if !covered[f.Name] {
			missing = append(missing, f.Name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("generator: mutations without cross-tenant cases: %v; add them to mutationCases", missing)
	}
	base, err := takeSnapshot(context.Background(), s.owner)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	// CONFLICT is allowed (the last owner of one's own organization...);
	// that it says nothing about A is checked by the twin.
	allowed := []string{graph.CodeForbidden, graph.CodeNotFound, graph.CodeBadUserInput, graph.CodeConflict}
	check := func(p principal, c mutationCase, vars map[string]any) gqlResp {
		s.count("graphql mutation")
		r, err := s.postAs(p, c.query, vars, nil)
		if err != nil {
			t.Errorf("[%s] %s: %v", p.name, c.name, err)
			return r
		}
		switch {
		case p.anonymous():
			if r.status != http.StatusUnauthorized || r.hasData || len(r.errors) != 1 || r.errors[0].code() != graph.CodeUnauthenticated {
				s.leak(t, p, c.name, "want HTTP 401 UNAUTHENTICATED, got %d: %s", r.status, r.raw)
			}
		case len(r.errors) == 0 && s.mode.policiesOff && !p.support:
			// The snapshot below proves whether it wrote anything, the
			// twin whether the answer tells anything of A.
			s.disagree("a GraphQL mutation the policy refuses answers without an error (it matched no row it may write)")
		case len(r.errors) == 0:
			// Support may read what a no-op mutation returns; the
			// snapshot below proves it wrote nothing.
			if !p.support {
				s.leak(t, p, c.name, "the mutation succeeded: %s", r.raw)
			}
		default:
			for _, e := range r.errors {
				if !slices.Contains(allowed, e.code()) {
					s.leak(t, p, c.name, "refused with %s (%s): want FORBIDDEN, NOT_FOUND, BAD_USER_INPUT or CONFLICT", e.code(), e.Message)
				}
				if x := s.secretsNotIn(e.Message+mustJSON(e.Extensions), c.query+mustJSON(vars)); len(x) > 0 && !p.support {
					s.leak(t, p, c.name, "error holds %v: %s", x, e.Message)
				}
			}
			if x := s.secretsIn(string(r.data)); len(x) > 0 && !p.support {
				s.leak(t, p, c.name, "data holds %v: %s", x, r.raw)
			}
		}
		after, err := takeSnapshot(context.Background(), s.owner)
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		if v, _ := s.violations(base, after, true); len(v) > 0 {
			s.leak(t, p, c.name, "the database changed:\n  %s", joinLines(v))
			base = after
		}
		return r
	}
	for _, c := range cases {
		ps := s.principals
		if c.signedIn {
			ps = append(slices.Clone(ps), s.signedIn)
		}
		for _, p := range ps {
			if c.only != nil && !c.only(p) {
				continue
			}
			r := check(p, c, c.vars)
			// The same mutation aimed at unknown rows must be refused
			// the same way: anything else tells A's rows exist.
			if tv, ok := s.twin(c.vars); ok && !p.support && !p.anonymous() {
				rt := check(p, mutationCase{name: c.name + " (twin with unknown IDs)", field: c.field, query: c.query}, tv.(map[string]any))
				if a, b := s.normalize(r.raw), s.normalize(rt.raw); a != b {
					s.leak(t, p, c.name, "the refusal depends on A's data:\n  with A's values: %s\n  with unknown values: %s", a, b)
				}
			}
		}
	}
}

func joinLines(v []string) string {
	out := ""
	for i, x := range v {
		if i > 0 {
			out += "\n  "
		}
		out += x
	}
	return out
}
