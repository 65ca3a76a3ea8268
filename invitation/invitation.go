// Package invitation adds people to organizations by invitation: an
// administrator with member:invite invites an email address with roles;
// the owner of the address accepts with the mailed single-use token and
// becomes a member (a new address becomes an active user with a verified
// email first). A user outside an organization stays invisible to it until
// they accept.
//
// Tokens carry 256 random bits and are stored as SHA-256 digests only.
// Each invitation is pending until it is accepted, revoked or expires
// (DefaultTTL after it was last sent); an organization has at most one
// pending invitation per address (a second is ErrPending: resend the
// first). Every step records an activity (member.invited,
// invitation.resent, invitation.revoked, invitation.accepted,
// invitation.expired, member.joined) in the transaction of the change; the
// mail goes after it commits.
package invitation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/apikey"
	"github.com/cf/identity/ent/invitation"
	"github.com/cf/identity/ent/membership"
	"github.com/cf/identity/ent/organization"
	"github.com/cf/identity/ent/predicate"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/ent/refreshtoken"
	"github.com/cf/identity/ent/role"
	entsession "github.com/cf/identity/ent/session"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/ent/usertoken"
	"github.com/cf/identity/features"
	"github.com/cf/identity/internal/rule"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/internal/txn"
	"github.com/cf/identity/mail"
	"github.com/cf/identity/permission"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/session"
	"github.com/cf/identity/validation"
)

// DefaultTTL is how long an invitation stays valid after it was sent.
const DefaultTTL = 7 * 24 * time.Hour

// AcceptPath is the path of the link mailed with an invitation, below the
// public URL; the page there posts the token to /auth/invitations/accept.
const AcceptPath = "/invitations/accept"

// tokenKind is the kind of invitation tokens (secret.NewToken).
const tokenKind = "cfinv"

// Config configures a Service.
type Config struct {
	// Sessions hashes the passwords of users created by an acceptance,
	// under its password rules; required.
	Sessions *session.Manager
	// Mail sends the invitations; required.
	Mail *mail.Courier
	// Gates can switch invitations off; nil keeps them on.
	Gates *features.Gates
	// TTL is how long an invitation is valid after it is sent;
	// DefaultTTL when 0, between an hour and 90 days.
	TTL time.Duration
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
}

// Service runs the invitation flows over one database.
type Service struct {
	client *ent.Client
	cfg    Config
}

// New returns the invitation flows of the database of client.
func New(client *ent.Client, cfg Config) (*Service, error) {
	if cfg.Sessions == nil || cfg.Mail == nil {
		return nil, fmt.Errorf("invitation: a session manager and a mail courier are required")
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < time.Hour || cfg.TTL > 90*24*time.Hour {
		return nil, fmt.Errorf("invitation: lifetime %s: want between 1h and 90 days", cfg.TTL)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{client: client, cfg: cfg}, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

func system(ctx context.Context) context.Context {
	return actor.NewContext(ctx, actor.System("invitation"))
}

// Status returns the status of inv at now: a pending invitation past its
// expiry is expired, whether or not the sweep (ExpireDue) wrote it yet.
func Status(inv *ent.Invitation, now time.Time) invitation.Status {
	if inv.Status == invitation.StatusPending && !now.Before(inv.ExpiresAt) {
		return invitation.StatusExpired
	}
	return inv.Status
}

// Status returns the status of inv now.
func (s *Service) Status(inv *ent.Invitation) invitation.Status { return Status(inv, s.now()) }

// InviteInput describes an invitation.
type InviteInput struct {
	OrganizationID pulid.ID
	Email          string
	// RoleIDs default to the built-in member role; each must be built-in
	// or of the organization, and not above the inviter's level there.
	RoleIDs []pulid.ID
	// Message is an optional note of the inviter, sent with the link.
	Message string
}

// Invite invites in.Email to the organization as the actor of ctx
// (member:invite there) through client (join a transaction by passing its
// client and a ctx of ent.NewTxContext: the mail then goes at its
// commit), and mails the link.
func (s *Service) Invite(ctx context.Context, client *ent.Client, in InviteInput) (*ent.Invitation, error) {
	if err := s.cfg.Gates.Check(ctx, features.Invitations); err != nil {
		return nil, err
	}
	email, err := validation.NormalEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if len(in.Message) > 1000 {
		return nil, validation.Errorf("message", "at most 1000 characters")
	}
	roles := slices.Compact(slices.Sorted(slices.Values(in.RoleIDs)))
	if len(roles) == 0 {
		roles = []pulid.ID{permission.MemberRoleID}
	}
	tok, _, err := secret.NewToken(tokenKind)
	if err != nil {
		return nil, err
	}
	var (
		inv *ent.Invitation
		org *ent.Organization
	)
	inv, err = txn.Run(ctx, client, func(c *ent.Client) (*ent.Invitation, error) {
		var err error
		// The organization as the inviter sees it: an organization it
		// cannot read is not found.
		if org, err = c.Organization.Query().Where(organization.ID(in.OrganizationID)).Only(ctx); err != nil {
			return nil, err
		}
		g, ok := authz.FromContext(ctx)
		if !ok {
			return nil, fmt.Errorf("%w: inviting needs an actor", privacy.Deny)
		}
		if ok, why := g.Can(permission.MemberInvite, org.ID); !ok {
			return nil, fmt.Errorf("%w: %s in organization %s: %s", privacy.Deny, permission.MemberInvite, org.ID, why)
		}
		// The invitation is written by the system (the policy lets no
		// actor write a token digest), with the inviter's roles checked
		// against the inviter's level here.
		if err := rule.CheckInvitationRoles(ctx, c, g, org.ID, roles); err != nil {
			return nil, err
		}
		sys := trail.Domain(system(ctx))
		member, err := c.Membership.Query().
			Where(membership.OrganizationID(org.ID), membership.HasUserWith(user.Email(email))).Exist(sys)
		if err != nil {
			return nil, err
		}
		if member {
			return nil, ErrAlreadyMember
		}
		if _, err := s.expire(ctx, c, invitation.OrganizationID(org.ID), invitation.Email(email)); err != nil {
			return nil, err
		}
		q := c.Invitation.Create().
			SetOrganizationID(org.ID).SetEmail(email).SetMessage(in.Message).
			SetTokenDigest(secret.DigestOf(tok)).SetExpiresAt(s.now().Add(s.cfg.TTL)).
			AddRoleIDs(roles...)
		if a := actor.FromContext(ctx); a != nil && a.UserID() != "" {
			q.SetInviterID(a.UserID())
		}
		inv, err := q.Save(sys)
		if ent.IsConstraintError(err) {
			return nil, ErrPending
		}
		if err != nil {
			return nil, err
		}
		if err := trail.Record(ctx, c, trail.Event{Verb: "member.invited", ObjectType: "Invitation", ObjectID: inv.ID, Organization: org.ID,
			Data: map[string]any{"email": email, "roles": roles, "expires_at": inv.ExpiresAt}}); err != nil {
			return nil, err
		}
		return inv, nil
	})
	if err != nil {
		return nil, err
	}
	s.send(ctx, inv, org, tok)
	return inv, nil
}

// send mails inv with tok once the work of ctx is committed.
func (s *Service) send(ctx context.Context, inv *ent.Invitation, org *ent.Organization, tok string) {
	inviter := ""
	if inv.InviterID != nil {
		if u, err := s.client.User.Get(system(ctx), *inv.InviterID); err == nil {
			inviter = u.DisplayName
			if inviter == "" {
				inviter = u.Email
			}
		}
	}
	data := mail.Data{
		To: inv.Email, Link: s.cfg.Mail.Link(AcceptPath, tok), ExpiresAt: inv.ExpiresAt,
		Organization: org.Name, Inviter: inviter, Message: inv.Message,
	}
	txn.AfterCommit(ctx, func() { s.cfg.Mail.Send(ctx, "invitation", data) })
}

// expire marks the pending invitations matching where that are past their
// expiry as expired (invitation.expired), as the system, and returns how
// many it marked.
func (s *Service) expire(ctx context.Context, c *ent.Client, where ...predicate.Invitation) (int, error) {
	sys := trail.Domain(system(ctx))
	due, err := c.Invitation.Query().
		Where(append(where, invitation.StatusEQ(invitation.StatusPending), invitation.ExpiresAtLTE(s.now()))...).
		All(sys)
	if err != nil || len(due) == 0 {
		return 0, err
	}
	ids := make([]pulid.ID, len(due))
	events := make([]trail.Event, len(due))
	for i, inv := range due {
		ids[i] = inv.ID
		events[i] = trail.Event{Verb: "invitation.expired", ObjectType: "Invitation", ObjectID: inv.ID, Organization: inv.OrganizationID,
			Data: map[string]any{"email": inv.Email, "expired_at": inv.ExpiresAt}}
	}
	n, err := c.Invitation.Update().
		Where(invitation.IDIn(ids...), invitation.StatusEQ(invitation.StatusPending)).
		SetStatus(invitation.StatusExpired).Save(sys)
	if err != nil {
		return 0, err
	}
	return n, trail.RecordAll(system(ctx), c, events)
}

// ExpireDue marks up to limit pending invitations past their expiry as
// expired, as the system, and returns how many it marked. The server runs
// it every minute; reads tell an expired invitation before it runs (see
// Status).
func (s *Service) ExpireDue(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 500
	}
	return txn.Run(ctx, s.client, func(c *ent.Client) (int, error) {
		ids, err := c.Invitation.Query().
			Where(invitation.StatusEQ(invitation.StatusPending), invitation.ExpiresAtLTE(s.now())).
			Order(invitation.ByExpiresAt()).Limit(limit).IDs(system(ctx))
		if err != nil || len(ids) == 0 {
			return 0, err
		}
		return s.expire(ctx, c, invitation.IDIn(ids...))
	})
}

// loadForChange reads invitation id as the actor of ctx (member:invite in
// its organization, or not found), locked for update.
func loadForChange(ctx context.Context, c *ent.Client, id pulid.ID) (*ent.Invitation, error) {
	return c.Invitation.Query().Where(invitation.ID(id), txn.ForUpdate).Only(ctx)
}

// Resend mails invitation id again with a new token, as the actor of ctx
// (member:invite in its organization): the previous link stops working
// and the expiry starts again. An expired invitation becomes pending again
// (ErrPending when a newer one is pending); an accepted or revoked one is a
// *StateError.
func (s *Service) Resend(ctx context.Context, client *ent.Client, id pulid.ID) (*ent.Invitation, error) {
	if err := s.cfg.Gates.Check(ctx, features.Invitations); err != nil {
		return nil, err
	}
	tok, _, err := secret.NewToken(tokenKind)
	if err != nil {
		return nil, err
	}
	var org *ent.Organization
	inv, err := txn.Run(ctx, client, func(c *ent.Client) (*ent.Invitation, error) {
		inv, err := loadForChange(ctx, c, id)
		if err != nil {
			return nil, err
		}
		switch st := s.Status(inv); st {
		case invitation.StatusAccepted, invitation.StatusRevoked:
			return nil, &StateError{Status: string(st)}
		}
		member, err := c.Membership.Query().
			Where(membership.OrganizationID(inv.OrganizationID), membership.HasUserWith(user.Email(inv.Email))).Exist(system(ctx))
		if err != nil {
			return nil, err
		}
		if member {
			return nil, ErrAlreadyMember
		}
		inv, err = c.Invitation.UpdateOne(inv).
			SetStatus(invitation.StatusPending).SetTokenDigest(secret.DigestOf(tok)).
			SetExpiresAt(s.now().Add(s.cfg.TTL)).AddSentCount(1).Save(trail.Domain(system(ctx)))
		if ent.IsConstraintError(err) {
			return nil, ErrPending
		}
		if err != nil {
			return nil, err
		}
		if org, err = c.Organization.Get(system(ctx), inv.OrganizationID); err != nil {
			return nil, err
		}
		return inv, trail.Record(ctx, c, trail.Event{Verb: "invitation.resent", ObjectType: "Invitation", ObjectID: inv.ID, Organization: inv.OrganizationID,
			Data: map[string]any{"email": inv.Email, "sent_count": inv.SentCount, "expires_at": inv.ExpiresAt}})
	})
	if err != nil {
		return nil, err
	}
	s.send(ctx, inv, org, tok)
	return inv, nil
}

// Revoke revokes invitation id as the actor of ctx (member:invite in its
// organization): its link stops working. Revoking a revoked invitation
// changes nothing; an accepted one is a *StateError.
func (s *Service) Revoke(ctx context.Context, client *ent.Client, id pulid.ID) (*ent.Invitation, error) {
	return txn.Run(ctx, client, func(c *ent.Client) (*ent.Invitation, error) {
		inv, err := loadForChange(ctx, c, id)
		if err != nil {
			return nil, err
		}
		switch inv.Status {
		case invitation.StatusRevoked:
			return inv, nil
		case invitation.StatusAccepted:
			return nil, &StateError{Status: string(inv.Status)}
		}
		inv, err = c.Invitation.UpdateOne(inv).SetStatus(invitation.StatusRevoked).SetRevokedAt(s.now()).Save(trail.Domain(ctx))
		if err != nil {
			return nil, err
		}
		return inv, trail.Record(ctx, c, trail.Event{Verb: "invitation.revoked", ObjectType: "Invitation", ObjectID: inv.ID, Organization: inv.OrganizationID,
			Data: map[string]any{"email": inv.Email}})
	})
}

// AcceptInput accepts an invitation.
type AcceptInput struct {
	// Token is the token of the mailed link.
	Token string
	// Password and Name are for an address that has no account yet: the
	// new user's password (under the password rules; required) and
	// display name (optional). For an address with an account, Password
	// must be empty: its owner signs in with the account's password.
	Password, Name string
}

// Accepted is the outcome of Accept.
type Accepted struct {
	Invitation *ent.Invitation
	Membership *ent.Membership
	User       *ent.User
	// UserCreated tells whether the acceptance created the user.
	UserCreated bool
}

// Accept accepts the invitation of in.Token, once, through client (join a
// transaction by passing its client). The token proves
// control of the invited address: for an address without an account it
// creates the user (active, email verified, password per the rules);
// either way the user becomes an active member of the organization with
// the invitation's roles (those still existing; the member role when none
// is left). When ctx carries a signed-in user, the invitation must be for
// that user's address (ErrEmailMismatch).
//
// A token accepted before, revoked, expired, unknown or malformed is
// refused (ErrAccepted, ErrRevoked, ErrExpired, ErrInvalidToken; each
// matches ErrInvalidToken) and changes nothing, but for marking an
// expired invitation expired. Concurrent acceptances of one token create
// one membership: the invitation row is locked for the acceptance.
func (s *Service) Accept(ctx context.Context, client *ent.Client, in AcceptInput) (*Accepted, error) {
	if err := s.cfg.Gates.Check(ctx, features.Invitations); err != nil {
		return nil, err
	}
	raw := strings.TrimSpace(in.Token)
	if _, err := secret.SplitToken(tokenKind, raw); err != nil {
		return nil, ErrInvalidToken
	}
	var me *actor.Actor
	if a := actor.FromContext(ctx); a != nil && !a.IsSystem() {
		if a.Kind() != actor.KindUser {
			return nil, fmt.Errorf("%w: accepting an invitation needs a signed-in user (an access token) or the token alone, not an API key", authz.ErrNotLoaded)
		}
		if err := authz.Impersonated(ctx, "accepting an invitation"); err != nil {
			return nil, err
		}
		me = a
	}
	name, err := session.CheckName(in.Name)
	if err != nil {
		return nil, err
	}
	sys := system(ctx)
	// Check the token, and whether the address has an account, before
	// spending a password hash on it.
	pre, err := s.check(ctx, client, raw, false)
	if errors.Is(err, ErrExpired) {
		// Mark it expired under the lock (check does, and keeps the mark).
		_, err = txn.Run(ctx, client, func(c *ent.Client) (*ent.Invitation, error) {
			return s.check(ctx, c, raw, true)
		})
	}
	if err != nil {
		return nil, err
	}
	existing, err := client.User.Query().Where(user.Email(pre.Email)).Only(sys)
	if err != nil && !ent.IsNotFound(err) {
		return nil, err
	}
	if me != nil && (existing == nil || existing.ID != me.UserID()) {
		return nil, ErrEmailMismatch
	}
	var hash, reset *secret.PasswordHash
	switch {
	case existing != nil && !existing.EmailVerified && me == nil:
		// Nobody proved this address for the account yet: whoever made
		// it (a signup with someone else's address, say) may not be its
		// owner. The token proves the address: its holder chooses the
		// account's password, and every other way into the account ends.
		if in.Password == "" {
			return nil, validation.Errorf("password", "required: the account of this address was never verified, so accepting sets its password")
		}
		h, err := s.cfg.Sessions.HashPassword(ctx, "password", in.Password, pre.Email, existing.FirstName, existing.LastName, existing.DisplayName, name)
		if err != nil {
			return nil, err
		}
		reset = &h
	case existing != nil && in.Password != "":
		// The account may be the one a concurrent acceptance of this
		// token created after the check above: then the answer is that
		// the invitation was accepted (it commits with the account).
		if _, err := s.check(ctx, client, raw, false); err != nil {
			return nil, err
		}
		return nil, validation.Errorf("password", "this address has an account already: leave the password out and sign in with the account's password")
	case existing == nil && in.Password == "":
		return nil, validation.Errorf("password", "required: the invitation creates your account")
	case existing == nil:
		h, err := s.cfg.Sessions.HashPassword(ctx, "password", in.Password, pre.Email, name)
		if err != nil {
			return nil, err
		}
		hash = &h
	}
	return txn.Run(ctx, client, func(c *ent.Client) (*Accepted, error) {
		inv, err := s.check(ctx, c, raw, true)
		if err != nil {
			return nil, err
		}
		dsys := trail.Domain(sys)
		now := s.now()
		out := &Accepted{}
		u, err := c.User.Query().Where(user.Email(inv.Email)).Only(dsys)
		switch {
		case ent.IsNotFound(err) && hash != nil:
			u, err = c.User.Create().SetEmail(inv.Email).SetDisplayName(name).SetPasswordHash(*hash).
				SetStatus(user.StatusActive).SetEmailVerified(true).SetEmailVerifiedAt(now).Save(dsys)
			if ent.IsConstraintError(err) {
				// An acceptance of another invitation of the address
				// created its account meanwhile (as below).
				return nil, ErrEmailMismatch
			}
			if err != nil {
				return nil, err
			}
			out.UserCreated = true
		case ent.IsNotFound(err):
			// The account was deleted since the check: ask again.
			return nil, validation.Errorf("password", "required: the invitation creates your account")
		case err != nil:
			return nil, err
		case hash != nil || me != nil && u.ID != me.UserID():
			// An account of the address appeared since the check.
			return nil, ErrEmailMismatch
		case !u.EmailVerified && me == nil:
			if reset == nil {
				// The account lost its verification since the check.
				return nil, validation.Errorf("password", "required: the account of this address was never verified, so accepting sets its password")
			}
			if err := c.User.UpdateOne(u).SetPasswordHash(*reset).SetFailedLogins(0).ClearLockedUntil().
				SetEmailVerified(true).SetEmailVerifiedAt(now).Exec(dsys); err != nil {
				return nil, err
			}
			if err := takeBack(sys, c, u.ID, now); err != nil {
				return nil, err
			}
		case !u.EmailVerified:
			if err := c.User.UpdateOne(u).SetEmailVerified(true).SetEmailVerifiedAt(now).Exec(dsys); err != nil {
				return nil, err
			}
		}
		who := actor.User(u.ID, actor.PlatformNone)
		wctx := actor.NewContext(ctx, who)
		if member, err := c.Membership.Query().
			Where(membership.OrganizationID(inv.OrganizationID), membership.UserID(u.ID)).Exist(dsys); err != nil {
			return nil, err
		} else if member {
			return nil, ErrAlreadyMember
		}
		roles, err := inv.QueryRoles().Where(role.Or(role.OrganizationIDIsNil(), role.OrganizationID(inv.OrganizationID))).IDs(dsys)
		if err != nil {
			return nil, err
		}
		if len(roles) == 0 {
			roles = []pulid.ID{permission.MemberRoleID}
		}
		mq := c.Membership.Create().SetOrganizationID(inv.OrganizationID).SetUserID(u.ID).
			SetStatus(membership.StatusActive).SetJoinedAt(now).AddRoleIDs(roles...)
		if inv.InviterID != nil {
			mq.SetInvitedByID(*inv.InviterID)
		}
		m, err := mq.Save(dsys)
		if err != nil {
			return nil, err
		}
		if me != nil {
			// The signed-in accepter is a member now: what the rest of the
			// request reads (the new membership's organization, say) is
			// decided on grants that include it.
			if _, err := authz.Reload(ctx, c); err != nil {
				return nil, err
			}
		}
		inv, err = c.Invitation.UpdateOne(inv).SetStatus(invitation.StatusAccepted).
			SetAcceptedByID(u.ID).SetAcceptedAt(now).Save(dsys)
		if err != nil {
			return nil, err
		}
		events := []trail.Event{}
		if out.UserCreated {
			events = append(events, trail.Event{Verb: "user.created", ObjectType: "User", ObjectID: u.ID,
				Data: map[string]any{"via": "invitation", "invitation": string(inv.ID)}})
		}
		events = append(events,
			trail.Event{Verb: "invitation.accepted", ObjectType: "Invitation", ObjectID: inv.ID, Organization: inv.OrganizationID,
				Data: map[string]any{"membership": string(m.ID), "user_created": out.UserCreated}},
			trail.Event{Verb: "member.joined", ObjectType: "Membership", ObjectID: m.ID, Organization: inv.OrganizationID,
				Data: map[string]any{"user": string(u.ID), "roles": roles, "invitation": string(inv.ID)}})
		if err := trail.RecordAll(wctx, c, events); err != nil {
			return nil, err
		}
		out.Invitation, out.Membership = inv, m
		if out.User, err = c.User.Get(dsys, u.ID); err != nil {
			return nil, err
		}
		return out, nil
	})
}

// check finds the invitation of token raw and refuses one that is not
// pending; lock locks it for update (in a transaction), and then an
// expired one is marked expired, a mark the refusal keeps (txn.Keep).
func (s *Service) check(ctx context.Context, c *ent.Client, raw string, lock bool) (*ent.Invitation, error) {
	q := c.Invitation.Query().Where(invitation.TokenDigest(secret.DigestOf(raw)))
	if lock {
		q.Where(txn.ForUpdate)
	}
	inv, err := q.Only(system(ctx))
	switch {
	case ent.IsNotFound(err):
		return nil, ErrInvalidToken
	case err != nil:
		return nil, err
	}
	switch Status(inv, s.now()) {
	case invitation.StatusAccepted:
		return nil, ErrAccepted
	case invitation.StatusRevoked:
		return nil, ErrRevoked
	case invitation.StatusExpired:
		if lock && inv.Status == invitation.StatusPending {
			if _, err := s.expire(ctx, c, invitation.ID(inv.ID)); err != nil {
				return nil, err
			}
			return nil, txn.Keep(ErrExpired)
		}
		return nil, ErrExpired
	}
	return inv, nil
}

// takeBack ends every way into account uid but its (new) password: its
// sessions and refresh tokens, its personal API keys and its mailed links,
// as the system, recording session.revoked for each session.
func takeBack(ctx context.Context, c *ent.Client, uid pulid.ID, now time.Time) error {
	dctx := trail.Domain(ctx)
	ss, err := c.Session.Query().Where(entsession.UserID(uid), entsession.RevokedAtIsNil()).All(dctx)
	if err != nil {
		return err
	}
	if len(ss) > 0 {
		ids := make([]pulid.ID, len(ss))
		events := make([]trail.Event, len(ss))
		for i, x := range ss {
			ids[i] = x.ID
			events[i] = trail.Event{Verb: "session.revoked", ObjectType: "Session", ObjectID: x.ID,
				Data: map[string]any{"reason": "address_proven"}}
		}
		if err := c.Session.Update().Where(entsession.IDIn(ids...)).SetRevokedAt(now).SetRevokedReason("address_proven").Exec(dctx); err != nil {
			return err
		}
		if err := c.RefreshToken.Update().Where(refreshtoken.FamilyIDIn(ids...), refreshtoken.RevokedAtIsNil()).
			SetRevokedAt(now).SetRevokedReason("address_proven").Exec(dctx); err != nil {
			return err
		}
		if err := trail.RecordAll(ctx, c, events); err != nil {
			return err
		}
	}
	if err := c.APIKey.Update().Where(apikey.UserID(uid), apikey.OrganizationIDIsNil(), apikey.RevokedAtIsNil()).
		SetRevokedAt(now).Exec(dctx); err != nil {
		return err
	}
	return c.UserToken.Update().Where(usertoken.UserID(uid), usertoken.UsedAtIsNil()).SetUsedAt(now).Exec(dctx)
}
