package apikey

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/apikey"
	"github.com/cf/identity/pulid"
)

// usageReason names the system actor that writes a key's last use.
const usageReason = "api key usage"

// UsageInterval is how stale a key's recorded last use may get before a use
// is written again: a key used all day is written once per interval, not
// once per request.
const UsageInterval = time.Minute

// DefaultFlushInterval is how often a UsageRecorder writes the uses it
// collected when UsageOptions.FlushInterval is 0.
const DefaultFlushInterval = 10 * time.Second

// maxPending is how many keys a UsageRecorder collects before it writes
// without waiting for the interval (unless the last write failed); past
// twice as many, further uses are dropped until a write succeeds (last use
// is telemetry, not state).
const maxPending = 4096

// due reports whether a key last used at last (nil: never) has a use to
// record at now.
func due(last *time.Time, now time.Time) bool {
	return last == nil || now.Sub(*last) > UsageInterval
}

// UsageOptions configure a UsageRecorder.
type UsageOptions struct {
	// FlushInterval is how often collected uses are written;
	// DefaultFlushInterval when 0.
	FlushInterval time.Duration
	// Logger receives the errors of background writes; slog.Default()
	// when nil.
	Logger *slog.Logger
}

// UsageRecorder authenticates API keys without writing on the caller's
// path: a key's last use is collected in memory and written in the
// background, every FlushInterval, one update per key used since the last
// write, each on its own (no transaction holds several keys' rows). The
// recorded time is the key's latest use in that interval; a key whose
// stored last use is younger than UsageInterval is not collected. Uses
// collected but not written are lost if the process dies before Close; at
// most 2 × 4096 keys wait at a time.
//
// A UsageRecorder is safe for concurrent use. Close it to stop the
// background writer and write what is left.
type UsageRecorder struct {
	client *ent.Client
	log    *slog.Logger

	mu      sync.Mutex
	pending map[pulid.ID]time.Time
	closed  bool
	failing bool // the last write failed: no early write until one succeeds

	kick   chan struct{}
	cancel context.CancelFunc // stops the background writer
	done   chan struct{}
}

// NewUsageRecorder starts a recorder writing to client. Its background
// writes carry the values of ctx, not its cancellation: the writer runs
// until Close.
func NewUsageRecorder(ctx context.Context, client *ent.Client, opts UsageOptions) *UsageRecorder {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &UsageRecorder{
		client:  client,
		log:     opts.Logger,
		pending: map[pulid.ID]time.Time{},
		kick:    make(chan struct{}, 1),
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go r.run(ctx, opts.FlushInterval)
	return r
}

// Authenticate is the package's Authenticate with the use collected for the
// background writer instead of written: it costs one statement and writes
// nothing. After Close, a due use is written on the caller's path, as
// without a recorder.
func (r *UsageRecorder) Authenticate(ctx context.Context, token string, now time.Time) (*actor.Actor, error) {
	a, last, err := lookup(ctx, r.client, token, now)
	if err != nil {
		return nil, err
	}
	if due(last, now) && !r.collect(a.APIKeyID(), now) {
		_ = recordUse(actor.NewContext(ctx, actor.System(usageReason)), r.client, map[pulid.ID]time.Time{a.APIKeyID(): now})
	}
	return a, nil
}

// collect notes a use of key at t; it reports false after Close.
func (r *UsageRecorder) collect(key pulid.ID, t time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.add(key, t)
	if len(r.pending) >= maxPending && !r.failing {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// add keeps the latest use of key, within the bound; r.mu is held.
func (r *UsageRecorder) add(key pulid.ID, t time.Time) {
	if old, ok := r.pending[key]; ok {
		if t.After(old) {
			r.pending[key] = t
		}
		return
	}
	if len(r.pending) < 2*maxPending {
		r.pending[key] = t
	}
}

// Pending returns how many keys have a use collected and not yet written.
func (r *UsageRecorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Flush writes the collected uses now, within ctx. On error they are kept
// for the next write (unless newer uses replaced them).
func (r *UsageRecorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	batch := r.pending
	if len(batch) == 0 {
		r.mu.Unlock()
		return nil
	}
	r.pending = make(map[pulid.ID]time.Time, len(batch))
	r.mu.Unlock()
	err := recordUse(actor.NewContext(ctx, actor.System(usageReason)), r.client, batch)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing = err != nil
	if err != nil {
		for k, t := range batch {
			r.add(k, t)
		}
	}
	return err
}

// Close stops the background writer (cancelling a write it has under way)
// and writes what is left, within ctx. Later calls only write what is left.
func (r *UsageRecorder) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	select {
	case <-r.done:
	case <-ctx.Done():
		return fmt.Errorf("apikey: closing the usage recorder: %w", ctx.Err())
	}
	return r.Flush(ctx)
}

func (r *UsageRecorder) run(ctx context.Context, every time.Duration) {
	defer close(r.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.kick:
		}
		wctx, cancel := context.WithTimeout(ctx, every)
		if err := r.Flush(wctx); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "recording API key use failed; retrying at the next interval", "error", err, "keys", r.Pending())
		}
		cancel()
	}
}

// recordUse writes each key's last use, one update per key in the order of
// their IDs, never moving a use back in time; a key deleted meanwhile is
// skipped. It stops at the first error; the keys written before it keep
// their write. ctx carries the system actor; last_used_at is a quiet field,
// so the trail records nothing.
func recordUse(ctx context.Context, client *ent.Client, uses map[pulid.ID]time.Time) error {
	ids := make([]pulid.ID, 0, len(uses))
	for id := range uses {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		t := uses[id]
		err := client.APIKey.Update().
			Where(apikey.ID(id), apikey.Or(apikey.LastUsedAtIsNil(), apikey.LastUsedAtLT(t))).
			SetLastUsedAt(t).
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("apikey: recording the use of %s: %w", id, err)
		}
	}
	return nil
}
