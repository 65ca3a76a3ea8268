package apikey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
// without waiting for the interval; past twice as many, further uses are
// dropped until the write is done (last use is telemetry, not state).
const maxPending = 4096

// ErrRecorderClosed is returned by UsageRecorder.Authenticate after Close.
var ErrRecorderClosed = errors.New("apikey: usage recorder closed")

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
// background, every FlushInterval, one transaction for all keys used since
// the last write. The recorded time is the key's latest use in that
// interval; a key whose stored last use is younger than UsageInterval is not
// collected. Uses collected but not written are lost if the process dies
// before Close.
//
// A UsageRecorder is safe for concurrent use. Close it to stop the
// background writer and write what is left.
type UsageRecorder struct {
	client *ent.Client
	log    *slog.Logger

	mu      sync.Mutex
	pending map[pulid.ID]time.Time
	closed  bool

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// NewUsageRecorder starts a recorder writing to client.
func NewUsageRecorder(client *ent.Client, opts UsageOptions) *UsageRecorder {
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &UsageRecorder{
		client:  client,
		log:     opts.Logger,
		pending: map[pulid.ID]time.Time{},
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go r.run(opts.FlushInterval)
	return r
}

// Authenticate is the package's Authenticate with the use collected for the
// background writer instead of written: it costs one statement and writes
// nothing. After Close it fails with ErrRecorderClosed.
func (r *UsageRecorder) Authenticate(ctx context.Context, token string, now time.Time) (*actor.Actor, error) {
	a, last, err := lookup(ctx, r.client, token, now)
	if err != nil {
		return nil, err
	}
	if due(last, now) {
		if !r.collect(a.APIKeyID(), now) {
			return nil, ErrRecorderClosed
		}
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
	if old, ok := r.pending[key]; ok {
		if t.After(old) {
			r.pending[key] = t
		}
		return true
	}
	if len(r.pending) >= 2*maxPending {
		return true // dropped: the writer is behind
	}
	r.pending[key] = t
	if len(r.pending) >= maxPending {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// Pending returns how many keys have a use collected and not yet written.
func (r *UsageRecorder) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// Flush writes the collected uses now. On error they are kept for the next
// write (unless newer uses replaced them).
func (r *UsageRecorder) Flush(ctx context.Context) error {
	r.mu.Lock()
	batch := r.pending
	r.pending = make(map[pulid.ID]time.Time, len(batch))
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := recordUse(actor.NewContext(ctx, actor.System(usageReason)), r.client, batch)
	if err != nil {
		r.mu.Lock()
		for k, t := range batch {
			if cur, ok := r.pending[k]; !ok || t.After(cur) {
				r.pending[k] = t
			}
		}
		r.mu.Unlock()
	}
	return err
}

// Close stops the background writer and writes what is left, within ctx.
// It is safe to call more than once.
func (r *UsageRecorder) Close(ctx context.Context) error {
	r.mu.Lock()
	already := r.closed
	r.closed = true
	r.mu.Unlock()
	if !already {
		close(r.stop)
	}
	<-r.done
	return r.Flush(ctx)
}

func (r *UsageRecorder) run(every time.Duration) {
	defer close(r.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		case <-r.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		if err := r.Flush(ctx); err != nil {
			r.log.Warn("recording API key use failed; retrying at the next interval", "error", err, "keys", r.Pending())
		}
		cancel()
	}
}

// recordUse writes each key's last use in one transaction, never moving it
// back in time. A key deleted meanwhile is skipped. ctx carries the system
// actor; last_used_at is a quiet field, so the trail records nothing.
func recordUse(ctx context.Context, client *ent.Client, uses map[pulid.ID]time.Time) error {
	update := func(c *ent.Client, id pulid.ID, t time.Time) error {
		err := c.APIKey.Update().
			Where(apikey.ID(id), apikey.Or(apikey.LastUsedAtIsNil(), apikey.LastUsedAtLT(t))).
			SetLastUsedAt(t).
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("apikey: recording the use of %s: %w", id, err)
		}
		return nil
	}
	if len(uses) == 1 {
		for id, t := range uses {
			return update(client, id, t)
		}
	}
	tx, err := client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("apikey: recording use: %w", err)
	}
	for id, t := range uses {
		if err := update(tx.Client(), id, t); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("apikey: recording use: %w", err)
	}
	return nil
}
