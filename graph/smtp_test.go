package graph_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/cf/identity/graph"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/mail"
)

// smtpRecorder is a go-smtp backend that keeps every message it receives.
type smtpRecorder struct {
	mu       sync.Mutex
	received []smtpEnvelope
}

// smtpEnvelope is one message as the SMTP server received it.
type smtpEnvelope struct {
	From string
	To   []string
	Data []byte
}

func (b *smtpRecorder) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{b: b}, nil }

// wait polls until the n-th message to addr arrived and returns it; it
// fails the test after mailWait.
func (b *smtpRecorder) wait(t *testing.T, addr string, n int) smtpEnvelope {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for {
		b.mu.Lock()
		var got []smtpEnvelope
		for _, e := range b.received {
			for _, to := range e.To {
				if to == addr {
					got = append(got, e)
				}
			}
		}
		b.mu.Unlock()
		if len(got) >= n {
			return got[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the SMTP server got no message #%d to %s within %s", n, addr, mailWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type smtpSession struct {
	b   *smtpRecorder
	env smtpEnvelope
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error { s.env.From = from; return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.env.To = append(s.env.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	env := s.env
	env.Data = data
	s.b.mu.Lock()
	s.b.received = append(s.b.received, env)
	s.b.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.env = smtpEnvelope{} }
func (s *smtpSession) Logout() error { return nil }

// startSMTP runs a go-smtp server (plain, AUTH allowed without TLS) on
// 127.0.0.1 and returns its port; it is closed when the test ends.
func startSMTP(t *testing.T, be *smtpRecorder) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = log.New(io.Discard, "", 0)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		_ = s.Close() // Serve's result below is what the test checks
		if err := <-served; err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtp server: %v", err)
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// smtpLinkRE finds a mailed link of the flows in a text body.
var smtpLinkRE = regexp.MustCompile(regexp.QuoteMeta(flowPublicURL) + `(/[a-z/-]+)\?token=(cf[a-z]+_[a-z2-7]{8}_[a-z2-7]{52})`)

// linkIn parses a message as an SMTP server received it (net/mail and
// mime/multipart, quoted-printable decoded) and returns its path and
// token, after checking the headers and that the HTML part carries the
// same link.
func linkIn(t *testing.T, env smtpEnvelope, to, subjectPart string) (path, token string) {
	t.Helper()
	msg, err := netmail.ReadMessage(bytes.NewReader(env.Data))
	if err != nil {
		t.Fatalf("parsing the message: %v\n%s", err, env.Data)
	}
	if env.From != "no-reply@example.com" {
		t.Errorf("MAIL FROM %q", env.From)
	}
	if from, err := msg.Header.AddressList("From"); err != nil || len(from) != 1 || from[0].Address != "no-reply@example.com" {
		t.Errorf("From %v (%v)", from, err)
	}
	if rcpt, err := msg.Header.AddressList("To"); err != nil || len(rcpt) != 1 || rcpt[0].Address != to {
		t.Errorf("To %v (%v), want %s", rcpt, err, to)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || !strings.Contains(subject, subjectPart) {
		t.Errorf("Subject %q (%v), want it to hold %q", subject, err, subjectPart)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the parts: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		parts[ct] = string(b)
	}
	m := smtpLinkRE.FindStringSubmatch(parts["text/plain"])
	if m == nil {
		t.Fatalf("no link in the text part:\n%s", parts["text/plain"])
	}
	if !strings.Contains(parts["text/html"], m[0]) {
		t.Errorf("the HTML part lacks the link %s", m[0])
	}
	return m[1], m[2]
}

// TestFlowsOverSMTP runs an invitation and a password reset through a real
// SMTP exchange: the server's outbox sends through mail.NewSMTP (URL
// smtp://127.0.0.1:PORT?insecure=true) to a go-smtp server started here;
// the links are read from the DATA the server received, and they work.
func TestFlowsOverSMTP(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		rec := &smtpRecorder{}
		port := startSMTP(t, rec)
		cfg, err := mail.ParseURL(fmt.Sprintf("smtp://127.0.0.1:%d?insecure=true&from=no-reply@example.com&timeout=10s", port))
		if err != nil {
			t.Fatal(err)
		}
		mailer, err := mail.NewSMTP(cfg, "")
		if err != nil {
			t.Fatal(err)
		}
		e := setupFlows(t, db, flowOptions{mailer: mailer})
		org, _, ownerKey := e.orgFixture(t, "acme")

		// Invite, read the link from the SMTP DATA, accept, sign in.
		wantOK(t, gqlOn(t, e.srv, ownerKey, inviteMutation, map[string]any{"o": org.ID, "e": "smtp-invitee@example.com", "m": "Hello over SMTP"}, nil), nil)
		env := rec.wait(t, "smtp-invitee@example.com", 1)
		path, tok := linkIn(t, env, "smtp-invitee@example.com", "acme")
		if path != "/invitations/accept" || !strings.HasPrefix(tok, "cfinv_") {
			t.Fatalf("invitation link %s?token=%s", path, tok)
		}
		if !bytes.Contains(env.Data, []byte("Hello over SMTP")) {
			t.Errorf("the message lacks the inviter's note")
		}
		if r := e.acceptHTTP(t, tok, newcomerPW, "Smtp Invitee"); r.status != http.StatusOK {
			t.Fatalf("accept: HTTP %d %s", r.status, r.raw)
		}
		e.login(t, "smtp-invitee@example.com", newcomerPW)

		// Reset the password, read the link, confirm, sign in with the
		// new password only.
		r := authPost(t, e.srv, "/auth/password-reset/request", jsonString(t, map[string]string{"email": "smtp-invitee@example.com"}), nil)
		if r.status != http.StatusAccepted {
			t.Fatalf("reset request: HTTP %d %s", r.status, r.raw)
		}
		path, tok = linkIn(t, rec.wait(t, "smtp-invitee@example.com", 2), "smtp-invitee@example.com", "password")
		if path != "/password-reset" || !strings.HasPrefix(tok, "cfrst_") {
			t.Fatalf("reset link %s?token=%s", path, tok)
		}
		r = authPost(t, e.srv, "/auth/password-reset/confirm", jsonString(t, map[string]string{"token": tok, "newPassword": otherPassword}), nil)
		if r.status != http.StatusNoContent {
			t.Fatalf("confirm: HTTP %d %s", r.status, r.raw)
		}
		wantAuthError(t, loginOn(t, e.srv, "smtp-invitee@example.com", newcomerPW), http.StatusUnauthorized, graph.CodeInvalidCredentials)
		e.login(t, "smtp-invitee@example.com", otherPassword)
	})
}
