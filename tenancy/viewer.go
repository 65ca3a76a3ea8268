package tenancy

import (
	"context"
	"sort"

	"github.com/cf/identity/authz"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
)

// Viewer describes the actor of a request: who it is, its organizations
// with its roles there, and its effective permissions. While the request
// acts in one organization (ActiveOrganizationID), Organizations holds that
// organization only and PlatformPermissions is empty: platform roles then
// count only as organization permissions there (PlatformRole still names
// the stored role).
type Viewer struct {
	Kind                 string
	UserID               pulid.ID
	APIKeyID             *pulid.ID
	ActiveOrganizationID *pulid.ID
	// SessionID is the session of an access token; ImpersonatorID the
	// user impersonating the viewer (actor.Impersonator).
	SessionID, ImpersonatorID *pulid.ID
	PlatformRole              string
	PlatformPermissions       []string
	Scopes                    []string
	Organizations             []*ViewerOrganization
}

// ViewerOrganization is the actor's standing in one organization.
type ViewerOrganization struct {
	OrganizationID pulid.ID
	MembershipID   pulid.ID
	RoleIDs        []pulid.ID
	Level          int
	Permissions    []*EffectivePermission
}

// EffectivePermission is a permission held and the roles granting it.
type EffectivePermission struct {
	Permission string
	GrantedBy  []string
}

// Decision answers a permission question with its reason.
type Decision struct {
	Allowed bool
	Reason  string
}

// ViewerOf returns the viewer of ctx.
func ViewerOf(ctx context.Context) (*Viewer, error) {
	g, ok := authz.FromContext(ctx)
	if !ok {
		return nil, authz.ErrNotLoaded
	}
	a := g.Actor()
	v := &Viewer{Kind: a.Kind().String(), UserID: a.UserID(), PlatformRole: string(g.PlatformRole()), Scopes: a.Scopes()}
	if id := a.APIKeyID(); id != "" {
		v.APIKeyID = &id
	}
	if id := a.ActiveOrganization(); id != "" {
		v.ActiveOrganizationID = &id
	}
	if id := a.SessionID(); id != "" {
		v.SessionID = &id
	}
	if id := a.Impersonator(); id != "" {
		v.ImpersonatorID = &id
	}
	for _, e := range permission.Catalog {
		if e.Platform && g.Platform(e.Name) {
			v.PlatformPermissions = append(v.PlatformPermissions, e.Name)
		}
	}
	for _, o := range g.Organizations() {
		vo := &ViewerOrganization{OrganizationID: o.OrganizationID, MembershipID: o.MembershipID, Level: o.Level}
		for _, r := range o.Roles {
			vo.RoleIDs = append(vo.RoleIDs, r.ID)
		}
		for _, p := range o.Permissions() {
			vo.Permissions = append(vo.Permissions, &EffectivePermission{Permission: p, GrantedBy: o.GrantedBy(p)})
		}
		v.Organizations = append(v.Organizations, vo)
	}
	sort.Slice(v.Organizations, func(i, j int) bool { return v.Organizations[i].OrganizationID < v.Organizations[j].OrganizationID })
	return v, nil
}

// PermissionsIn returns the effective permissions of the viewer of ctx in
// org, each with the roles (or platform role) that grant it.
func PermissionsIn(ctx context.Context, org pulid.ID) ([]*EffectivePermission, error) {
	g, ok := authz.FromContext(ctx)
	if !ok {
		return nil, authz.ErrNotLoaded
	}
	var out []*EffectivePermission
	for _, e := range permission.Catalog {
		if e.Platform {
			continue
		}
		ok, why := g.Can(e.Name, org)
		if !ok {
			continue
		}
		by := []string{why}
		if o := g.In(org); o != nil && len(o.GrantedBy(e.Name)) > 0 {
			by = o.GrantedBy(e.Name)
		}
		out = append(out, &EffectivePermission{Permission: e.Name, GrantedBy: by})
	}
	return out, nil
}

// Can answers whether the viewer of ctx holds perm in org, and why. A
// platform permission is answered for the platform (org is not looked at):
// no while the request acts in one organization, where platform roles count
// only as organization permissions of that organization.
func Can(ctx context.Context, perm string, org pulid.ID) (*Decision, error) {
	if !permission.Known(perm) {
		return &Decision{Allowed: false, Reason: "unknown permission " + perm}, nil
	}
	g, ok := authz.FromContext(ctx)
	if !ok {
		return nil, authz.ErrNotLoaded
	}
	if e, _ := permission.Lookup(perm); e.Platform {
		allowed, why := g.PlatformCan(perm)
		return &Decision{Allowed: allowed, Reason: why}, nil
	}
	allowed, why := g.Can(perm, org)
	return &Decision{Allowed: allowed, Reason: why}, nil
}
