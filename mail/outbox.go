package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of OutboxOptions.
const (
	DefaultAttempts = 5
	DefaultBackoff  = time.Second
	MaxBackoff      = time.Minute
	DefaultQueue    = 1000
	DefaultWorkers  = 2
)

// OutboxOptions configures NewOutbox. Zero or negative fields mean their
// defaults.
type OutboxOptions struct {
	// Attempts is how many times a message is tried in all (1: no retry);
	// default 5.
	Attempts int
	// Backoff is the delay before the second attempt, doubling for each
	// attempt after, capped at MaxBackoff (1m); default 1s.
	Backoff time.Duration
	// Queue is how many messages may wait; default 1000. When it is full,
	// Enqueue drops the message.
	Queue int
	// Workers is how many messages are sent at once; default 2.
	Workers int
}

// Outbox sends messages in the background, so that a flow sends its email
// after its transaction has committed without waiting for the mail server,
// and without failing when the mail server does. Make one with NewOutbox;
// it is safe for concurrent use.
//
// A failed attempt is logged at WARN ("mail send failed", with kind, to,
// attempt and error; never the link or the body) and tried again after the
// backoff, up to Attempts times in all. A message that cannot succeed is not
// tried again: an error matching ErrMessage (a malformed message), or a
// *SendError that is not Temporary (a 5xx reply, a certificate that does not
// verify). Every other error, from any Mailer, is tried again. A message
// given up is logged at ERROR ("mail not sent"); one sent after a failure
// is logged at INFO ("mail sent").
//
// The outbox is in process: a message still queued when the process stops is
// lost. The flows that send mail let a person ask again (resend the
// invitation, request another reset).
type Outbox struct {
	mailer   Mailer
	log      *slog.Logger
	attempts int
	backoff  time.Duration

	queue chan outboxItem

	// ctx is the context of every Send and backoff; cancelled when Close
	// gives up waiting.
	ctx     context.Context
	abandon context.CancelFunc
	workers sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	seq      uint64              // sequence number of the last message enqueued
	pending  map[uint64]struct{} // enqueued, neither sent nor given up
	progress chan struct{}       // closed and replaced when a message leaves pending
}

type outboxItem struct {
	seq uint64
	msg Message
}

// NewOutbox returns an Outbox that sends through m and logs to log (nil
// means slog.Default()), and starts its workers. Stop it with Close.
func NewOutbox(m Mailer, log *slog.Logger, opts OutboxOptions) *Outbox {
	if m == nil {
		panic("mail: NewOutbox with a nil Mailer")
	}
	if log == nil {
		log = slog.Default()
	}
	if opts.Attempts <= 0 {
		opts.Attempts = DefaultAttempts
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := &Outbox{
		mailer:   m,
		log:      log,
		attempts: opts.Attempts,
		backoff:  min(opts.Backoff, MaxBackoff),
		queue:    make(chan outboxItem, opts.Queue),
		ctx:      ctx,
		abandon:  cancel,
		pending:  map[uint64]struct{}{},
		progress: make(chan struct{}),
	}
	o.workers.Add(opts.Workers)
	for range opts.Workers {
		go o.work()
	}
	return o
}

// Enqueue queues m for sending and returns at once. It returns false, and
// logs an error, when m is dropped: the queue is full ("mail queue full")
// or the outbox is closed ("mail outbox closed"). It never blocks on the
// mail server.
func (o *Outbox) Enqueue(m Message) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		o.log.Error("mail outbox closed", "kind", m.Kind, "to", m.To)
		return false
	}
	item := outboxItem{seq: o.seq + 1, msg: m}
	select {
	case o.queue <- item:
	default:
		o.log.Error("mail queue full", "kind", m.Kind, "to", m.To, "queue", cap(o.queue))
		return false
	}
	o.seq = item.seq
	o.pending[item.seq] = struct{}{}
	return true
}

// Flush waits until every message enqueued before the call was sent or
// given up, or ctx ends (then it returns ctx.Err()). Messages enqueued
// meanwhile are not waited for. It is for tests, and for commands that exit
// right after sending.
func (o *Outbox) Flush(ctx context.Context) error {
	o.mu.Lock()
	last := o.seq
	o.mu.Unlock()
	for {
		o.mu.Lock()
		done := true
		for seq := range o.pending {
			if seq <= last {
				done = false
				break
			}
		}
		progress := o.progress
		o.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops accepting messages (Enqueue returns false from then on) and
// waits until the queued ones are sent or given up, retries included. If
// ctx ends first, Close cancels the sends in progress and the backoffs,
// abandons the messages not sent, logs their number at ERROR ("mail outbox
// closed with messages unsent") and returns an error wrapping ctx.Err().
// Calling Close again waits again.
func (o *Outbox) Close(ctx context.Context) error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.queue)
	}
	o.mu.Unlock()

	done := make(chan struct{})
	go func() {
		o.workers.Wait()
		close(done)
	}()
	select {
	case <-done:
		o.abandon()
		return nil
	case <-ctx.Done():
	}
	// Counted before abandoning: once abandoned, the workers drop what is
	// left, and pending empties (the count read after it raced them).
	o.mu.Lock()
	n := len(o.pending)
	o.mu.Unlock()
	o.abandon()
	o.log.Error("mail outbox closed with messages unsent", "unsent", n)
	return fmt.Errorf("mail: outbox closed with %d messages unsent: %w", n, ctx.Err())
}

func (o *Outbox) work() {
	defer o.workers.Done()
	for item := range o.queue {
		o.deliver(item.msg)
		o.mu.Lock()
		delete(o.pending, item.seq)
		close(o.progress)
		o.progress = make(chan struct{})
		o.mu.Unlock()
	}
}

// deliver tries m until it is sent, cannot succeed, or runs out of
// attempts, or the outbox is abandoned.
func (o *Outbox) deliver(m Message) {
	delay := o.backoff
	for attempt := 1; ; attempt++ {
		if o.ctx.Err() != nil {
			return // abandoned; Close logs the count
		}
		err := o.mailer.Send(o.ctx, m)
		if err == nil {
			if attempt > 1 {
				o.log.Info("mail sent", "kind", m.Kind, "to", m.To, "attempt", attempt)
			}
			return
		}
		if o.ctx.Err() != nil {
			return
		}
		permanent := isPermanent(err)
		if permanent || attempt >= o.attempts {
			o.log.Error("mail not sent", "kind", m.Kind, "to", m.To, "attempt", attempt,
				"permanent", permanent, "error", err.Error())
			return
		}
		o.log.Warn("mail send failed", "kind", m.Kind, "to", m.To, "attempt", attempt,
			"retry_in", delay, "error", err.Error())
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-o.ctx.Done():
			t.Stop()
			return
		}
		delay = min(2*delay, MaxBackoff)
	}
}

// isPermanent reports whether sending again cannot help.
func isPermanent(err error) bool {
	if errors.Is(err, ErrMessage) {
		return true
	}
	var se *SendError
	return errors.As(err, &se) && !se.Temporary
}
