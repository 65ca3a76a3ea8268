package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/internal/txn"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/validation"
)

// MaxBulk is the most users one BulkTransitionUsers call takes.
const MaxBulk = 1000

// ErrNoReason is matched by the error of a transition or ban without a
// reason; it is also a *validation.Error for the field reason.
var ErrNoReason = errors.New("account: a reason is required")

func reasonOf(reason string) (string, error) {
	r := strings.TrimSpace(reason)
	switch {
	case r == "":
		return "", validation.Wrap("reason", ErrNoReason)
	case len(r) > 500:
		return "", validation.Errorf("reason", "at most 500 characters")
	}
	return r, nil
}

// TransitionUser moves user id to status to, with a reason, as the actor
// of ctx: platform:user_manage on a user of a lower platform rank (the User
// policy), along the lifecycle graph (a *TransitionError otherwise). It
// records user.suspended, user.reactivated, ... with the status before and
// after. Leaving active revokes the user's sessions and personal keys.
func TransitionUser(ctx context.Context, client *ent.Client, id pulid.ID, to Status, reason string) (*ent.User, error) {
	r, err := reasonOf(reason)
	if err != nil {
		return nil, err
	}
	return txn.Run(ctx, client, func(c *ent.Client) (*ent.User, error) {
		u, err := c.User.Query().Where(user.ID(id), txn.ForUpdate).Only(ctx)
		if err != nil {
			return nil, err
		}
		from := Status(u.Status)
		if !Allowed(from, to) {
			return nil, &TransitionError{From: from, To: to}
		}
		u, err = c.User.UpdateOne(u).SetStatus(user.Status(to)).SetStatusReason(r).Save(trail.Domain(ctx))
		if err != nil {
			return nil, err
		}
		return u, trail.Record(ctx, c, trail.Event{Verb: verb(from, to), ObjectType: "User", ObjectID: id,
			Data: map[string]any{"changes": trail.Changes(map[string]any{"status": string(from)}, map[string]any{"status": string(to)}), "reason": r}})
	})
}

// Result is the outcome of one user of BulkTransitionUsers.
type Result struct {
	UserID  pulid.ID
	Applied bool
	// Code and Message say why a change was refused: NOT_FOUND (unknown,
	// or out of the actor's reach), FORBIDDEN (rank), BAD_USER_INPUT
	// (the graph does not allow it, or the user already has the status).
	Code, Message string
	User          *ent.User
}

// Codes of refused Results.
const (
	CodeNotFound  = "NOT_FOUND"
	CodeForbidden = "FORBIDDEN"
	CodeRefused   = "BAD_USER_INPUT"
)

// BulkTransitionUsers moves up to MaxBulk users to status to, with one
// reason, and answers one Result per ID given (in order, duplicates once):
// applied, or refused with a code and message; one refusal does not stop
// the others. The users are read, locked and written in a constant number
// of statements, whatever their number; each applied change records its
// own activity.
func BulkTransitionUsers(ctx context.Context, client *ent.Client, ids []pulid.ID, to Status, reason string) ([]*Result, error) {
	r, err := reasonOf(reason)
	if err != nil {
		return nil, err
	}
	if len(ids) > MaxBulk {
		return nil, validation.Errorf("ids", "at most %d users per call, got %d", MaxBulk, len(ids))
	}
	g, ok := authz.FromContext(ctx)
	if !ok {
		return nil, authz.ErrNotLoaded
	}
	if !g.IsSystem() {
		if ok, why := g.PlatformCan(permission.PlatformUserManage); !ok {
			return nil, fmt.Errorf("%w: changing users' status needs %s (%s)", privacy.Deny, permission.PlatformUserManage, why)
		}
	}
	var order []pulid.ID
	seen := map[pulid.ID]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			order = append(order, id)
		}
	}
	return txn.Run(ctx, client, func(c *ent.Client) ([]*Result, error) {
		users, err := c.User.Query().Where(user.IDIn(order...), txn.ForUpdate).Order(ent.Asc(user.FieldID)).All(ctx)
		if err != nil {
			return nil, err
		}
		byID := map[pulid.ID]*ent.User{}
		for _, u := range users {
			byID[u.ID] = u
		}
		results := make([]*Result, len(order))
		var apply []pulid.ID
		for i, id := range order {
			results[i] = &Result{UserID: id}
			u := byID[id]
			switch {
			case u == nil:
				results[i].Code, results[i].Message = CodeNotFound, "no user with this ID is visible to you"
			case !outranks(g, u):
				results[i].Code, results[i].Message = CodeForbidden, fmt.Sprintf("the user's platform role (%s) is not below yours", u.PlatformRole)
			case !Allowed(Status(u.Status), to):
				results[i].Code, results[i].Message = CodeRefused, strings.TrimPrefix((&TransitionError{From: Status(u.Status), To: to}).Error(), "account: ")
			default:
				apply = append(apply, id)
			}
		}
		if len(apply) == 0 {
			return results, nil
		}
		n, err := c.User.Update().Where(user.IDIn(apply...)).SetStatus(user.Status(to)).SetStatusReason(r).Save(trail.Domain(ctx))
		if err != nil {
			return nil, err
		}
		if n != len(apply) {
			return nil, fmt.Errorf("%w: %d of %d users changed", authz.ErrConcurrentUpdate, n, len(apply))
		}
		updated, err := c.User.Query().Where(user.IDIn(apply...)).All(ctx)
		if err != nil {
			return nil, err
		}
		now := map[pulid.ID]*ent.User{}
		for _, u := range updated {
			now[u.ID] = u
		}
		events := make([]trail.Event, 0, len(apply))
		for i := range results {
			u, ok := now[results[i].UserID]
			if !ok || results[i].Code != "" {
				continue
			}
			results[i].Applied, results[i].User = true, u
			from := Status(byID[u.ID].Status)
			events = append(events, trail.Event{Verb: verb(from, to), ObjectType: "User", ObjectID: u.ID,
				Data: map[string]any{"changes": trail.Changes(map[string]any{"status": string(from)}, map[string]any{"status": string(to)}), "reason": r, "bulk": true}})
		}
		return results, trail.RecordAll(ctx, c, events)
	})
}

// outranks reports whether the actor of g may manage u: a superadmin
// anyone, platform staff with user_manage users of a lower platform rank.
func outranks(g *authz.Grants, u *ent.User) bool {
	if g.IsSystem() || g.Platform(permission.PlatformRoleGrant) {
		return true
	}
	return g.Platform(permission.PlatformUserManage) && actor.PlatformRole(u.PlatformRole).Level() < g.PlatformRole().Level()
}

// ErrPastExpiry is matched by the error of BanUser for an end that is not
// in the future; it is also a *validation.Error for expiresAt.
var ErrPastExpiry = errors.New("account: the ban's end is not in the future")

// BanUser bans user id as the actor of ctx (the same rights and rank rule
// as TransitionUser), with a required reason, until expiresAt (nil: until
// lifted). The user's sessions and personal keys are revoked at once; the
// user cannot sign in until the ban ends, and the refusal says until when.
// The ban lifts itself at expiresAt (checked whenever a credential is
// used). Banning a banned user replaces the reason and the end.
func BanUser(ctx context.Context, client *ent.Client, id pulid.ID, reason string, expiresAt *time.Time) (*ent.User, error) {
	r, err := reasonOf(reason)
	if err != nil {
		return nil, err
	}
	if expiresAt != nil && !expiresAt.After(time.Now()) {
		return nil, fmt.Errorf("%w: %w", ErrPastExpiry, validation.Errorf("expiresAt",
			"%s is not in the future; send a later time, or none for a ban until lifted", expiresAt.UTC().Format(time.RFC3339)))
	}
	return txn.Run(ctx, client, func(c *ent.Client) (*ent.User, error) {
		u, err := c.User.Query().Where(user.ID(id), txn.ForUpdate).Only(ctx)
		if err != nil {
			return nil, err
		}
		if a := actor.FromContext(ctx); a != nil && a.UserID() == id {
			return nil, fmt.Errorf("%w: you cannot ban yourself", privacy.Deny)
		}
		upd := c.User.UpdateOne(u).SetBanReason(r).SetNillableBanExpiresAt(expiresAt)
		if expiresAt == nil {
			upd.ClearBanExpiresAt()
		}
		if u.BannedAt == nil || (u.BanExpiresAt != nil && !time.Now().Before(*u.BanExpiresAt)) {
			upd.SetBannedAt(time.Now())
		}
		if u, err = upd.Save(trail.Domain(ctx)); err != nil {
			return nil, err
		}
		data := map[string]any{"reason": r}
		if expiresAt != nil {
			data["until"] = expiresAt.UTC().Format(time.RFC3339)
		}
		return u, trail.Record(ctx, c, trail.Event{Verb: "user.banned", ObjectType: "User", ObjectID: id, Data: data})
	})
}

// ErrNotBanned is returned by UnbanUser for a user who is not banned (or
// whose ban has ended).
var ErrNotBanned = errors.New("account: the user is not banned")

// UnbanUser lifts the ban of user id, with a required reason, as the actor
// of ctx. Revoked sessions and keys stay revoked.
func UnbanUser(ctx context.Context, client *ent.Client, id pulid.ID, reason string) (*ent.User, error) {
	r, err := reasonOf(reason)
	if err != nil {
		return nil, err
	}
	return txn.Run(ctx, client, func(c *ent.Client) (*ent.User, error) {
		u, err := c.User.Query().Where(user.ID(id), txn.ForUpdate).Only(ctx)
		if err != nil {
			return nil, err
		}
		if u.BannedAt == nil || (u.BanExpiresAt != nil && !time.Now().Before(*u.BanExpiresAt)) {
			return nil, validation.Wrap("id", ErrNotBanned)
		}
		if u, err = c.User.UpdateOne(u).ClearBannedAt().ClearBanExpiresAt().SetBanReason("").Save(trail.Domain(ctx)); err != nil {
			return nil, err
		}
		return u, trail.Record(ctx, c, trail.Event{Verb: "user.unbanned", ObjectType: "User", ObjectID: id, Data: map[string]any{"reason": r}})
	})
}
