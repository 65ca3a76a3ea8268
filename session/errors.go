package session

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidCredentials is returned by Login for an unknown email and for
// a wrong password alike (and for an account without a password: any other
// answer would tell a stranger that the email has an account).
var ErrInvalidCredentials = errors.New("session: invalid email or password")

// ErrMasterKey is returned by New when the master key does not open the
// signing keys stored in the database (another server's key, or a lost
// key file).
var ErrMasterKey = errors.New("session: the master key does not open the stored signing keys")

// Errors of Refresh and Logout for a refresh token that does not continue
// a session. Each matches ErrInvalidRefreshToken.
var (
	ErrInvalidRefreshToken = errors.New("session: invalid refresh token")
	// ErrTokenReused: the token was used before (outside the grace
	// window); the session is revoked.
	ErrTokenReused error = refreshError("refresh token reused: the session is revoked, sign in again")
	// ErrSessionRevoked: the session was revoked (logout, an admin, or a
	// detected reuse).
	ErrSessionRevoked error = refreshError("session revoked, sign in again")
	// ErrSessionExpired: the session passed its idle or absolute lifetime.
	ErrSessionExpired error = refreshError("session expired, sign in again")
)

type refreshError string

func (e refreshError) Error() string        { return "session: " + string(e) }
func (e refreshError) Is(target error) bool { return target == ErrInvalidRefreshToken }

// Errors of Authenticate for an access token that does not authenticate.
// Each matches ErrInvalidAccessToken; the accesstoken package's reason
// (expired, bad signature, ...) is wrapped too.
var (
	ErrInvalidAccessToken = errors.New("session: invalid access token")
)

// ErrNotMember is returned by Login and SwitchOrganization for an
// organization the user is not an active member of (or that is not active).
var ErrNotMember = errors.New("session: not an active member of the organization")

// ErrWrongPassword is returned by ChangePassword when the current password
// is wrong. It counts as a failed sign-in.
var ErrWrongPassword = errors.New("session: the current password is wrong")

// ErrPasswordUnchanged is returned by ChangePassword when the new password
// is the current one.
var ErrPasswordUnchanged = errors.New("session: the new password is the current one")

// ErrLocked is matched by a *LockedError.
var ErrLocked = errors.New("session: account locked")

// LockedError refuses a sign-in of an account locked after too many failed
// logins. It says nothing about the password.
type LockedError struct{ Until time.Time }

func (e *LockedError) Error() string {
	return fmt.Sprintf("session: account locked after too many failed logins until %s", e.Until.UTC().Format(time.RFC3339))
}

// Is reports whether target is ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// ErrCannotSignIn is matched by a *StateError.
var ErrCannotSignIn = errors.New("session: account cannot sign in")

// Reasons of a StateError.
const (
	ReasonBanned    = "banned"
	ReasonSuspended = "suspended"
	ReasonDisabled  = "disabled"
	ReasonArchived  = "archived"
	ReasonPending   = "pending"
)

// StateError refuses a sign-in (or a refresh) of a user whose account may
// not sign in: banned (Until is the end of the ban, zero when permanent),
// suspended, disabled, archived or pending. Login returns it only after
// the password proved right.
type StateError struct {
	Reason string
	Until  time.Time
}

func (e *StateError) Error() string {
	switch {
	case e.Reason == ReasonBanned && !e.Until.IsZero():
		return fmt.Sprintf("session: account banned until %s", e.Until.UTC().Format(time.RFC3339))
	case e.Reason == ReasonBanned:
		return "session: account banned"
	case e.Reason == ReasonPending:
		return "session: account not activated yet"
	}
	return "session: account " + e.Reason
}

// Is reports whether target is ErrCannotSignIn.
func (e *StateError) Is(target error) bool { return target == ErrCannotSignIn }
