// Package mailtest holds a mail.Mailer for tests that keeps every message
// it is given, and waits for the messages the flows send after their
// transactions commit.
package mailtest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cf/identity/mail"
)

// Wait is how long Mailbox.Wait waits for a message: the flows mail after
// their transaction commits (a password reset after its answer is sent),
// through the outbox's workers.
const Wait = 10 * time.Second

// Mailbox is a mail.Mailer that keeps every message. Its zero value is
// ready; it is safe for concurrent use.
type Mailbox struct {
	mu   sync.Mutex
	msgs []mail.Message
}

// Send keeps m.
func (b *Mailbox) Send(_ context.Context, m mail.Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = append(b.msgs, m)
	return nil
}

// Of returns the messages of kind sent to addr so far.
func (b *Mailbox) Of(addr, kind string) []mail.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []mail.Message
	for _, m := range b.msgs {
		if m.To == addr && m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// All returns every message sent so far.
func (b *Mailbox) All() []mail.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.msgs)
}

// Wait polls until the n-th message (1-based) of kind to addr arrived and
// returns it; it fails the test after Wait, naming the mail that came.
func (b *Mailbox) Wait(t testing.TB, addr, kind string, n int) mail.Message {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for {
		if ms := b.Of(addr, kind); len(ms) >= n {
			return ms[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s message #%d to %s within %s; mail sent: %v", kind, n, addr, Wait, Summary(b.All()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Summary names each message of ms by kind and recipient, for a test's
// failure message.
func Summary(ms []mail.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Kind+" to "+m.To)
	}
	return out
}
