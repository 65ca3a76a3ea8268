package invitation

import (
	"errors"
	"fmt"
)

// ErrInvalidToken is returned by Accept for a token that is malformed or
// names no invitation. Every other refusal of a token matches it too:
// ErrAccepted, ErrRevoked and ErrExpired.
var ErrInvalidToken = errors.New("invitation: unknown or malformed invitation token")

// Refusals of Accept for a token that names an invitation that is no
// longer pending. Each matches ErrInvalidToken.
var (
	// ErrAccepted: the invitation was accepted before (tokens are
	// single-use).
	ErrAccepted error = tokenError("the invitation was already accepted")
	// ErrRevoked: an administrator revoked the invitation.
	ErrRevoked error = tokenError("the invitation was revoked")
	// ErrExpired: the invitation passed its expiry; an administrator can
	// resend it.
	ErrExpired error = tokenError("the invitation expired; ask for it to be sent again")
)

type tokenError string

func (e tokenError) Error() string        { return "invitation: " + string(e) }
func (e tokenError) Is(target error) bool { return target == ErrInvalidToken }

// ErrPending is returned by Invite (and Resend of an expired invitation)
// when the organization already has a pending invitation for the email:
// resend that one instead. GraphQL answers CONFLICT.
var ErrPending = errors.New("invitation: this email already has a pending invitation to the organization; resend it instead")

// ErrAlreadyMember is returned by Invite and Accept when the email's user
// is a member of the organization already. GraphQL answers CONFLICT.
var ErrAlreadyMember = errors.New("invitation: the user is already a member of the organization")

// ErrEmailMismatch is returned by Accept when a signed-in user accepts an
// invitation sent to another address.
var ErrEmailMismatch = errors.New("invitation: the invitation was sent to another email address than yours")

// ErrNotPending is matched by a *StateError.
var ErrNotPending = errors.New("invitation: not pending")

// StateError refuses to resend or revoke an invitation that was accepted
// or revoked (Status).
type StateError struct{ Status string }

func (e *StateError) Error() string {
	return fmt.Sprintf("invitation: the invitation is %s; only a pending or expired invitation can be resent or revoked", e.Status)
}

// Is reports whether target is ErrNotPending.
func (e *StateError) Is(target error) bool { return target == ErrNotPending }
