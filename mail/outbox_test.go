package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cf/identity/mail"
)

// logBuffer collects the JSON lines of a slog.Logger, safely across
// goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// records returns the logged records with message msg.
func (l *logBuffer) records(t *testing.T, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

func newLogger(t *testing.T) (*slog.Logger, *logBuffer) {
	t.Helper()
	buf := &logBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// scriptMailer fails each message with errs[attempt-1] while there are
// errors left, then succeeds; it counts attempts per message (by Subject).
type scriptMailer struct {
	errs []error

	mu       sync.Mutex
	attempts map[string]int
	sent     map[string]int
}

func (s *scriptMailer) Send(ctx context.Context, m mail.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attempts == nil {
		s.attempts, s.sent = map[string]int{}, map[string]int{}
	}
	s.attempts[m.Subject]++
	if n := s.attempts[m.Subject]; n <= len(s.errs) {
		return s.errs[n-1]
	}
	s.sent[m.Subject]++
	return nil
}

func (s *scriptMailer) counts(subject string) (attempts, sent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[subject], s.sent[subject]
}

// blockingMailer blocks every Send until release is closed or ctx ends.
type blockingMailer struct {
	started chan string // receives each Subject as its Send starts
	release chan struct{}

	mu   sync.Mutex
	sent int
}

func newBlockingMailer() *blockingMailer {
	return &blockingMailer{started: make(chan string, 100), release: make(chan struct{})}
}

func (b *blockingMailer) Send(ctx context.Context, m mail.Message) error {
	b.started <- m.Subject
	select {
	case <-b.release:
		b.mu.Lock()
		b.sent++
		b.mu.Unlock()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *blockingMailer) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sent
}

func newOutbox(t *testing.T, m mail.Mailer, log *slog.Logger, opts mail.OutboxOptions) *mail.Outbox {
	t.Helper()
	o := mail.NewOutbox(m, log, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = o.Close(ctx)
	})
	return o
}

func flush(t *testing.T, o *mail.Outbox) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func TestOutboxRetries(t *testing.T) {
	temporary := &mail.SendError{Host: "mail.example.com:587", Stage: "data", Code: 451, Temporary: true, Err: errors.New("try later")}
	permanent := &mail.SendError{Host: "mail.example.com:587", Stage: "rcpt", Code: 550, Err: errors.New("no such user")}
	tests := []struct {
		name         string
		errs         []error
		attempts     int // OutboxOptions.Attempts
		wantAttempts int
		wantSent     int
		wantWarn     int // "mail send failed"
		wantGiveUp   bool
	}{
		{"fails twice, then succeeds", []error{temporary, temporary}, 5, 3, 1, 2, false},
		{"unknown errors are retried", []error{errors.New("boom")}, 5, 2, 1, 1, false},
		{"permanent failure gives up at once", []error{permanent}, 5, 1, 0, 0, true},
		{"malformed message gives up at once", []error{fmt.Errorf("%w: bad To", mail.ErrMessage)}, 5, 1, 0, 0, true},
		{"temporary failures until the attempts run out", []error{temporary, temporary, temporary, temporary}, 3, 3, 0, 2, true},
		{"one attempt means no retry", []error{temporary}, 1, 1, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, logs := newLogger(t)
			m := &scriptMailer{errs: tt.errs}
			o := newOutbox(t, m, log, mail.OutboxOptions{Attempts: tt.attempts, Backoff: time.Millisecond})
			msg := mail.Message{Kind: mail.KindInvitation, To: "ada@example.org", Subject: "s1",
				Text: "secret body", Link: "https://id.example.com/i?token=tok_secret"}
			if !o.Enqueue(msg) {
				t.Fatal("Enqueue returned false")
			}
			flush(t, o)
			attempts, sent := m.counts("s1")
			if attempts != tt.wantAttempts || sent != tt.wantSent {
				t.Errorf("%d attempts, sent %d times; want %d and %d", attempts, sent, tt.wantAttempts, tt.wantSent)
			}
			warns := logs.records(t, "mail send failed")
			if len(warns) != tt.wantWarn {
				t.Errorf("%d warnings, want %d:\n%s", len(warns), tt.wantWarn, logs)
			}
			for i, w := range warns {
				if w["level"] != "WARN" || w["kind"] != mail.KindInvitation || w["to"] != "ada@example.org" ||
					w["attempt"] != float64(i+1) || w["error"] == nil {
					t.Errorf("warning %d = %v, want level WARN with kind, to, attempt %d, error", i, w, i+1)
				}
			}
			if giveUp := logs.records(t, "mail not sent"); (len(giveUp) == 1) != tt.wantGiveUp || (tt.wantGiveUp && giveUp[0]["level"] != "ERROR") {
				t.Errorf("give-up records %v, want one at ERROR: %v", giveUp, tt.wantGiveUp)
			}
			if s := logs.String(); strings.Contains(s, "tok_secret") || strings.Contains(s, "secret body") {
				t.Errorf("the log shows the link or the body:\n%s", s)
			}
		})
	}
}

func TestOutboxBackoffDoubles(t *testing.T) {
	log, logs := newLogger(t)
	temporary := &mail.SendError{Temporary: true, Err: errors.New("busy")}
	m := &scriptMailer{errs: []error{temporary, temporary, temporary}}
	o := newOutbox(t, m, log, mail.OutboxOptions{Backoff: 2 * time.Millisecond})
	o.Enqueue(mail.Message{Subject: "s"})
	flush(t, o)
	var delays []string
	for _, r := range logs.records(t, "mail send failed") {
		delays = append(delays, fmt.Sprint(r["retry_in"]))
	}
	// JSON logs durations in nanoseconds.
	if want := []string{"2e+06", "4e+06", "8e+06"}; fmt.Sprint(delays) != fmt.Sprint(want) {
		t.Errorf("retry delays %v, want %v", delays, want)
	}
}

func TestOutboxFlushWaits(t *testing.T) {
	log, _ := newLogger(t)
	m := newBlockingMailer()
	o := newOutbox(t, m, log, mail.OutboxOptions{Workers: 1})
	o.Enqueue(mail.Message{Subject: "a"})
	o.Enqueue(mail.Message{Subject: "b"})
	<-m.started

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := o.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with both messages blocked = %v, want DeadlineExceeded", err)
	}
	if n := m.count(); n != 0 {
		t.Fatalf("%d sent while blocked", n)
	}
	close(m.release)
	flush(t, o)
	if n := m.count(); n != 2 {
		t.Errorf("after Flush %d sent, want 2", n)
	}
	// Nothing pending: Flush returns at once.
	flush(t, o)
}

func TestOutboxCloseDrains(t *testing.T) {
	log, _ := newLogger(t)
	m := &scriptMailer{errs: []error{&mail.SendError{Temporary: true, Err: errors.New("busy")}}}
	o := mail.NewOutbox(m, log, mail.OutboxOptions{Backoff: time.Millisecond, Workers: 3})
	for i := range 20 {
		if !o.Enqueue(mail.Message{Subject: fmt.Sprint(i)}) {
			t.Fatalf("Enqueue %d returned false", i)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := o.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i := range 20 {
		if attempts, sent := m.counts(fmt.Sprint(i)); attempts != 2 || sent != 1 {
			t.Errorf("message %d: %d attempts, sent %d times; want 2 and 1", i, attempts, sent)
		}
	}
	if o.Enqueue(mail.Message{Subject: "late"}) {
		t.Error("Enqueue after Close returned true")
	}
	if err := o.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOutboxCloseAbandons(t *testing.T) {
	log, logs := newLogger(t)
	m := newBlockingMailer()
	o := mail.NewOutbox(m, log, mail.OutboxOptions{Workers: 1})
	for _, s := range []string{"a", "b", "c"} {
		o.Enqueue(mail.Message{Subject: s})
	}
	<-m.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := o.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "3 messages unsent") {
		t.Fatalf("Close = %v, want DeadlineExceeded and 3 messages unsent", err)
	}
	recs := logs.records(t, "mail outbox closed with messages unsent")
	if len(recs) != 1 || recs[0]["unsent"] != float64(3) || recs[0]["level"] != "ERROR" {
		t.Errorf("log %v, want one ERROR with unsent=3", recs)
	}
	// The send in progress was cancelled through its context; the rest are
	// never tried.
	flush(t, o)
	if n := m.count(); n != 0 {
		t.Errorf("%d sent after Close gave up", n)
	}
	if len(m.started) != 0 {
		t.Errorf("%d messages tried after Close gave up", len(m.started))
	}
}

func TestOutboxFullQueueDrops(t *testing.T) {
	log, logs := newLogger(t)
	m := newBlockingMailer()
	o := newOutbox(t, m, log, mail.OutboxOptions{Queue: 2, Workers: 1})
	t.Cleanup(func() { close(m.release) }) // runs before the Close of newOutbox
	if !o.Enqueue(mail.Message{Kind: "k", To: "a@example.org", Subject: "in flight"}) {
		t.Fatal("first Enqueue returned false")
	}
	<-m.started // the worker holds it; the queue is empty again
	for _, s := range []string{"queued 1", "queued 2"} {
		if !o.Enqueue(mail.Message{Subject: s}) {
			t.Fatalf("Enqueue(%s) returned false with room in the queue", s)
		}
	}
	if o.Enqueue(mail.Message{Kind: mail.KindPasswordReset, To: "bob@example.org", Subject: "dropped", Link: "https://x/?token=tok_dropped"}) {
		t.Fatal("Enqueue on a full queue returned true")
	}
	recs := logs.records(t, "mail queue full")
	if len(recs) != 1 || recs[0]["level"] != "ERROR" || recs[0]["kind"] != mail.KindPasswordReset || recs[0]["to"] != "bob@example.org" {
		t.Errorf("log %v, want one ERROR with kind and to", recs)
	}
	if strings.Contains(logs.String(), "tok_dropped") {
		t.Error("the log shows the link of the dropped message")
	}
}

func TestOutboxDefaults(t *testing.T) {
	// Zero options work: the message is sent.
	m := &scriptMailer{}
	o := newOutbox(t, m, nil, mail.OutboxOptions{})
	o.Enqueue(mail.Message{Subject: "s"})
	flush(t, o)
	if _, sent := m.counts("s"); sent != 1 {
		t.Errorf("sent %d times, want 1", sent)
	}
}

func TestLogMailer(t *testing.T) {
	log, logs := newLogger(t)
	msg := mail.Message{Kind: mail.KindPasswordReset, To: "ada@example.org", Subject: "Reset",
		Text: "Open https://id.example.com/r?token=tok_1", HTML: "<p>html</p>", Link: "https://id.example.com/r?token=tok_1"}
	if err := mail.NewLogMailer(log).Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	recs := logs.records(t, "mail not sent (log mailer)")
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1:\n%s", len(recs), logs)
	}
	r := recs[0]
	want := map[string]any{"level": "INFO", "kind": msg.Kind, "to": msg.To, "subject": msg.Subject, "link": msg.Link, "text": msg.Text}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s = %v, want %v", k, r[k], v)
		}
	}
}
