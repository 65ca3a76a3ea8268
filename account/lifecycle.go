// Package account holds the platform's administration of user accounts:
// lifecycle transitions (pending, active, suspended, disabled, archived),
// single and in bulk, and bans with a reason and an optional end.
//
// Each function takes the ent client and a context carrying an actor with
// resolved grants (authz.NewContext), runs in one transaction, and relies on
// the User policy (platform:user_manage, on users of a lower platform rank
// only) and on the lifecycle hook of the schema, which enforces the
// transition graph for every write of cf_users.status, the ent client's
// included. Each applied change records an activity with a domain verb
// (user.suspended, user.banned, ...) and the status before and after.
//
// Leaving active, and a ban, revoke the user's sessions and personal API
// keys at once (in the same transaction); coming back revives neither.
package account

import (
	"errors"
	"fmt"
	"slices"
)

// Status is a lifecycle status of cf_users.status.
type Status string

// Statuses.
const (
	Pending   Status = "pending"
	Active    Status = "active"
	Suspended Status = "suspended"
	Disabled  Status = "disabled"
	Archived  Status = "archived"
)

// transitions is the lifecycle graph: the statuses each status may move to.
var transitions = map[Status][]Status{
	Pending:   {Active, Archived},
	Active:    {Suspended, Disabled, Archived},
	Suspended: {Active, Disabled, Archived},
	Disabled:  {Active, Archived},
	Archived:  {Active},
}

// CreatableStatuses are the statuses a new user may start in.
var CreatableStatuses = []Status{Pending, Active}

// Allowed reports whether the graph allows a move from one status to
// another (a status never moves to itself).
func Allowed(from, to Status) bool {
	return slices.Contains(transitions[from], to)
}

// Next returns the statuses from may move to.
func Next(from Status) []Status { return slices.Clone(transitions[from]) }

// ErrTransition is matched by a *TransitionError.
var ErrTransition = errors.New("account: transition not allowed")

// TransitionError refuses a status change the lifecycle graph does not
// allow.
type TransitionError struct {
	From, To Status
}

func (e *TransitionError) Error() string {
	if e.From == e.To {
		return fmt.Sprintf("account: the user is already %s", e.To)
	}
	if e.From == "" {
		return fmt.Sprintf("account: a new user starts pending or active, not %s", e.To)
	}
	next := Next(e.From)
	if len(next) == 0 {
		return fmt.Sprintf("account: a %s user cannot change status", e.From)
	}
	return fmt.Sprintf("account: a %s user cannot become %s (it may become %v)", e.From, e.To, next)
}

// Is reports whether target is ErrTransition.
func (e *TransitionError) Is(target error) bool { return target == ErrTransition }

// verb names the activity of a move to to.
func verb(from, to Status) string {
	switch to {
	case Active:
		if from == Pending {
			return "user.activated"
		}
		return "user.reactivated"
	case Suspended:
		return "user.suspended"
	case Disabled:
		return "user.disabled"
	case Archived:
		return "user.archived"
	}
	return "user.status_changed"
}
