package graph

import (
	"context"
	"errors"
	"time"

	"entgo.io/contrib/entgql"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/privacy"
	"github.com/cf/identity/graph/model"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/validation"
)

// activityActor is the actor of a as recorded.
func activityActor(a *ent.Activity) *model.ActivityActor {
	return &model.ActivityActor{Type: a.ActorType, UserID: a.ActorUserID, APIKeyID: a.ActorAPIKeyID, Display: a.ActorDisplay}
}

// userIfVisible returns the user of id when it exists and the viewer may
// read it, else nil: the trail keeps IDs of users that may be gone.
func (r *Resolver) userIfVisible(ctx context.Context, id *pulid.ID) (*ent.User, error) {
	if id == nil {
		return nil, nil
	}
	u, err := r.clientOf(ctx).User.Get(ctx, *id)
	if ent.IsNotFound(err) || errors.Is(err, privacy.Deny) {
		return nil, nil
	}
	return u, err
}

// activityFeedOrder is the order of the activities connection when the
// caller gives none: newest first (keyset paging on occurred at, then ID).
var activityFeedOrder = []*ent.ActivityOrder{{Field: ent.ActivityOrderFieldCreatedAt, Direction: "DESC"}}

// checkActivityRange refuses an inverted time range in an activity filter.
func checkActivityRange(w *ent.ActivityWhereInput) error {
	if w == nil {
		return nil
	}
	lo, hi := w.CreatedAtGTE, w.CreatedAtLT
	if lo == nil {
		lo = w.CreatedAtGT
	}
	if hi == nil {
		hi = w.CreatedAtLTE
	}
	if lo != nil && hi != nil && hi.Before(*lo) {
		return validation.Errorf("where.createdAt", "the time range is inverted: %s is after %s", lo.Format("2006-01-02T15:04:05Z07:00"), hi.Format("2006-01-02T15:04:05Z07:00"))
	}
	return nil
}

// activityKeysetBound adds to the query of a page after (or before) a
// cursor, ordered by occurred at alone, the bound on occurred at that the
// cursor implies. entgql's keyset predicate (t < v OR t = v AND id > x) is
// an OR the databases cannot start an index scan from; with the bound they
// start at the cursor, so page 1,000 costs what page 1 costs.
func activityKeysetBound(q *ent.ActivityQuery, orderBy []*ent.ActivityOrder, after, before *entgql.Cursor[pulid.ID]) {
	if len(orderBy) != 1 || orderBy[0].Field != ent.ActivityOrderFieldCreatedAt {
		return
	}
	desc := orderBy[0].Direction == entgql.OrderDirectionDesc
	bound := func(c *entgql.Cursor[pulid.ID], older bool) {
		if c == nil {
			return
		}
		t, ok := cursorTime(c.Value)
		if !ok {
			return
		}
		if older {
			q.Where(activity.CreatedAtLTE(t))
		} else {
			q.Where(activity.CreatedAtGTE(t))
		}
	}
	bound(after, desc)
	bound(before, !desc)
}

// cursorTime returns the occurred-at value a cursor of the activity order
// carries.
func cursorTime(v any) (time.Time, bool) {
	if vs, ok := v.([]any); ok && len(vs) == 1 {
		v = vs[0]
	}
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		return t, err == nil
	}
	return time.Time{}, false
}
