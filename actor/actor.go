// Package actor describes who performs an operation on the identity model.
//
// Every context that reaches the ent client, GraphQL or the CLI carries an
// actor: a user, an API key, the system (with a named reason) or nobody. The
// privacy policies of the model read it from the context; a context without
// an actor is denied everywhere.
//
// A Go program in another module builds an actor with User, APIKey or System,
// puts it on a context with NewContext, and then uses the ent client as usual.
package actor

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/cf/identity/pulid"
)

// Kind says what sort of principal an actor is.
type Kind int

const (
	// KindUser is a signed-in user.
	KindUser Kind = iota + 1
	// KindAPIKey is a request authenticated by an API key.
	KindAPIKey
	// KindSystem is the process itself (migrations, bootstrap, jobs).
	KindSystem
)

func (k Kind) String() string {
	switch k {
	case KindUser:
		return "user"
	case KindAPIKey:
		return "api_key"
	case KindSystem:
		return "system"
	}
	return "unknown"
}

// PlatformRole is a role that spans organizations. The values match the
// platform_role column of cf_users.
type PlatformRole string

// Platform roles, weakest first.
const (
	PlatformNone       PlatformRole = "none"
	PlatformSupport    PlatformRole = "support"
	PlatformAdmin      PlatformRole = "admin"
	PlatformSuperadmin PlatformRole = "superadmin"
)

// Level orders platform roles: none < support < admin < superadmin.
func (r PlatformRole) Level() int {
	switch r {
	case PlatformSupport:
		return 1
	case PlatformAdmin:
		return 2
	case PlatformSuperadmin:
		return 3
	}
	return 0
}

// ScopeAll is the API key scope that grants everything its owner may do.
const ScopeAll = "*"

// Actor is the principal of a request. Build it with User, APIKey or System;
// the zero value is not a valid actor.
type Actor struct {
	kind           Kind
	userID         pulid.ID
	platformRole   PlatformRole
	apiKeyID       pulid.ID
	organizationID pulid.ID
	scopes         []string
	reason         string
	activeOrg      pulid.ID
	sessionID      pulid.ID
	impersonator   pulid.ID
	memo           *memo
}

type memo struct {
	mu     sync.Mutex
	values map[any]any
}

// User returns the actor of a signed-in user with the given platform role.
// The role is informative: policies use the role stored in cf_users.
func User(id pulid.ID, role PlatformRole) *Actor {
	return &Actor{kind: KindUser, userID: id, platformRole: role, memo: &memo{}}
}

// UserSession returns the actor of a user signed in through session sid
// (an access token of package session).
func UserSession(id pulid.ID, role PlatformRole, sid pulid.ID) *Actor {
	a := User(id, role)
	a.sessionID = sid
	return a
}

// SessionID returns the session of a signed-in user, or "" for actors that
// did not sign in with a session (API keys, the system, users built with
// User).
func (a *Actor) SessionID() pulid.ID {
	if a == nil {
		return ""
	}
	return a.sessionID
}

// ImpersonatedBy returns a copy of a, a user, acting for impersonator: it
// acts as the user, under the user's permissions, and everything it records
// names impersonator too. Package session builds it for the access tokens
// of an impersonation (their "act" claim). The policies refuse an
// impersonated actor what would take the account over: another
// impersonation, and changes of the user's password, email or credentials.
func (a *Actor) ImpersonatedBy(impersonator pulid.ID) *Actor {
	if a == nil {
		return nil
	}
	c := *a
	c.impersonator = impersonator
	c.memo = &memo{}
	return &c
}

// Impersonator returns the user who acts through this actor's session
// (the "act" claim of its access token), or "" when nobody impersonates.
func (a *Actor) Impersonator() pulid.ID {
	if a == nil {
		return ""
	}
	return a.impersonator
}

// APIKey returns the actor of a request authenticated by an API key. owner
// and role describe the user that owns the key; organization is the key's
// organization, empty for a personal key. The key acts with no more than its
// scopes allow.
func APIKey(key, owner pulid.ID, role PlatformRole, organization pulid.ID, scopes []string) *Actor {
	return &Actor{
		kind:           KindAPIKey,
		userID:         owner,
		platformRole:   role,
		apiKeyID:       key,
		organizationID: organization,
		scopes:         slices.Clone(scopes),
		activeOrg:      organization,
		memo:           &memo{},
	}
}

// System returns the actor of the process itself. The reason names the job
// ("migrate", "bootstrap", ...) and is recorded with what it does. System
// actors pass every policy: create them only in audited places.
func System(reason string) *Actor {
	if reason == "" {
		panic("actor: System needs a reason")
	}
	return &Actor{kind: KindSystem, reason: reason, memo: &memo{}}
}

// WithOrganization returns a copy of a whose active organization is org:
// organization-scoped permissions then apply in org only. An organization
// API key is always active in its own organization; asking for another one
// returns nil.
func (a *Actor) WithOrganization(org pulid.ID) *Actor {
	if a == nil {
		return nil
	}
	if a.kind == KindAPIKey && a.organizationID != "" && org != a.organizationID {
		return nil
	}
	c := *a
	c.activeOrg = org
	c.memo = &memo{}
	return &c
}

// ActiveOrganization returns the organization the actor acts in, or "" when
// it acts in all of its organizations.
func (a *Actor) ActiveOrganization() pulid.ID {
	if a == nil {
		return ""
	}
	return a.activeOrg
}

// Memo returns the value stored under key for this actor, computing it with
// load the first time. Package authz keeps the actor's resolved permissions
// here, so that they are loaded once per actor (once per request).
func (a *Actor) Memo(key any, load func() (any, error)) (any, error) {
	if a == nil || a.memo == nil {
		return load()
	}
	a.memo.mu.Lock()
	defer a.memo.mu.Unlock()
	if v, ok := a.memo.values[key]; ok {
		return v, nil
	}
	v, err := load()
	if err != nil {
		return nil, err
	}
	if a.memo.values == nil {
		a.memo.values = map[any]any{}
	}
	a.memo.values[key] = v
	return v, nil
}

// Forget drops the value memoized under key, so that the next Memo call
// loads it again (after the actor's memberships changed, say).
func (a *Actor) Forget(key any) {
	if a == nil || a.memo == nil {
		return
	}
	a.memo.mu.Lock()
	delete(a.memo.values, key)
	a.memo.mu.Unlock()
}

// Kind reports the kind of principal.
func (a *Actor) Kind() Kind { return a.kind }

// UserID returns the acting user (the owner, for an API key), or "".
func (a *Actor) UserID() pulid.ID { return a.userID }

// APIKeyID returns the API key of the request, or "".
func (a *Actor) APIKeyID() pulid.ID { return a.apiKeyID }

// OrganizationID returns the organization an organization API key belongs
// to, or "".
func (a *Actor) OrganizationID() pulid.ID { return a.organizationID }

// PlatformRole returns the platform role of the acting user.
func (a *Actor) PlatformRole() PlatformRole {
	if a.platformRole == "" {
		return PlatformNone
	}
	return a.platformRole
}

// Scopes returns a copy of the API key scopes; nil for other actors.
func (a *Actor) Scopes() []string { return slices.Clone(a.scopes) }

// Reason returns the reason of a system actor.
func (a *Actor) Reason() string { return a.reason }

// IsSystem reports whether a is the system actor.
func (a *Actor) IsSystem() bool { return a != nil && a.kind == KindSystem }

// HasScope reports whether the actor's credential allows scope. Users have
// every scope of their own; API keys have the scopes they were given, or all
// of them with ScopeAll.
func (a *Actor) HasScope(scope string) bool {
	if a == nil {
		return false
	}
	if a.kind != KindAPIKey {
		return true
	}
	return slices.Contains(a.scopes, ScopeAll) || slices.Contains(a.scopes, scope)
}

// IsSuperadmin reports whether the actor, as built, claims the full rights
// of a platform superadmin: a superadmin user, or a personal API key of a
// superadmin with the ScopeAll scope. The privacy policies do not trust this
// claim: package authz reads the platform role from the database.
func (a *Actor) IsSuperadmin() bool {
	if a == nil || a.PlatformRole() != PlatformSuperadmin {
		return false
	}
	switch a.kind {
	case KindUser:
		return true
	case KindAPIKey:
		return a.organizationID == "" && slices.Contains(a.scopes, ScopeAll)
	}
	return false
}

// String describes the actor for logs, never including secrets.
func (a *Actor) String() string {
	if a == nil {
		return "nobody"
	}
	switch a.kind {
	case KindUser:
		if a.impersonator != "" {
			return fmt.Sprintf("user:%s(impersonated by %s)", a.userID, a.impersonator)
		}
		return fmt.Sprintf("user:%s", a.userID)
	case KindAPIKey:
		return fmt.Sprintf("api_key:%s(owner %s)", a.apiKeyID, a.userID)
	case KindSystem:
		return fmt.Sprintf("system:%s", a.reason)
	}
	return "unknown"
}

type ctxKey struct{}

// NewContext returns a copy of parent that carries a.
func NewContext(parent context.Context, a *Actor) context.Context {
	return context.WithValue(parent, ctxKey{}, a)
}

// FromContext returns the actor of ctx, or nil when there is none.
func FromContext(ctx context.Context) *Actor {
	a, _ := ctx.Value(ctxKey{}).(*Actor)
	return a
}
