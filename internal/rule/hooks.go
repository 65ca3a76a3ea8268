package rule

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	gen "github.com/cf/identity/ent"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/organization"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/role"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/tenancy"
	"github.com/cf/identity/validation"
)

func system(ctx context.Context) context.Context {
	return actor.NewContext(ctx, actor.System("policy check"))
}

// RoleGuard keeps built-in roles immutable and their keys reserved (a
// custom role with the key of a built-in one is refused with a
// *validation.Error on "key"), refuses deleting a role that is still
// assigned, and keeps a role's level and permissions within what its
// author holds in the organization.
//
// In a transaction it locks the custom roles it reads (PostgreSQL: SELECT
// ... FOR UPDATE) before checking their level and holders, so that the
// check and the write see the same rows; an assignment running at the same
// time waits for the deletion or makes it fail with authz.ErrRoleInUse.
// Deleting a role outside a transaction is refused with authz.ErrNeedsTx.
// A deadlock or lock failure is returned wrapped with
// authz.ErrConcurrentUpdate.
func RoleGuard() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			rm, ok := m.(*gen.RoleMutation)
			if !ok {
				return nil, fmt.Errorf("rule: unexpected mutation %T", m)
			}
			if err := guardRole(ctx, rm); err != nil {
				return nil, authz.Concurrent(err)
			}
			v, err := next.Mutate(ctx, m)
			return v, authz.Concurrent(err)
		})
	}
}

func guardRole(ctx context.Context, rm *gen.RoleMutation) error {
	if key, ok := rm.Key(); ok && slices.ContainsFunc(permission.Builtins, func(b permission.Builtin) bool { return strings.EqualFold(b.Key, key) }) {
		return validation.Errorf("key", "%q is the key of a built-in role; choose another key", key)
	}
	sys := system(ctx)
	c := rm.Client()
	tx := inTx(rm)
	isSystem := actor.FromContext(ctx).IsSystem()
	g, _ := authz.FromContext(ctx)
	var org pulid.ID
	if rm.Op().Is(ent.OpCreate) {
		if id, ok := rm.OrganizationID(); ok {
			org = id
		}
	} else {
		// The roles the write reaches: a bulk write's predicates
		// carry the policy filter; a write of one role by ID does
		// not, so roles out of the actor's reach are left to the
		// policy (which makes the write a not-found) and never
		// described in an error.
		ids, err := rm.IDs(sys)
		if err != nil {
			return err
		}
		if tx {
			// Lock the custom roles first (built-in ones are
			// refused below and never locked), in ID order.
			slices.Sort(ids)
			if _, err := c.Role.Query().Where(role.IDIn(ids...), role.OrganizationIDNotNil(), lockPG(sql.LockUpdate)).
				Order(role.ByID()).IDs(sys); err != nil {
				return err
			}
		}
		rs, err := c.Role.Query().Where(role.IDIn(ids...)).All(sys)
		if err != nil {
			return err
		}
		perm := permission.RoleUpdate
		if rm.Op().Is(ent.OpDelete | ent.OpDeleteOne) {
			perm = permission.RoleDelete
		}
		var reached []pulid.ID
		for _, r := range rs {
			if r.System || r.OrganizationID == nil {
				return fmt.Errorf("%w: %s", authz.ErrBuiltinRole, r.Key)
			}
			if !isSystem && (g == nil || !g.Allowed(perm, *r.OrganizationID)) {
				continue
			}
			if !isSystem && r.Level > g.Level(*r.OrganizationID) {
				return fmt.Errorf("%w: role %s has level %d", authz.ErrAboveLevel, r.Key, r.Level)
			}
			org = *r.OrganizationID
			reached = append(reached, r.ID)
		}
		if rm.Op().Is(ent.OpDelete|ent.OpDeleteOne) && len(reached) > 0 {
			n, err := c.Membership.Query().Where(membership.HasRolesWith(role.IDIn(reached...))).Count(sys)
			if err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%w: %d member(s) hold it; unassign it first", authz.ErrRoleInUse, n)
			}
			if !tx {
				// Nobody holds it now, but without the lock an
				// assignment may commit before the deletion,
				// which would then drop it silently.
				return fmt.Errorf("%w: deleting a role", authz.ErrNeedsTx)
			}
		}
	}
	if g != nil && !isSystem && org != "" {
		if lvl, ok := rm.Level(); ok && lvl > g.Level(org) {
			return fmt.Errorf("%w: level %d is above yours (%d)", authz.ErrAboveLevel, lvl, g.Level(org))
		}
		if full, ok := rm.FullDataAccess(); ok && full {
			for _, p := range permission.OrganizationReads() {
				if !g.Allowed(p, org) {
					return fmt.Errorf("%w: full data access needs every read permission; you lack %s", authz.ErrExceedsOwn, p)
				}
			}
		}
		if ps, ok := rm.Permissions(); ok {
			for _, p := range ps {
				e, known := permission.Lookup(p)
				if !known {
					return fmt.Errorf("%w: unknown permission %q", authz.ErrExceedsOwn, p)
				}
				if e.Platform {
					return fmt.Errorf("%w: %s is a platform permission", authz.ErrExceedsOwn, p)
				}
				if !g.Allowed(p, org) {
					return fmt.Errorf("%w: you do not hold %s", authz.ErrExceedsOwn, p)
				}
			}
		}
	}
	return nil
}

// MembershipGuard checks role assignments (roles of the same organization
// or built-in, not above the actor's level), keeps at least one role on
// every member, keeps actors from acting on members above their level, and
// keeps an active owner in every organization.
//
// For every writer, the system included, it also keeps statuses on the
// graph of package tenancy (a new membership starts invited or active;
// then invited to active, active to suspended, suspended to active; a
// *tenancy.MemberTransitionError otherwise), and keeps managers sound: a
// manager is a member of the same organization (tenancy.ErrForeignManager)
// and managers never loop (tenancy.ErrManagerCycle: a member is not their
// own manager, nor does their manager report to them through the chain),
// both wrapped in a *validation.Error for managerID. Reports are not added
// through a manager's "reports" edge (a *validation.Error for reportIDs):
// set the manager of each report instead.
//
// The checks read rows that concurrent writers change, so in a transaction
// the guard locks what it reads before reading it, always in this order
// (PostgreSQL; SQLite runs one writer at a time): the memberships written
// (FOR NO KEY UPDATE, in ID order: it keeps other writers of them out, but
// not a write elsewhere that only refers to them, such as naming one as a
// manager), the roles being added (FOR SHARE, so that they are not deleted
// before the write commits), then the organizations: when a manager is set
// (FOR NO KEY UPDATE) and when an owner is about to lose ownership (FOR
// UPDATE). Two requests on the same member therefore run one after the
// other, and the second sees what the first committed. Manager changes in
// one organization run one after the other too, each walking the chain of
// managers that the previous one committed, so that two writes closing a
// loop from both ends (A's manager B, B's manager A) cannot both commit:
// the second is refused with tenancy.ErrManagerCycle. Outside a
// transaction a lock ends with its statement and that guarantee does not
// hold: set managers in a transaction (package tenancy and the GraphQL API
// always do).
//
// A Go caller using the ent client directly must run in a transaction
// (client.Tx) any write that removes or clears a member's roles, or that
// takes ownership away (removing, suspending or demoting an owner):
// outside one, such a write is refused with authz.ErrNeedsTx once its
// checks pass, because a lock would end with the statement that took it.
// Other membership writes need no transaction. A deadlock or lock failure
// (PostgreSQL) is returned wrapped with authz.ErrConcurrentUpdate: the
// transaction must be rolled back and may be retried.
func MembershipGuard() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			mm, ok := m.(*gen.MembershipMutation)
			if !ok {
				return nil, fmt.Errorf("rule: unexpected mutation %T", m)
			}
			if err := guardMembership(ctx, mm); err != nil {
				return nil, authz.Concurrent(err)
			}
			v, err := next.Mutate(ctx, m)
			return v, authz.Concurrent(err)
		})
	}
}

func guardMembership(ctx context.Context, m *gen.MembershipMutation) error {
	sys := system(ctx)
	c := m.Client()
	tx := inTx(m)
	g, _ := authz.FromContext(ctx)
	isSystem := actor.FromContext(ctx).IsSystem() || bypassed(ctx)

	// The memberships the mutation touches, with their current roles. A
	// bulk write's predicates carry the policy filter; a write of one
	// membership by ID does not, so memberships out of the actor's reach
	// are left to the policy (which makes the write a not-found) and are
	// never checked nor described in an error.
	var targets []*gen.Membership
	if !m.Op().Is(ent.OpCreate) {
		ids, err := m.IDs(sys)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if tx {
			slices.Sort(ids)
			if _, err := c.Membership.Query().Where(membership.IDIn(ids...), lockPG(sql.LockNoKeyUpdate)).
				Order(membership.ByID()).IDs(sys); err != nil {
				return err
			}
		}
		all, err := c.Membership.Query().Where(membership.IDIn(ids...)).WithRoles().All(sys)
		if err != nil {
			return err
		}
		for _, t := range all {
			if isSystem || reaches(g, m.Op(), t) {
				targets = append(targets, t)
			}
		}
		if len(targets) == 0 {
			return nil
		}
	}
	orgs := map[pulid.ID]bool{}
	if id, ok := m.OrganizationID(); ok {
		orgs[id] = true
	}
	for _, t := range targets {
		orgs[t.OrganizationID] = true
	}

	if err := checkAddedRoles(sys, c, g, tx, isSystem, m.RolesIDs(), orgs); err != nil {
		return err
	}
	// A manager is a member of the same organization, and managers never
	// form a loop.
	if mgr, ok := m.ManagerID(); ok {
		for org := range orgs {
			same, err := c.Membership.Query().Where(membership.ID(mgr), membership.OrganizationID(org)).Exist(sys)
			if err != nil {
				return err
			}
			if !same {
				return validation.Wrap("managerID", tenancy.ErrForeignManager)
			}
		}
		if !m.Op().Is(ent.OpCreate) {
			// A new membership has no reports yet: only an update can
			// close a loop.
			ids := make([]pulid.ID, len(targets))
			for i, t := range targets {
				ids[i] = t.ID
			}
			if tx {
				// Manager changes in an organization run one after
				// the other, each walking what the previous one
				// committed. NO KEY UPDATE leaves inserts that refer
				// to the organization (activities, sessions) free.
				org := make([]pulid.ID, 0, len(orgs))
				for id := range orgs {
					org = append(org, id)
				}
				slices.Sort(org)
				if _, err := c.Organization.Query().Where(organization.IDIn(org...), lockPG(sql.LockNoKeyUpdate)).
					Order(organization.ByID()).IDs(sys); err != nil {
					return err
				}
			}
			if err := managerChain(sys, c, mgr, ids); err != nil {
				return err
			}
		}
	}
	// Reports are attached by setting their manager, so that each of them
	// goes through the checks above.
	if len(m.ReportsIDs()) > 0 {
		return validation.Errorf("reportIDs", "reports cannot be added to a manager; set the managerID of each report instead")
	}
	// Statuses move along the graph of package tenancy.
	if to, ok := m.Status(); ok {
		if m.Op().Is(ent.OpCreate) {
			if !slices.Contains(tenancy.CreatableMemberStatuses, to) {
				return &tenancy.MemberTransitionError{To: to}
			}
		} else {
			for _, t := range targets {
				if !tenancy.MemberTransitionAllowed(t.Status, to) {
					return &tenancy.MemberTransitionError{From: t.Status, To: to}
				}
			}
		}
	}
	if m.Op().Is(ent.OpCreate) {
		return nil
	}

	// A member keeps at least one role.
	keepsRole := !isSystem && !m.Op().Is(ent.OpDelete|ent.OpDeleteOne) && (m.RolesCleared() || len(m.RemovedRolesIDs()) > 0)
	if keepsRole {
		for _, t := range targets {
			left := len(m.RolesIDs())
			if !m.RolesCleared() {
				for _, r := range t.Edges.Roles {
					if !slices.Contains(m.RemovedRolesIDs(), r.ID) && !slices.Contains(m.RolesIDs(), r.ID) {
						left++
					}
				}
			}
			if left == 0 {
				return validation.Errorf("roleIDs", "a member keeps at least one role; assign another role first or remove the member")
			}
		}
	}

	// Nobody acts on a member above their own level (leaving excepted).
	if !isSystem && g != nil {
		for _, t := range targets {
			if m.Op().Is(ent.OpDelete|ent.OpDeleteOne) && t.UserID == g.UserID() {
				continue
			}
			for _, r := range t.Edges.Roles {
				if r.Level > g.Level(t.OrganizationID) {
					return fmt.Errorf("%w: the member holds %s", authz.ErrAboveLevel, r.Key)
				}
			}
		}
	}

	// Keep an active owner in every organization.
	var losing []pulid.ID
	lostOrgs := map[pulid.ID]bool{}
	for _, t := range targets {
		if !holdsOwner(t) {
			continue
		}
		if losesOwner(m) {
			losing = append(losing, t.ID)
			lostOrgs[t.OrganizationID] = true
		}
	}
	if len(losing) == 0 {
		if keepsRole && !tx {
			return fmt.Errorf("%w: removing roles from a member", authz.ErrNeedsTx)
		}
		return nil
	}
	org := make([]pulid.ID, 0, len(lostOrgs))
	for id := range lostOrgs {
		org = append(org, id)
	}
	slices.Sort(org)
	// Lock the organizations, so that concurrent removals of owners are
	// counted one after the other.
	if _, err := c.Organization.Query().Where(organization.IDIn(org...), lockPG(sql.LockUpdate)).
		Order(organization.ByID()).IDs(sys); err != nil {
		return err
	}
	for _, id := range org {
		n, err := c.Membership.Query().Where(
			membership.OrganizationID(id),
			membership.StatusEQ(membership.StatusActive),
			membership.HasRolesWith(role.ID(permission.OwnerRoleID)),
			membership.IDNotIn(losing...),
		).Count(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("%w: the change would leave organization %s without one", authz.ErrLastOwner, id)
		}
	}
	if !tx {
		return fmt.Errorf("%w: taking ownership away", authz.ErrNeedsTx)
	}
	return nil
}

// managerChain refuses making mgr the manager of the memberships members
// when that closes a loop: mgr is one of them, or reports to one of them
// through its chain of managers. It walks the chain up from mgr, one
// statement per level, and refuses a chain of more than
// tenancy.MaxManagerDepth managers above mgr. The caller holds the lock of
// the organization, so that no other manager change of the organization
// commits between the walk and the write.
func managerChain(ctx context.Context, c *gen.Client, mgr pulid.ID, members []pulid.ID) error {
	if slices.Contains(members, mgr) {
		return validation.Wrap("managerID", fmt.Errorf("%w: a member cannot be their own manager", tenancy.ErrManagerCycle))
	}
	cur := mgr
	for above := 1; ; above++ {
		row, err := c.Membership.Query().Where(membership.ID(cur)).Select(membership.FieldManagerID).Only(ctx)
		if gen.IsNotFound(err) {
			// Deleted meanwhile: its reports no longer have a manager.
			return nil
		}
		if err != nil {
			return err
		}
		if row.ManagerID == nil {
			return nil
		}
		// *row.ManagerID is the above-th manager above mgr.
		if slices.Contains(members, *row.ManagerID) {
			how := "directly"
			if above > 1 {
				how = fmt.Sprintf("through %d other manager(s)", above-1)
			}
			return validation.Wrap("managerID", fmt.Errorf("%w: %s already reports to this member, %s", tenancy.ErrManagerCycle, mgr, how))
		}
		if above > tenancy.MaxManagerDepth {
			return validation.Wrap("managerID", fmt.Errorf("%w: %s has more than %d managers above it", tenancy.ErrManagerChainTooLong, mgr, tenancy.MaxManagerDepth))
		}
		cur = *row.ManagerID
	}
}

// bypassed reports whether ctx carries the allow decision of package
// bypass (the creator-owner membership of a new organization).
func bypassed(ctx context.Context) bool {
	d, ok := privacy.DecisionFromContext(ctx)
	return ok && d == nil // an Allow decision reads back as nil
}

// reaches reports whether the write policy of Membership lets the actor
// change t with op (the same permissions as its filters).
func reaches(g *authz.Grants, op ent.Op, t *gen.Membership) bool {
	if g == nil {
		return false
	}
	if op.Is(ent.OpDelete | ent.OpDeleteOne) {
		return g.Allowed(permission.MemberRemove, t.OrganizationID) || (t.UserID != "" && t.UserID == g.SelfIn(permission.MemberRemove, t.OrganizationID))
	}
	return g.Allowed(permission.MemberUpdate, t.OrganizationID) || g.Allowed(permission.RoleAssign, t.OrganizationID)
}

func holdsOwner(t *gen.Membership) bool {
	if t.Status != membership.StatusActive {
		return false
	}
	for _, r := range t.Edges.Roles {
		if r.ID == permission.OwnerRoleID {
			return true
		}
	}
	return false
}

// losesOwner reports whether m takes ownership away from the memberships it
// touches.
func losesOwner(m *gen.MembershipMutation) bool {
	if m.Op().Is(ent.OpDelete | ent.OpDeleteOne) {
		return true
	}
	if s, ok := m.Status(); ok && s != membership.StatusActive {
		return true
	}
	readded := slices.Contains(m.RolesIDs(), permission.OwnerRoleID)
	if m.RolesCleared() && !readded {
		return true
	}
	return slices.Contains(m.RemovedRolesIDs(), permission.OwnerRoleID) && !readded
}

// inTx reports whether m runs in a transaction, where the locks the guards
// take last until the write is committed.
func inTx(m interface{ Tx() (*gen.Tx, error) }) bool {
	_, err := m.Tx()
	return err == nil
}

// lockPG returns a predicate that locks the rows a query selects with the
// given strength until the end of the transaction, on PostgreSQL. SQLite
// has no FOR clause and needs none: storage opens its write transactions
// with BEGIN IMMEDIATE, so writers run one at a time.
func lockPG(strength sql.LockStrength) func(*sql.Selector) {
	return func(s *sql.Selector) {
		if s.Dialect() == dialect.Postgres {
			s.For(strength)
		}
	}
}

// checkAddedRoles refuses roles being added to a membership or an
// invitation of the organizations orgs that are neither built-in nor of
// that organization, or (for an actor that is not the system) above the
// actor's level there. ctx reads as the system; tx locks the roles (share)
// on PostgreSQL until the end of the transaction.
func checkAddedRoles(ctx context.Context, c *gen.Client, g *authz.Grants, tx, isSystem bool, added []pulid.ID, orgs map[pulid.ID]bool) error {
	// Roles being added must be built-in or of the same organization, and
	// not above the actor's level.
	if len(added) > 0 {
		q := c.Role.Query().Where(role.IDIn(added...))
		if tx {
			q = q.Where(lockPG(sql.LockShare)).Order(role.ByID())
		}
		rs, err := q.All(ctx)
		if err != nil {
			return err
		}
		// A role of another organization is refused as an unknown one
		// would be, by the ID the caller gave: nothing of it is told.
		for _, id := range added {
			if !slices.ContainsFunc(rs, func(r *gen.Role) bool { return r.ID == id }) {
				return fmt.Errorf("%w: %s", authz.ErrForeignRole, id)
			}
		}
		for _, r := range rs {
			for org := range orgs {
				if r.OrganizationID != nil && *r.OrganizationID != org {
					return fmt.Errorf("%w: %s", authz.ErrForeignRole, r.ID)
				}
				if !isSystem && g != nil && r.Level > g.Level(org) {
					return fmt.Errorf("%w: role %s has level %d, yours is %d", authz.ErrAboveLevel, r.Key, r.Level, g.Level(org))
				}
			}
		}
	}
	return nil
}
