// Package bypass is the one audited place where a write is allowed past the
// privacy policies. It is used for exactly three writes, each of which is
// itself authorized and recorded:
//
//   - the activity rows written after an authorized mutation, by the audit
//     hook or by a flow that records its own verbs (both through package
//     trail);
//   - the owner membership of a new organization, created for the user who
//     was just allowed to create that organization;
//   - the deletion of activity rows older than the retention period, by the
//     retention job (trail.Prune, run by `identity activity prune`), which
//     records what it deleted in the trail. Nothing else deletes or updates
//     an activity: the Activity policy denies it to every actor.
//
// Adding a caller needs a review of why the policies cannot express it.
package bypass

import (
	"context"

	"github.com/cf/identity/ent/privacy"
)

// Reason names a permitted bypass.
type Reason string

// The permitted bypasses.
const (
	AuditRecord   Reason = "audit record"
	CreatorOwner  Reason = "creator becomes owner"
	ActivityPrune Reason = "activity retention"
)

// Allow returns a context whose next ent operations skip the privacy
// policies. Use it for the single write named by reason, never for a
// caller-provided operation.
//
// On PostgreSQL the reason also reaches the row-level security policies
// (storage sets cf.bypass from ReasonFrom for the statements of this
// context), which let each reason through for its own write only: an
// activity insert (AuditRecord), the creator's owner membership and its
// owner role (CreatorOwner), an activity delete (ActivityPrune).
func Allow(ctx context.Context, reason Reason) context.Context {
	ctx = context.WithValue(ctx, reasonKey{}, reason)
	return privacy.DecisionContext(ctx, privacy.Allow)
}

type reasonKey struct{}

// ReasonFrom returns the reason of a context built by Allow.
func ReasonFrom(ctx context.Context) (Reason, bool) {
	r, ok := ctx.Value(reasonKey{}).(Reason)
	return r, ok
}
