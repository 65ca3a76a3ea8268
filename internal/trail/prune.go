package trail

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cf/identity/activitylog"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/activitychain"
	"github.com/cf/identity/internal/bypass"
	"github.com/cf/identity/internal/txn"
	"github.com/cf/identity/pulid"
)

// ErrBadBatch is returned by Prune for a batch size out of range.
var ErrBadBatch = errors.New("trail: the batch size must be between 1 and 10000")

// PruneResult tells what Prune deleted, per chain.
type PruneResult struct {
	// Deleted counts the rows deleted per chain; chains without old rows
	// are left out.
	Deleted map[string]int64
	// Anchor is each pruned chain's new anchor: the position of its newest
	// deleted row.
	Anchor map[string]int64
}

// Prune deletes the activities that occurred before cutoff, chain by
// chain, oldest first, in transactions of at most batch rows, each of which
// also moves the chain's anchor past the deleted rows, so the chain stays
// verifiable from its new start. A chain's rows are deleted as a prefix:
// the first row at or after cutoff ends it. Each pruned chain gets an
// "activity.pruned" row in the platform chain (the actor of ctx: the
// system). It is the one way rows leave the trail (package bypass).
func Prune(ctx context.Context, client *ent.Client, cutoff time.Time, batch int) (*PruneResult, error) {
	if batch < 1 || batch > 10000 {
		return nil, fmt.Errorf("%w: %d", ErrBadBatch, batch)
	}
	a := actor.FromContext(ctx)
	if !a.IsSystem() {
		return nil, fmt.Errorf("trail: prune needs the system actor, not %s", a)
	}
	chains, err := client.ActivityChain.Query().IDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("trail: prune: listing chains: %w", err)
	}
	res := &PruneResult{Deleted: map[string]int64{}, Anchor: map[string]int64{}}
	for _, chain := range chains {
		// The end of the prefix: the position before the first row that
		// occurred at or after cutoff (or the newest row).
		end := int64(-1)
		keep, err := client.Activity.Query().Where(activity.Chain(chain), activity.CreatedAtGTE(cutoff)).
			Order(ent.Asc(activity.FieldSeq)).Select(activity.FieldSeq).First(ctx)
		switch {
		case err == nil:
			end = keep.Seq - 1
		case !ent.IsNotFound(err):
			return res, fmt.Errorf("trail: prune: chain %s: %w", chain, err)
		}
		for {
			n, anchor, err := pruneBatch(ctx, client, chain, end, batch)
			if err != nil {
				return res, fmt.Errorf("trail: prune: chain %s: %w", chain, err)
			}
			if n == 0 {
				break
			}
			res.Deleted[chain] += n
			res.Anchor[chain] = anchor
		}
		if res.Deleted[chain] > 0 {
			var org pulid.ID
			if chain != activitylog.PlatformChain {
				org = pulid.ID(chain)
			}
			err := Record(ctx, client, Event{Verb: "activity.pruned", ObjectType: "ActivityChain", ObjectID: pulid.ID(chain),
				Data: map[string]any{"chain": chain, "organization_id": string(org), "deleted": res.Deleted[chain],
					"anchor_seq": res.Anchor[chain], "before": activitylog.FormatTime(cutoff)}})
			if err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// pruneBatch deletes the oldest rows of chain after its anchor, at most
// batch of them and none past position end (-1: no end), and moves the
// anchor to the newest deleted row, in one transaction under the chain
// head's lock.
func pruneBatch(ctx context.Context, client *ent.Client, chain string, end int64, batch int) (int64, int64, error) {
	type out struct{ n, anchor int64 }
	o, err := txn.Run(ctx, client, func(c *ent.Client) (out, error) {
		head, err := c.ActivityChain.Query().Where(activitychain.ID(chain), txn.ForUpdate).Only(ctx)
		if err != nil {
			return out{}, err
		}
		q := c.Activity.Query().Where(activity.Chain(chain), activity.SeqGT(head.AnchorSeq))
		if end >= 0 {
			q.Where(activity.SeqLTE(end))
		}
		rows, err := q.Order(ent.Asc(activity.FieldSeq)).Limit(batch).
			Select(activity.FieldSeq, activity.FieldHash).All(ctx)
		if err != nil || len(rows) == 0 {
			return out{}, err
		}
		last := rows[len(rows)-1]
		n, err := c.Activity.Delete().
			Where(activity.Chain(chain), activity.SeqGT(head.AnchorSeq), activity.SeqLTE(last.Seq)).
			Exec(bypass.Allow(ctx, bypass.ActivityPrune))
		if err != nil {
			return out{}, err
		}
		if err := c.ActivityChain.UpdateOneID(chain).SetAnchorSeq(last.Seq).SetAnchorHash(last.Hash).Exec(ctx); err != nil {
			return out{}, err
		}
		return out{int64(n), last.Seq}, nil
	})
	return o.n, o.anchor, err
}
