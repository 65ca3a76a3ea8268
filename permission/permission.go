// Package permission is the catalog of permissions of cf identity and the
// definition of the built-in organization roles.
//
// A permission is a "resource:action" string. Organization roles grant
// permissions inside one organization; platform roles (support, admin,
// superadmin) grant platform permissions across organizations.
package permission

import (
	"slices"
	"strings"

	"github.com/cf/identity/pulid"
)

// Organization permissions.
const (
	OrganizationRead   = "organization:read"
	OrganizationUpdate = "organization:update"
	OrganizationDelete = "organization:delete"

	MemberRead   = "member:read"
	MemberInvite = "member:invite"
	MemberUpdate = "member:update"
	MemberRemove = "member:remove"

	RoleRead   = "role:read"
	RoleCreate = "role:create"
	RoleUpdate = "role:update"
	RoleDelete = "role:delete"
	RoleAssign = "role:assign"

	APIKeyRead   = "api_key:read"
	APIKeyCreate = "api_key:create"
	APIKeyRevoke = "api_key:revoke"

	SessionRead   = "session:read"
	SessionRevoke = "session:revoke"

	OAuthAccountRead   = "oauth_account:read"
	OAuthAccountUnlink = "oauth_account:unlink"

	ActivityRead = "activity:read"

	PreferenceRead  = "preference:read"
	PreferenceWrite = "preference:write"

	UserRead = "user:read"
)

// Platform permissions, held through platform roles only.
const (
	PlatformUserManage         = "platform:user_manage"
	PlatformOrganizationManage = "platform:organization_manage"
	PlatformRoleGrant          = "platform:role_grant"
	PlatformRead               = "platform:read"
	PlatformImpersonate        = "platform:impersonate"
	PlatformStatsRead          = "platform:stats_read"
	PlatformSettingsManage     = "platform:settings_manage"
)

// Entry describes one permission of the catalog.
type Entry struct {
	Name        string
	Description string
	Platform    bool
}

// Catalog lists every permission, organization permissions first.
var Catalog = []Entry{
	{OrganizationRead, "See the organization's profile and settings.", false},
	{OrganizationUpdate, "Change the organization's name, slug, plan and metadata.", false},
	{OrganizationDelete, "Delete the organization.", false},
	{MemberRead, "List members and their roles.", false},
	{MemberInvite, "Invite members, resend and revoke invitations, read the organization's invitations.", false},
	{MemberUpdate, "Change a member's status, title, department and manager.", false},
	{MemberRemove, "Remove members.", false},
	{RoleRead, "List roles and their permissions.", false},
	{RoleCreate, "Create custom roles.", false},
	{RoleUpdate, "Edit custom roles.", false},
	{RoleDelete, "Delete custom roles.", false},
	{RoleAssign, "Assign and unassign roles to members.", false},
	{APIKeyRead, "List the organization's API keys.", false},
	{APIKeyCreate, "Create organization API keys.", false},
	{APIKeyRevoke, "Revoke organization API keys.", false},
	{SessionRead, "List members' sessions.", false},
	{SessionRevoke, "Revoke members' sessions.", false},
	{OAuthAccountRead, "See members' linked OAuth accounts.", false},
	{OAuthAccountUnlink, "Unlink members' OAuth accounts.", false},
	{ActivityRead, "Read the organization's activity trail.", false},
	{PreferenceRead, "Read organization preferences.", false},
	{PreferenceWrite, "Change organization preferences.", false},
	{UserRead, "See the profiles of the organization's members.", false},
	{PlatformRead, "Read every organization and user (support).", true},
	{PlatformStatsRead, "Read platform statistics.", true},
	{PlatformUserManage, "Create, update, ban and delete any user.", true},
	{PlatformOrganizationManage, "Create, update and delete any organization.", true},
	{PlatformSettingsManage, "Switch self-service flows (signup, invitations, password reset) on and off, and write system preferences.", true},
	{PlatformImpersonate, "Act as another user, recorded as impersonation.", true},
	{PlatformRoleGrant, "Grant and revoke platform roles.", true},
}

// Lookup returns the catalog entry of p.
func Lookup(p string) (Entry, bool) {
	i := slices.IndexFunc(Catalog, func(e Entry) bool { return e.Name == p })
	if i < 0 {
		return Entry{}, false
	}
	return Catalog[i], true
}

// Known reports whether p is in the catalog.
func Known(p string) bool {
	_, ok := Lookup(p)
	return ok
}

// selfService lists the organization permissions that, besides what they
// grant in an organization, name an action every user may take on its own
// rows; a personal API key needs the permission as a scope (or *) for it:
//
//	member:read          list one's own memberships
//	member:remove        leave an organization (delete one's own membership)
//	user:read            read one's own user row
//	api_key:read         list one's own personal keys
//	api_key:create       create personal keys
//	api_key:revoke       revoke one's own personal keys
//	session:read         list one's own sessions
//	session:revoke       revoke one's own sessions
//	oauth_account:read   list one's own linked OAuth accounts
//	oauth_account:unlink unlink one's own OAuth accounts
//	activity:read        read what one did oneself
//	preference:read      read one's own user preferences
//	preference:write     change one's own user preferences
//
// Actions on oneself that no permission names (changing one's profile,
// linking an OAuth account, opening a session, creating an organization)
// need the * scope.
var selfService = []string{
	MemberRead, MemberRemove, UserRead, APIKeyRead, APIKeyCreate, APIKeyRevoke,
	SessionRead, SessionRevoke, OAuthAccountRead, OAuthAccountUnlink, ActivityRead,
	PreferenceRead, PreferenceWrite,
}

// SelfService reports whether organization permission p also names an
// action every user may take on its own rows (see the list above). Every
// user holds these on itself, so a personal key may carry them as scopes
// whatever its owner holds in organizations.
func SelfService(p string) bool { return slices.Contains(selfService, p) }

// OrganizationReads returns the organization permissions that only read
// (resource:read): what a role with full data access holds.
func OrganizationReads() []string {
	var ps []string
	for _, e := range Catalog {
		if !e.Platform && strings.HasSuffix(e.Name, ":read") {
			ps = append(ps, e.Name)
		}
	}
	return ps
}

// Fixed IDs of the built-in roles. They are the same in every database.
const (
	OwnerRoleID  pulid.ID = "rol_00000000000000000000000001"
	AdminRoleID  pulid.ID = "rol_00000000000000000000000002"
	MemberRoleID pulid.ID = "rol_00000000000000000000000003"
	ViewerRoleID pulid.ID = "rol_00000000000000000000000004"
)

// Builtin describes a built-in organization role.
type Builtin struct {
	ID             pulid.ID
	Key            string
	Name           string
	Description    string
	Level          int
	FullDataAccess bool
	Permissions    []string
}

func orgPermissions(except ...string) []string {
	var ps []string
	for _, e := range Catalog {
		if !e.Platform && !slices.Contains(except, e.Name) {
			ps = append(ps, e.Name)
		}
	}
	return ps
}

// Builtins lists the built-in roles, highest level first.
var Builtins = []Builtin{
	{
		ID: OwnerRoleID, Key: "owner", Name: "Owner", Level: 100, FullDataAccess: true,
		Description: "Full control of the organization, including deleting it.",
		Permissions: orgPermissions(),
	},
	{
		ID: AdminRoleID, Key: "admin", Name: "Admin", Level: 80, FullDataAccess: true,
		Description: "Manages members, roles, keys and settings; cannot delete the organization.",
		Permissions: orgPermissions(OrganizationDelete),
	},
	{
		ID: MemberRoleID, Key: "member", Name: "Member", Level: 50,
		Description: "Works in the organization and sees its members.",
		Permissions: []string{OrganizationRead, MemberRead, RoleRead, UserRead, PreferenceRead},
	},
	{
		ID: ViewerRoleID, Key: "viewer", Name: "Viewer", Level: 10,
		Description: "Read-only access to the organization's profile.",
		Permissions: []string{OrganizationRead, MemberRead},
	},
}

// Platform returns the platform permissions of a platform role: support
// reads, admin also manages users and organizations, superadmin holds every
// platform permission.
func Platform(role string) []string {
	support := []string{PlatformRead, PlatformStatsRead}
	admin := append(slices.Clone(support), PlatformUserManage, PlatformOrganizationManage, PlatformSettingsManage)
	switch role {
	case "support":
		return support
	case "admin":
		return admin
	case "superadmin":
		return append(admin, PlatformImpersonate, PlatformRoleGrant)
	}
	return nil
}
