package rule

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect/sql"

	"github.com/cf/identity/account"
	"github.com/cf/identity/authz"
	gen "github.com/cf/identity/ent"
	"github.com/cf/identity/ent/apikey"
	"github.com/cf/identity/ent/refreshtoken"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/pulid"
)

// LifecycleGuard enforces the lifecycle graph of package account on every
// write of cf_users.status, by anyone, the system included: a new user
// starts pending or active, and an update moves each user it reaches along
// the graph only (a *account.TransitionError otherwise, nothing written).
// It sets status_changed_at. When users leave active, or are banned, it
// revokes their sessions, the sessions' refresh tokens and their personal
// API keys in the same write (run it in a transaction to make that one
// unit); coming back revives none of them.
func LifecycleGuard() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			um, ok := m.(*gen.UserMutation)
			if !ok {
				return nil, fmt.Errorf("rule: unexpected mutation %T", m)
			}
			to, setStatus := um.Status()
			bannedAt, setBan := um.BannedAt()
			_, setRole := um.PlatformRole()
			deletedAt, setDeleted := um.DeletedAt()
			setDeleted = setDeleted && !deletedAt.IsZero()
			if !setStatus && !setBan && !setRole && !setDeleted {
				return next.Mutate(ctx, m)
			}
			now := time.Now()
			if um.Op().Is(ent.OpCreate) {
				if !setStatus && !setBan {
					return next.Mutate(ctx, m)
				}
				if setStatus && !slices.Contains(account.CreatableStatuses, account.Status(to)) {
					return nil, &account.TransitionError{To: account.Status(to)}
				}
				um.SetStatusChangedAt(now)
				return next.Mutate(ctx, m)
			}
			sys := system(ctx)
			// The rows the write reaches, as the actor sees them (not as
			// the system does): the revocations below act on these only,
			// whatever the write's predicates name.
			ids, err := um.IDs(ctx)
			if err != nil {
				return nil, err
			}
			if len(ids) == 0 {
				return next.Mutate(ctx, m)
			}
			rows, err := um.Client().User.Query().Where(user.IDIn(ids...)).
				Select(user.FieldStatus, user.FieldBannedAt, user.FieldBanExpiresAt).All(sys)
			if err != nil {
				return nil, err
			}
			var leaving []pulid.ID
			reason := "user_banned"
			if !setStatus && !setBan {
				// A change of platform role, or a deletion, ends the
				// impersonations the users run (checked against the role
				// they had) and, for a new role, those of them: a target
				// may now rank with its impersonator.
				v, err := next.Mutate(ctx, m)
				if err != nil {
					return v, err
				}
				reason, targets := "impersonator_role_changed", ids
				if !setRole {
					reason, targets = "impersonator_deleted", nil
				}
				return v, endImpersonations(trail.Domain(sys), um.Client(), ids, targets, reason, time.Now())
			}
			for _, u := range rows {
				switch {
				case setStatus && !account.Allowed(account.Status(u.Status), account.Status(to)):
					return nil, &account.TransitionError{From: account.Status(u.Status), To: account.Status(to)}
				case setStatus && u.Status == user.StatusActive:
					leaving = append(leaving, u.ID)
					reason = "user_" + string(to)
				case setBan && !bannedAt.IsZero() && !(u.BannedAt != nil && (u.BanExpiresAt == nil || now.Before(*u.BanExpiresAt))):
					// A new ban (not the change of a running one).
					leaving = append(leaving, u.ID)
				}
			}
			if setStatus {
				um.SetStatusChangedAt(now)
			}
			v, err := next.Mutate(ctx, m)
			if err != nil || len(leaving) == 0 {
				return v, err
			}
			if err := revokeCredentials(trail.Domain(sys), um.Client(), leaving, reason, now); err != nil {
				return nil, err
			}
			if err := endImpersonations(trail.Domain(sys), um.Client(), leaving, nil, "impersonator_"+strings.TrimPrefix(reason, "user_"), now); err != nil {
				return nil, err
			}
			return v, nil
		})
	}
}

// endImpersonations revokes the live impersonation sessions that
// impersonators run, and those of which targets are the target, with their
// refresh tokens, recording session.revoked for each, in a constant number
// of statements.
func endImpersonations(ctx context.Context, c *gen.Client, impersonators, targets []pulid.ID, reason string, now time.Time) error {
	which := entsession.ImpersonatorIDIn(impersonators...)
	if len(targets) > 0 {
		which = entsession.Or(which, entsession.And(entsession.UserIDIn(targets...), entsession.ImpersonatorIDNotNil()))
	}
	live, err := c.Session.Query().Where(which, entsession.RevokedAtIsNil()).
		Select(entsession.FieldUserID, entsession.FieldOrganizationID, entsession.FieldImpersonatorID).All(ctx)
	if err != nil {
		return fmt.Errorf("rule: reading impersonations: %w", err)
	}
	if len(live) == 0 {
		return nil
	}
	ids := make([]pulid.ID, 0, len(live))
	events := make([]trail.Event, 0, len(live))
	for _, s := range live {
		ids = append(ids, s.ID)
		e := trail.Event{Verb: "session.revoked", ObjectType: "Session", ObjectID: s.ID,
			Data: map[string]any{"reason": reason, "user_id": string(s.UserID), "impersonator_id": string(*s.ImpersonatorID)}}
		if s.OrganizationID != nil {
			e.Organization = *s.OrganizationID
		}
		events = append(events, e)
	}
	if err := c.Session.Update().Where(entsession.IDIn(ids...)).
		SetRevokedAt(now).SetRevokedReason(reason).Exec(ctx); err != nil {
		return fmt.Errorf("rule: ending impersonations: %w", err)
	}
	if err := c.RefreshToken.Update().
		Where(refreshtoken.FamilyIDIn(ids...), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(now).SetRevokedReason(reason).Exec(ctx); err != nil {
		return fmt.Errorf("rule: revoking the refresh tokens of impersonations: %w", err)
	}
	return trail.RecordAll(ctx, c, events)
}

// revokeCredentials revokes the live sessions (recording session.revoked
// for each), their refresh tokens and the personal API keys of users, in a
// constant number of statements.
func revokeCredentials(ctx context.Context, c *gen.Client, users []pulid.ID, reason string, now time.Time) error {
	live, err := c.Session.Query().Where(entsession.UserIDIn(users...), entsession.RevokedAtIsNil()).
		Select(entsession.FieldUserID, entsession.FieldOrganizationID).All(ctx)
	if err != nil {
		return fmt.Errorf("rule: reading sessions: %w", err)
	}
	if err := c.Session.Update().
		Where(entsession.UserIDIn(users...), entsession.RevokedAtIsNil()).
		SetRevokedAt(now).SetRevokedReason(reason).Exec(ctx); err != nil {
		return fmt.Errorf("rule: revoking sessions: %w", err)
	}
	events := make([]trail.Event, 0, len(live))
	for _, s := range live {
		e := trail.Event{Verb: "session.revoked", ObjectType: "Session", ObjectID: s.ID,
			Data: map[string]any{"reason": reason, "user_id": string(s.UserID)}}
		if s.OrganizationID != nil {
			e.Organization = *s.OrganizationID
		}
		events = append(events, e)
	}
	if err := trail.RecordAll(ctx, c, events); err != nil {
		return err
	}
	if err := c.RefreshToken.Update().
		Where(refreshtoken.UserIDIn(users...), refreshtoken.RevokedAtIsNil()).
		SetRevokedAt(now).SetRevokedReason(reason).Exec(ctx); err != nil {
		return fmt.Errorf("rule: revoking refresh tokens: %w", err)
	}
	if err := c.APIKey.Update().
		Where(apikey.UserIDIn(users...), apikey.OrganizationIDIsNil(), apikey.RevokedAtIsNil()).
		SetRevokedAt(now).Exec(ctx); err != nil {
		return fmt.Errorf("rule: revoking personal API keys: %w", err)
	}
	return nil
}

// SuperadminGuard keeps at least one active superadmin (active, not
// banned, not deleted): a write that demotes, suspends, bans or deletes
// users fails with account.ErrLastSuperadmin when it would leave none. It
// locks the superadmins' rows first (PostgreSQL: SELECT ... FOR UPDATE, in
// ID order), so that two superadmins demoting each other at once run one
// after the other and the second is refused.
func SuperadminGuard() ent.Hook {
	return func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			um, ok := m.(*gen.UserMutation)
			if !ok || um.Op().Is(ent.OpCreate) {
				return next.Mutate(ctx, m)
			}
			role, setRole := um.PlatformRole()
			status, setStatus := um.Status()
			_, setBan := um.BannedAt()
			_, setDeleted := um.DeletedAt()
			demotes := (setRole && role != user.PlatformRoleSuperadmin) ||
				(setStatus && status != user.StatusActive) || setBan || setDeleted || um.Op().Is(ent.OpDelete|ent.OpDeleteOne)
			if !demotes {
				return next.Mutate(ctx, m)
			}
			sys := system(ctx)
			ids, err := um.IDs(sys)
			if err != nil || len(ids) == 0 {
				if err != nil {
					return nil, err
				}
				return next.Mutate(ctx, m)
			}
			supers, err := um.Client().User.Query().
				Where(user.PlatformRoleEQ(user.PlatformRoleSuperadmin), user.StatusEQ(user.StatusActive), user.BannedAtIsNil(), lockPG(sql.LockUpdate)).
				Order(gen.Asc(user.FieldID)).Select(user.FieldID).All(sys)
			if err != nil {
				return nil, authz.Concurrent(err)
			}
			left := 0
			for _, s := range supers {
				if !slices.Contains(ids, s.ID) {
					left++
				}
			}
			if len(supers) > 0 && left == 0 {
				return nil, account.ErrLastSuperadmin
			}
			v, err := next.Mutate(ctx, m)
			return v, authz.Concurrent(err)
		})
	}
}
