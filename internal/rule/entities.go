package rule

import (
	"context"
	"fmt"
	"slices"

	"entgo.io/ent"
	"entgo.io/ent/entql"
	"github.com/cf/identity/ent/privacy"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	gen "github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/organization"
	"github.com/cf/identity/ent/refreshtoken"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
)

// Organization: members see their organizations; organization:update and
// :delete write them; any user (or personal key with every scope) may create
// one, and becomes its owner through the domain function that does it.
func Organization() ent.Policy {
	return policy(
		func(_ context.Context, g *authz.Grants) entql.P {
			return inOrgs(g, "id", permission.OrganizationRead)
		},
		onCreate(func(_ context.Context, g *authz.Grants, m ent.Mutation) error {
			// A request acting in one organization creates nothing outside
			// it: only children of that organization.
			if a := g.ActiveOrganization(); a != "" && fieldID(m, "parent_id") != a {
				return privacy.Denyf("a request acting in organization %s creates only child organizations of it; send it without X-Organization-ID to create another organization", a)
			}
			if g.Platform(permission.PlatformOrganizationManage) {
				return privacy.Allow
			}
			a := g.Actor()
			if a.Kind() == actor.KindUser || (a.Kind() == actor.KindAPIKey && a.OrganizationID() == "" && a.HasScope(actor.ScopeAll)) {
				if err := parentRule(g, m, "creating a child of"); err != nil {
					return err
				}
				return privacy.Allow
			}
			return privacy.Denyf("only users create organizations")
		}),
		privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
			g, _ := authz.FromContext(ctx)
			if err := parentRule(g, m, "moving under"); err != nil {
				return err
			}
			return privacy.Skip
		}), opUpdate),
		onWrite(opUpdate, permission.OrganizationUpdate, func(_ context.Context, g *authz.Grants) entql.P {
			return inOrgs(g, "id", permission.OrganizationUpdate)
		}),
		onWrite(opDelete, permission.OrganizationDelete, func(_ context.Context, g *authz.Grants) entql.P {
			return inOrgs(g, "id", permission.OrganizationDelete)
		}),
	)
}

// parentRule refuses to place an organization under a parent in which the
// actor does not hold organization:update.
func parentRule(g *authz.Grants, m ent.Mutation, doing string) error {
	if parent := fieldID(m, "parent_id"); parent != "" {
		if ok, why := g.Can(permission.OrganizationUpdate, parent); !ok {
			return privacy.Denyf("%s %s: %s", doing, parent, why)
		}
	}
	return nil
}

// Membership: rosters are visible with member:read, one's own memberships
// always (a personal key needs the member:read scope); member:invite
// creates, member:update and role:assign update, member:remove deletes.
// Anyone may leave (delete its own membership): a personal key needs the
// member:remove scope (or *) for it. While the actor acts in one
// organization, its own memberships elsewhere are out of reach.
func Membership() ent.Policy {
	return policy(
		func(_ context.Context, g *authz.Grants) entql.P {
			return or(inOrgs(g, "organization_id", permission.MemberRead), selfIn(g, "user_id", "organization_id", permission.MemberRead))
		},
		onCreate(func(ctx context.Context, g *authz.Grants, m ent.Mutation) error {
			// Adding an existing user without their consent is a platform
			// act; organizations grow by invitation (package invitation,
			// whose acceptance writes the membership as the system).
			if !g.Platform(permission.PlatformUserManage) {
				return privacy.Denyf("adding a user to an organization directly needs %s: invite them instead (inviteMember)", permission.PlatformUserManage)
			}
			return privacy.Allow
		}),
		privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
			// Which permission an update needs depends on what it changes:
			// role edges need role:assign, anything else member:update.
			g, _ := authz.FromContext(ctx)
			var needs []string
			for _, f := range append(m.Fields(), m.ClearedFields()...) {
				if f != "updated_at" && !slices.Contains(needs, permission.MemberUpdate) {
					needs = append(needs, permission.MemberUpdate)
				}
			}
			for _, e := range append(append(m.AddedEdges(), m.RemovedEdges()...), m.ClearedEdges()...) {
				p := permission.MemberUpdate
				if e == "roles" {
					p = permission.RoleAssign
				}
				if !slices.Contains(needs, p) {
					needs = append(needs, p)
				}
			}
			for _, p := range needs {
				if err := restrict(ctx, m, inOrgs(g, "organization_id", p), p); err != nil {
					return err
				}
			}
			return privacy.Allow
		}), opUpdate),
		onWrite(opDelete, permission.MemberRemove, func(_ context.Context, g *authz.Grants) entql.P {
			return or(inOrgs(g, "organization_id", permission.MemberRemove), selfIn(g, "user_id", "organization_id", permission.MemberRemove))
		}),
	)
}

// Role: built-in roles are visible to everyone; custom roles with role:read.
// role:create, :update and :delete write custom roles.
func Role() ent.Policy {
	return policy(
		func(_ context.Context, g *authz.Grants) entql.P {
			return or(entql.FieldNil("organization_id"), inOrgs(g, "organization_id", permission.RoleRead))
		},
		onCreate(requireIn(permission.RoleCreate)),
		privacy.OnMutationOperation(privacy.MutationRuleFunc(func(_ context.Context, m ent.Mutation) error {
			if mx, ok := m.(interface{ ID() (pulid.ID, bool) }); ok {
				if id, ok := mx.ID(); ok && slices.ContainsFunc(permission.Builtins, func(b permission.Builtin) bool { return b.ID == id }) {
					return fmt.Errorf("%w: %w", privacy.Deny, authz.ErrBuiltinRole)
				}
			}
			return privacy.Skip
		}), ent.OpUpdateOne|ent.OpDeleteOne),
		onWrite(opUpdate, permission.RoleUpdate, func(_ context.Context, g *authz.Grants) entql.P {
			return inOrgs(g, "organization_id", permission.RoleUpdate)
		}),
		onWrite(opDelete, permission.RoleDelete, func(_ context.Context, g *authz.Grants) entql.P {
			return inOrgs(g, "organization_id", permission.RoleDelete)
		}),
	)
}

// selfFields are the fields of their own User row that users may change.
// The password is not among them: package session changes it after checking
// the current one (changePassword).
var selfFields = []string{"first_name", "last_name", "display_name", "avatar_url", "phone", "locale", "timezone", "metadata", "updated_at"}

// onlySelfFields reports whether m changes profile fields only.
func onlySelfFields(m ent.Mutation) bool {
	for _, f := range append(m.Fields(), m.ClearedFields()...) {
		if !slices.Contains(selfFields, f) {
			return false
		}
	}
	return true
}

// belowRank returns "platform_role below the actor's own": platform staff
// manage only users of a lower platform role (an admin never a fellow
// admin or a superadmin).
func belowRank(g *authz.Grants) entql.P {
	own := g.PlatformRole().Level()
	var roles []any
	for _, r := range []actor.PlatformRole{actor.PlatformNone, actor.PlatformSupport, actor.PlatformAdmin, actor.PlatformSuperadmin} {
		if r.Level() < own {
			roles = append(roles, string(r))
		}
	}
	if len(roles) == 0 {
		return nothing
	}
	return entql.FieldIn("platform_role", roles...)
}

// User: one's own row, and the users of organizations where the actor holds
// user:read. Users change their own profile; platform admins manage users;
// only superadmins grant platform roles.
func User() ent.Policy {
	return policy(
		func(_ context.Context, g *authz.Grants) entql.P {
			if g.Platform(permission.PlatformRead) {
				return nil
			}
			return or(self(g, "id", permission.UserRead), viaMemberships(g, permission.UserRead))
		},
		onCreate(func(_ context.Context, g *authz.Grants, m ent.Mutation) error {
			if !g.Platform(permission.PlatformUserManage) {
				return privacy.Denyf("creating users needs %s", permission.PlatformUserManage)
			}
			if v, ok := m.Field("platform_role"); ok && fmt.Sprint(v) != "none" {
				return privacy.Denyf("granting platform roles needs %s", permission.PlatformRoleGrant)
			}
			return privacy.Allow
		}),
		privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
			g, _ := authz.FromContext(ctx)
			if _, ok := m.Field("platform_role"); ok {
				return privacy.Denyf("granting platform roles needs %s", permission.PlatformRoleGrant)
			}
			if g.Platform(permission.PlatformUserManage) {
				// Superadmins passed before; staff act on lower ranks
				// only, and on their own profile like every user.
				reach := belowRank(g)
				if me := g.Self(actor.ScopeAll); me != "" && onlySelfFields(m) {
					reach = or(reach, entql.FieldEQ("id", string(me)))
				}
				if err := restrict(ctx, m, reach, permission.PlatformRoleGrant); err != nil {
					return err
				}
				return privacy.Allow
			}
			for _, f := range append(m.Fields(), m.ClearedFields()...) {
				if !slices.Contains(selfFields, f) {
					return privacy.Denyf("changing %s needs %s", f, permission.PlatformUserManage)
				}
			}
			me := g.Self(actor.ScopeAll)
			if me == "" {
				return privacy.Denyf("only the user may change their profile")
			}
			if err := restrict(ctx, m, entql.FieldEQ("id", string(me)), permission.PlatformUserManage); err != nil {
				return err
			}
			return privacy.Allow
		}), opUpdate),
		privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
			g, _ := authz.FromContext(ctx)
			if g.Platform(permission.PlatformUserManage) {
				if err := restrict(ctx, m, belowRank(g), permission.PlatformRoleGrant); err != nil {
					return err
				}
				return privacy.Allow
			}
			return privacy.Denyf("deleting users needs %s", permission.PlatformUserManage)
		}), opDelete),
	)
}

// viaMemberships returns "reached through path (a list of edges) and then
// the memberships edge, in an organization where the actor holds perm".
func viaMemberships(g *authz.Grants, perm string, path ...string) entql.P {
	p := inOrgs(g, "organization_id", perm)
	if p == nil || p == nothing {
		return p
	}
	p = entql.HasEdgeWith("memberships", p)
	for i := len(path) - 1; i >= 0; i-- {
		p = entql.HasEdgeWith(path[i], p)
	}
	return p
}

// OAuthAccount: users link, see and unlink their own accounts; admins with
// oauth_account:read see those of their members, and unlink with
// oauth_account:unlink.
func OAuthAccount() ent.Policy {
	memberOf := func(g *authz.Grants, perm string) entql.P {
		return viaMemberships(g, perm, "user")
	}
	return policy(
		func(_ context.Context, g *authz.Grants) entql.P {
			return or(self(g, "user_id", permission.OAuthAccountRead), memberOf(g, permission.OAuthAccountRead))
		},
		onCreate(requireSelf(actor.ScopeAll)),
		onWrite(opUpdate, "the account's owner", func(_ context.Context, g *authz.Grants) entql.P {
			return self(g, "user_id", actor.ScopeAll)
		}),
		onWrite(opDelete, permission.OAuthAccountUnlink, func(_ context.Context, g *authz.Grants) entql.P {
			return or(self(g, "user_id", permission.OAuthAccountUnlink), memberOf(g, permission.OAuthAccountUnlink))
		}),
	)
}

// APIKey: personal keys are their owner's; organization keys are read with
// api_key:read, created with api_key:create, revoked with api_key:revoke.
func APIKey() ent.Policy {
	personal := func(g *authz.Grants, scope string) entql.P {
		if me := g.Self(scope); me != "" {
			return entql.And(entql.FieldNil("organization_id"), entql.FieldEQ("user_id", string(me)))
		}
		return nothing
	}
	return policy(
		func(_ context.Context, g *authz.Grants) entql.P {
			return or(personal(g, permission.APIKeyRead), inOrgs(g, "organization_id", permission.APIKeyRead))
		},
		onCreate(func(ctx context.Context, g *authz.Grants, m ent.Mutation) error {
			scopes, _ := m.(*gen.APIKeyMutation).Scopes()
			if org := fieldID(m, "organization_id"); org != "" {
				if ok, why := g.Can(permission.APIKeyCreate, org); !ok {
					return privacy.Denyf("%s in organization %s: %s", permission.APIKeyCreate, org, why)
				}
				if fieldID(m, "user_id") != g.Actor().UserID() {
					return privacy.Denyf("organization keys are owned by their creator")
				}
				// An organization key holds no permission its creator lacks.
				for _, s := range scopes {
					if e, known := permission.Lookup(s); !known || e.Platform || !g.Allowed(s, org) {
						return fmt.Errorf("%w: %w: you do not hold %s in the organization", privacy.Deny, authz.ErrExceedsOwn, s)
					}
				}
				return privacy.Allow
			}
			if me := g.Self(permission.APIKeyCreate); me != "" && fieldID(m, "user_id") == me {
				// A personal key holds no scope the creating credential lacks.
				for _, s := range scopes {
					if (s != actor.ScopeAll && !permission.Known(s)) || !g.Actor().HasScope(s) {
						return fmt.Errorf("%w: %w: your credential does not hold %s", privacy.Deny, authz.ErrExceedsOwn, s)
					}
				}
				// Nor a scope its owner does not hold: it would be inert.
				if s, err := notHeld(ctx, m.(*gen.APIKeyMutation).Client(), g, me, scopes); err != nil {
					return err
				} else if s != "" {
					return fmt.Errorf("%w: %w: you do not hold %s", privacy.Deny, authz.ErrExceedsOwn, s)
				}
				return privacy.Allow
			}
			return privacy.Denyf("personal keys are created by their owner")
		}),
		onWrite(opUpdate|opDelete, permission.APIKeyRevoke, func(_ context.Context, g *authz.Grants) entql.P {
			return or(personal(g, permission.APIKeyRevoke), inOrgs(g, "organization_id", permission.APIKeyRevoke))
		}),
	)
}

// notHeld returns the first of scopes that user me (the owner of a personal
// key being created, with grants g) does not hold, or "". A platform
// permission must be granted by the user's stored platform role; an
// organization permission must be held in at least one of the user's
// active organizations, be covered by its platform role, or be a
// self-service permission (permission.SelfService), which every user holds
// on its own rows. The memberships are read without the narrowing of the
// creating credential (scopes, active organization).
func notHeld(ctx context.Context, c *gen.Client, g *authz.Grants, me pulid.ID, scopes []string) (string, error) {
	var held map[string]bool
	for _, s := range scopes {
		if s == actor.ScopeAll {
			continue
		}
		e, _ := permission.Lookup(s)
		if authz.PlatformCovers(g.PlatformRole(), s) {
			continue
		}
		if e.Platform {
			return s, nil
		}
		if permission.SelfService(s) {
			continue
		}
		if held == nil {
			ms, err := c.Membership.Query().Where(
				membership.UserID(me),
				membership.StatusEQ(membership.StatusActive),
				membership.HasOrganizationWith(organization.DeletedAtIsNil(), organization.StatusEQ(organization.StatusActive)),
			).WithRoles().All(system(ctx))
			if err != nil {
				return "", fmt.Errorf("rule: loading the key owner's memberships: %w", err)
			}
			held = map[string]bool{}
			for _, m := range ms {
				for _, r := range m.Edges.Roles {
					for _, p := range r.Permissions {
						held[p] = true
					}
					if r.FullDataAccess {
						for _, p := range permission.OrganizationReads() {
							held[p] = true
						}
					}
				}
			}
		}
		if !held[s] {
			return s, nil
		}
	}
	return "", nil
}

// RefreshToken: users see (scope session:read) and revoke (scope
// session:revoke) their sessions; session:read and session:revoke reach the
// sessions active in an organization. Opening a session needs the user
// itself (scope *). While the actor acts in one organization, its sessions
// active in other organizations are out of reach.
func RefreshToken() ent.Policy {
	return policy(
		func(_ context.Context, g *authz.Grants) entql.P {
			return or(selfIn(g, "user_id", "organization_id", permission.SessionRead), inOrgs(g, "organization_id", permission.SessionRead), impersonatedBy(g))
		},
		onCreate(func(ctx context.Context, g *authz.Grants, m ent.Mutation) error {
			// Users open their own sessions, active in one of their
			// organizations, continuing one of their own sessions.
			me := g.Self(actor.ScopeAll)
			if me == "" || fieldID(m, "user_id") != me {
				return privacy.Skip
			}
			if org := fieldID(m, "organization_id"); org != "" && g.In(org) == nil {
				return privacy.Denyf("a session is active in one of its user's organizations")
			}
			if fieldID(m, "impersonator_id") != g.Actor().Impersonator() {
				return privacy.Denyf("a refresh token names the impersonator of its session")
			}
			if family := fieldID(m, "family_id"); family != "" {
				q := m.(*gen.RefreshTokenMutation).Client().Session.Query().
					Where(entsession.ID(family), entsession.UserID(me), entsession.RevokedAtIsNil())
				if imp := g.Actor().Impersonator(); imp != "" {
					q.Where(entsession.ImpersonatorID(imp))
				} else {
					q.Where(entsession.ImpersonatorIDIsNil())
				}
				if a := g.ActiveOrganization(); a != "" {
					q.Where(entsession.Or(entsession.OrganizationIDIsNil(), entsession.OrganizationID(a)))
				}
				own, err := q.Exist(system(ctx))
				if err != nil {
					return err
				}
				if !own {
					return privacy.Denyf("a refresh token continues one of its user's live sessions")
				}
			}
			if parent := fieldID(m, "parent_id"); parent != "" {
				q := m.(*gen.RefreshTokenMutation).Client().RefreshToken.Query().
					Where(refreshtoken.ID(parent), refreshtoken.UserID(me))
				if a := g.ActiveOrganization(); a != "" {
					q.Where(refreshtoken.Or(refreshtoken.OrganizationIDIsNil(), refreshtoken.OrganizationID(a)))
				}
				own, err := q.Exist(system(ctx))
				if err != nil {
					return err
				}
				if !own {
					return privacy.Denyf("a session continues one of its user's sessions")
				}
			}
			return privacy.Allow
		}),
		onlyFields(opUpdate, "used_at", "revoked_at", "revoked_reason"),
		onWrite(opUpdate|opDelete, permission.SessionRevoke, func(_ context.Context, g *authz.Grants) entql.P {
			return or(selfIn(g, "user_id", "organization_id", permission.SessionRevoke), inOrgs(g, "organization_id", permission.SessionRevoke))
		}),
	)
}

// onlyFields denies, for ops, a mutation that sets any field but fields or
// clears any field: a session or refresh token is revoked (or used), never
// revived or extended, by anyone but the system (package session).
func onlyFields(ops ent.Op, fields ...string) privacy.MutationRule {
	return privacy.OnMutationOperation(privacy.MutationRuleFunc(func(_ context.Context, m ent.Mutation) error {
		for _, f := range m.Fields() {
			if !slices.Contains(fields, f) {
				return privacy.Denyf("%s of a %s is written by the sign-in flows only", f, m.Type())
			}
		}
		for _, f := range m.ClearedFields() {
			if f != "organization_id" {
				return privacy.Denyf("%s of a %s cannot be cleared", f, m.Type())
			}
		}
		return privacy.Skip
	}), ops)
}

// Activity: append-only for everyone, the system included. activity:read
// reads an organization's trail; users read what they did themselves (a
// personal key needs the activity:read scope), in the active organization
// only while they act in one.
// Entries are written by the audit hook of the schema.
func Activity() ent.Policy {
	deny := privacy.MutationRuleFunc(func(_ context.Context, m ent.Mutation) error {
		if m.Op().Is(opUpdate | opDelete) {
			return privacy.Denyf("%s is append-only", m.Type())
		}
		// Rows join their hash chain only through package trail (which
		// writes past this policy, see package bypass); a row created any
		// other way would have no place in a chain.
		return privacy.Denyf("activities are written by the trail only")
	})
	p := policy(func(_ context.Context, g *authz.Grants) entql.P {
		return or(inOrgs(g, "organization_id", permission.ActivityRead), selfIn(g, "actor_user_id", "organization_id", permission.ActivityRead))
	})
	pol := p.(privacy.Policy)
	pol.Mutation = append(privacy.MutationPolicy{allowIfOff(), DenyIfNoActor(), deny}, pol.Mutation...)
	return pol
}

// Preference: system preferences are readable by every actor and written
// by superadmins; organization preferences need preference:read/:write;
// user preferences are their user's.
func Preference() ent.Policy {
	scoped := func(g *authz.Grants, perm string) entql.P {
		ps := []entql.P{
			andP(entql.FieldEQ("scope", "organization"), inOrgs(g, "organization_id", perm)),
			andP(entql.FieldEQ("scope", "user"), self(g, "user_id", perm)),
		}
		if perm == permission.PreferenceWrite && g.Platform(permission.PlatformSettingsManage) {
			ps = append(ps, entql.FieldEQ("scope", "system"))
		}
		return or(ps...)
	}
	return policy(
		func(_ context.Context, g *authz.Grants) entql.P {
			return or(entql.FieldEQ("scope", "system"), scoped(g, permission.PreferenceRead))
		},
		onCreate(func(ctx context.Context, g *authz.Grants, m ent.Mutation) error {
			scope, _ := m.Field("scope")
			switch fmt.Sprint(scope) {
			case "organization":
				return requireIn(permission.PreferenceWrite)(ctx, g, m)
			case "user":
				if me := g.Self(permission.PreferenceWrite); me != "" && fieldID(m, "user_id") == me {
					return privacy.Allow
				}
			case "system":
				if g.Platform(permission.PlatformSettingsManage) {
					return privacy.Allow
				}
			}
			return privacy.Denyf("writing %v preferences is not allowed", scope)
		}),
		onWrite(opUpdate|opDelete, permission.PreferenceWrite, func(_ context.Context, g *authz.Grants) entql.P {
			return scoped(g, permission.PreferenceWrite)
		}),
	)
}

// andP is entql.And where a nil predicate means "everything".
func andP(x, y entql.P) entql.P {
	switch {
	case y == nil:
		return x
	case y == nothing:
		return nothing
	}
	return entql.And(x, y)
}

// Session: users see (scope session:read) and revoke (scope session:revoke)
// their own sessions; session:read and session:revoke reach the sessions
// active in an organization; platform staff reach every session through
// their platform role. Opening a session, and switching its active
// organization, is for the user itself (scope *), in one of its
// organizations. Sessions are revoked, never deleted.
func Session() ent.Policy {
	return policy(
		func(_ context.Context, g *authz.Grants) entql.P {
			return or(selfIn(g, "user_id", "organization_id", permission.SessionRead), inOrgs(g, "organization_id", permission.SessionRead), impersonatedBy(g))
		},
		onCreate(func(_ context.Context, g *authz.Grants, m ent.Mutation) error {
			me := g.Self(actor.ScopeAll)
			if me == "" || fieldID(m, "user_id") != me {
				return privacy.Denyf("users open their own sessions only")
			}
			if org := fieldID(m, "organization_id"); org != "" && g.In(org) == nil {
				return privacy.Denyf("a session is active in one of its user's organizations")
			}
			return privacy.Allow
		}),
		// Before the switch rule, which allows: a switch writes nothing else.
		onlyFields(opUpdate, "revoked_at", "revoked_reason", "organization_id"),
		privacy.OnMutationOperation(privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
			if _, ok := m.Field("organization_id"); !ok {
				if !slices.Contains(m.ClearedFields(), "organization_id") {
					return privacy.Skip
				}
			}
			g, _ := authz.FromContext(ctx)
			me := g.Self(actor.ScopeAll)
			if me == "" {
				return privacy.Denyf("only the session's user switches its organization")
			}
			if org := fieldID(m, "organization_id"); org != "" && g.In(org) == nil {
				return privacy.Denyf("a session is active in one of its user's organizations")
			}
			// Only the user's own sessions, and while it acts in one
			// organization only those of that organization (or of none).
			if err := restrict(ctx, m, selfIn(g, "user_id", "organization_id", actor.ScopeAll), permission.SessionRevoke); err != nil {
				return err
			}
			return privacy.Allow
		}), opUpdate),
		onWrite(opUpdate, permission.SessionRevoke, func(_ context.Context, g *authz.Grants) entql.P {
			return or(selfIn(g, "user_id", "organization_id", permission.SessionRevoke), inOrgs(g, "organization_id", permission.SessionRevoke), impersonatedBy(g))
		}),
	)
}

// impersonatedBy returns "an impersonation the actor runs": its
// impersonator sees and stops it.
func impersonatedBy(g *authz.Grants) entql.P {
	if me := g.Self(actor.ScopeAll); me != "" && g.Actor().Kind() == actor.KindUser {
		return entql.FieldEQ("impersonator_id", string(me))
	}
	return nothing
}

// impersonation checks the session m opens for impersonator imp: the
// acting user itself (me), holding platform:impersonate across
// organizations, not impersonated itself, on another user of a lower
// platform role, without an active organization. Package session checks
// the target's state and tells each refusal in its own error first.
func impersonation(ctx context.Context, g *authz.Grants, m *gen.SessionMutation, me, imp pulid.ID) error {
	switch {
	case me == "" || imp != me || g.Actor().Kind() != actor.KindUser:
		return privacy.Denyf("an impersonation is started by its impersonator, a signed-in user")
	case g.Actor().Impersonator() != "":
		return authz.Impersonated(ctx, "starting another impersonation")
	case fieldID(m, "user_id") == me:
		return privacy.Denyf("nobody impersonates themselves")
	case fieldID(m, "organization_id") != "":
		return privacy.Denyf("an impersonation starts without an active organization")
	}
	if ok, why := g.PlatformCan(permission.PlatformImpersonate); !ok {
		return privacy.Denyf("impersonation needs %s (%s)", permission.PlatformImpersonate, why)
	}
	target, err := m.Client().User.Query().Where(user.ID(fieldID(m, "user_id"))).Select(user.FieldPlatformRole).Only(system(ctx))
	if err != nil {
		return err
	}
	if r := actor.PlatformRole(target.PlatformRole); r.Level() >= g.PlatformRole().Level() {
		return privacy.Denyf("impersonating a user of platform role %s needs a higher one", r)
	}
	return privacy.Allow
}

// SigningKey: the keys that sign access tokens are read and written by the
// system only (package session); nobody else reaches them, through GraphQL
// or the client.
func SigningKey() ent.Policy { return SystemOnly() }
