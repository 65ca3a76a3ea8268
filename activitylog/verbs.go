package activitylog

import "strings"

// Verb describes one verb of the activity trail.
type Verb struct {
	Name        string
	Description string
}

// Verbs is the catalog of the domain verbs the module records, by object.
// Writes no domain flow names are recorded with a generic verb (see
// GenericVerb). The README lists this catalog; a test keeps the two, and
// the verbs used in the code, in step.
var Verbs = []Verb{
	{"user.created", "A user was created (by an admin, the CLI, or an invitation's acceptance)."},
	{"user.signed_up", "A user signed up (self-service signup)."},
	{"user.activated", "A pending user became active."},
	{"user.suspended", "A user was suspended."},
	{"user.reactivated", "A suspended or disabled user became active again."},
	{"user.disabled", "A user was disabled."},
	{"user.archived", "A user was archived."},
	{"user.status_changed", "A user's status changed in a way no verb above names."},
	{"user.banned", "A user was banned, with a reason and an optional expiry."},
	{"user.unbanned", "A ban was lifted."},
	{"user.platform_role_granted", "A platform role was granted."},
	{"user.platform_role_revoked", "A platform role was revoked."},
	{"user.login_failed", "A sign-in failed (wrong password, unknown account: no account is named)."},
	{"user.login_refused", "A sign-in with the right password was refused (suspended, banned, locked)."},
	{"user.locked", "A user was locked out after failed sign-ins."},
	{"user.unlocked", "A lockout was cleared by an admin."},
	{"user.password_set", "An admin set a user's password."},
	{"user.password_changed", "A user changed their password."},
	{"user.password_reset_requested", "A password reset link was mailed."},
	{"user.password_reset", "A password was reset with a mailed link."},
	{"user.email_verification_requested", "A verification link was mailed."},
	{"user.email_verified", "A user proved their email address."},
	{"user.email_change_requested", "A link to confirm a new address was mailed."},
	{"user.email_changed", "A user's email address changed (after verification)."},
	{"user.impersonation_started", "A platform user started impersonating a user."},
	{"user.impersonation_stopped", "An impersonation ended."},
	{"session.created", "A user signed in: a session started."},
	{"session.refreshed", "A refresh token was exchanged for new tokens."},
	{"session.organization_switched", "A session's active organization changed."},
	{"session.revoked", "A session was revoked (sign-out, admin, suspension, password reset)."},
	{"session.reuse_detected", "A used refresh token was presented again: its session was revoked."},
	{"organization.created", "An organization was created (its creator becomes owner)."},
	{"member.invited", "Someone was invited into an organization."},
	{"member.joined", "An invitation was accepted: a membership started."},
	{"member.updated", "A member's title, department or manager changed."},
	{"member.suspended", "A member was suspended in an organization."},
	{"member.reactivated", "A suspended member became active again."},
	{"role.assigned", "A role was given to a member (data: the member's roles before and after)."},
	{"role.unassigned", "A role was taken from a member (data: the roles before and after)."},
	{"invitation.resent", "An invitation was mailed again with a new link."},
	{"invitation.revoked", "An invitation was revoked."},
	{"invitation.accepted", "An invitation was accepted."},
	{"invitation.expired", "An invitation passed its expiry."},
	{"oauth_account.linked", "An OAuth provider account was linked to a user."},
	{"oauth_account.unlinked", "An OAuth provider account was unlinked."},
	{"preference.set", "A preference was set at a level (data: old and new value)."},
	{"preference.deleted", "A preference was deleted at a level (data: the old value)."},
	{"feature.enabled", "A self-service flow was switched on at run time."},
	{"feature.disabled", "A self-service flow was switched off at run time."},
	{"feature.reset", "A flow's run-time switch was removed: the configuration decides again."},
	{"keys.resealed", "Stored secrets were re-sealed under the current master key."},
	{"activity.pruned", "The retention job deleted a chain's old activities."},
}

// GenericObjects are the objects whose writes no flow names are recorded
// as OBJECT.created, OBJECT.updated or OBJECT.deleted, with the changed
// fields and their old and new values.
var GenericObjects = []string{
	"api_key", "invitation", "membership", "oauth_account", "organization", "preference",
	"refresh_token", "role", "session", "signing_key", "user", "user_token",
}

// KnownVerb reports whether name is in the catalog or a generic verb.
func KnownVerb(name string) bool {
	for _, v := range Verbs {
		if v.Name == name {
			return true
		}
	}
	return GenericVerb(name)
}

// GenericVerb reports whether name is OBJECT.created, .updated or .deleted
// of one of GenericObjects.
func GenericVerb(name string) bool {
	object, action, ok := strings.Cut(name, ".")
	if !ok || action != "created" && action != "updated" && action != "deleted" {
		return false
	}
	for _, o := range GenericObjects {
		if o == object {
			return true
		}
	}
	return false
}
