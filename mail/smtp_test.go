package mail_test

import (
	"bytes"
	"context"
	"errors"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/cf/identity/mail"
)

// part is one decoded body part of a received message.
type part struct {
	ContentType string // media type, "text/plain"
	Charset     string
	Body        string // decoded, with LF line ends
}

// parsed is a received message, read with net/mail and mime/multipart.
type parsed struct {
	Header  netmail.Header
	Subject string // decoded
	Parts   []part // one for a text-only message
	// HeaderLines are the raw lines of the header.
	HeaderLines []string
}

func parseMessage(t *testing.T, data []byte) parsed {
	t.Helper()
	for i, line := range strings.Split(string(data), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line %d has %d bytes, more than RFC 5322 allows", i+1, len(line))
		}
		if strings.Contains(line, "\n") {
			t.Errorf("line %d ends with a bare LF", i+1)
		}
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("net/mail cannot read the message: %v\n%s", err, data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("Subject %q: %v", msg.Header.Get("Subject"), err)
	}
	head, _, _ := strings.Cut(string(data), "\r\n\r\n")
	p := parsed{Header: msg.Header, Subject: subject, HeaderLines: strings.Split(head, "\r\n")}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	if mediaType != "multipart/alternative" {
		if cte := msg.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
			t.Errorf("Content-Transfer-Encoding = %q, want quoted-printable", cte)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatalf("quoted-printable body: %v", err)
		}
		p.Parts = []part{{ContentType: mediaType, Charset: params["charset"], Body: lf(body)}}
		return p
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		mp, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		// mime/multipart decodes quoted-printable and then hides the header.
		if mp.Header.Get("Content-Transfer-Encoding") != "" {
			t.Errorf("part Content-Transfer-Encoding %q was not quoted-printable", mp.Header.Get("Content-Transfer-Encoding"))
		}
		body, err := io.ReadAll(mp)
		if err != nil {
			t.Fatalf("part body: %v", err)
		}
		pt, pparams, err := mime.ParseMediaType(mp.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("part Content-Type: %v", err)
		}
		p.Parts = append(p.Parts, part{ContentType: pt, Charset: pparams["charset"], Body: lf(body)})
	}
	return p
}

func lf(b []byte) string { return strings.ReplaceAll(string(b), "\r\n", "\n") }

// checkHeaders checks the headers every message has.
func checkHeaders(t *testing.T, p parsed, wantFrom, wantTo string) {
	t.Helper()
	date, err := p.Header.Date()
	if err != nil {
		t.Errorf("Date: %v", err)
	} else if d := time.Since(date); d < -time.Minute || d > time.Minute {
		t.Errorf("Date %v is not now", date)
	}
	id := p.Header.Get("Message-ID")
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") || len(id) < 20 {
		t.Errorf("Message-ID = %q, want <random@example.com>", id)
	}
	for name, want := range map[string]string{"From": wantFrom, "To": wantTo} {
		addrs, err := p.Header.AddressList(name)
		if err != nil || len(addrs) != 1 {
			t.Errorf("%s = %q: %v", name, p.Header.Get(name), err)
			continue
		}
		if got := addrs[0].String(); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if v := p.Header.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q", v)
	}
	if v := p.Header.Get("Auto-Submitted"); v != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", v)
	}
	for _, line := range p.HeaderLines {
		if len(line) > 78 {
			t.Errorf("header line of %d bytes, want 78 at most (folded): %q", len(line), line)
		}
	}
}

func mustNewSMTP(t *testing.T, cfg mail.SMTPConfig, from string) *mail.SMTPMailer {
	t.Helper()
	m, err := mail.NewSMTP(cfg, from)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return m
}

func TestSMTPSend(t *testing.T) {
	invitation, err := mail.DefaultTemplates().Render(mail.KindInvitation, mail.Data{
		To:           "ada@example.org",
		Link:         "https://id.example.com/invitations/accept?token=inv_secret&org=acme",
		ExpiresAt:    time.Date(2030, 1, 2, 15, 4, 0, 0, time.UTC),
		Organization: "Acme",
		Inviter:      "Grace",
		Message:      "Welcome <b>aboard</b> & see you",
	})
	if err != nil {
		t.Fatal(err)
	}
	longLine := strings.Repeat("0123456789 ", 30)
	longSubject := strings.Repeat("Réinitialisez votre mot de passe ", 6)
	longASCII := strings.TrimSpace(strings.Repeat("Your invitation to Acme  is waiting ", 5))

	tests := []struct {
		name   string
		server serverOptions
		auth   [2]string              // user and password the server requires, if any
		cfg    func(*mail.SMTPConfig) // from a config with Insecure and Timeout set
		from   string
		msg    mail.Message
		check  func(t *testing.T, env envelope, p parsed)
	}{
		{
			name: "plain text",
			msg: mail.Message{Kind: "test", To: "ada@example.org", Subject: longASCII,
				Text: "Line one\n.line with a leading dot\n" + longLine + "\nCafé ✓"},
			check: func(t *testing.T, env envelope, p parsed) {
				checkHeaders(t, p, "<no-reply@example.com>", "<ada@example.org>")
				if p.Subject != longASCII || strings.Contains(p.Header.Get("Subject"), "=?") {
					t.Errorf("Subject = %q (raw %q), want %q unencoded", p.Subject, p.Header.Get("Subject"), longASCII)
				}
				want := []part{{"text/plain", "utf-8", "Line one\n.line with a leading dot\n" + longLine + "\nCafé ✓\n"}}
				if len(p.Parts) != 1 || p.Parts[0] != want[0] {
					t.Errorf("parts = %q, want %q", p.Parts, want)
				}
				if env.TLS || env.AuthUser != "" {
					t.Errorf("TLS %v, auth %q: want neither", env.TLS, env.AuthUser)
				}
			},
		},
		{
			name: "multipart with HTML",
			from: "cf identity <no-reply@example.com>",
			msg:  invitation,
			check: func(t *testing.T, env envelope, p parsed) {
				checkHeaders(t, p, `"cf identity" <no-reply@example.com>`, "<ada@example.org>")
				if env.From != "no-reply@example.com" {
					t.Errorf("MAIL FROM %q, want the bare address", env.From)
				}
				if p.Subject != invitation.Subject {
					t.Errorf("Subject = %q, want %q", p.Subject, invitation.Subject)
				}
				if len(p.Parts) != 2 {
					t.Fatalf("%d parts, want 2", len(p.Parts))
				}
				text, htm := p.Parts[0], p.Parts[1]
				if text.ContentType != "text/plain" || text.Charset != "utf-8" || htm.ContentType != "text/html" || htm.Charset != "utf-8" {
					t.Errorf("parts %s;%s and %s;%s, want text/plain then text/html, utf-8", text.ContentType, text.Charset, htm.ContentType, htm.Charset)
				}
				if text.Body != lf([]byte(invitation.Text))+"\n" && text.Body != lf([]byte(invitation.Text)) {
					t.Errorf("text part %q, want %q", text.Body, invitation.Text)
				}
				if strings.TrimSuffix(htm.Body, "\n") != strings.TrimSuffix(invitation.HTML, "\n") {
					t.Errorf("HTML part %q, want %q", htm.Body, invitation.HTML)
				}
				if !strings.Contains(html.UnescapeString(htm.Body), invitation.Link) || !strings.Contains(text.Body, invitation.Link) {
					t.Errorf("the link is not in both parts")
				}
			},
		},
		{
			name: "non-ASCII subject and names",
			from: "Zoë Équipe <no-reply@example.com>",
			msg:  mail.Message{To: "Jürgen Groß <jurgen@example.org>", Subject: longSubject + "✓", Text: "x"},
			check: func(t *testing.T, env envelope, p parsed) {
				checkHeaders(t, p, "=?utf-8?q?Zo=C3=AB_=C3=89quipe?= <no-reply@example.com>", "=?utf-8?q?J=C3=BCrgen_Gro=C3=9F?= <jurgen@example.org>")
				raw := p.Header.Get("Subject")
				if !strings.HasPrefix(raw, "=?utf-8?") {
					t.Errorf("raw Subject %q is not RFC 2047 encoded", raw)
				}
				if p.Subject != longSubject+"✓" {
					t.Errorf("Subject = %q, want %q", p.Subject, longSubject+"✓")
				}
				if env.To[0] != "jurgen@example.org" {
					t.Errorf("RCPT TO %q", env.To)
				}
			},
		},
		{
			name: "ASCII subject that looks like an encoded word",
			msg:  mail.Message{To: "ada@example.org", Subject: "=?utf-8?q?not_decoded?=", Text: "x"},
			check: func(t *testing.T, env envelope, p parsed) {
				if p.Subject != "=?utf-8?q?not_decoded?=" {
					t.Errorf("Subject = %q, want it as sent", p.Subject)
				}
			},
		},
		{
			name:   "AUTH PLAIN without TLS, insecure on localhost",
			server: serverOptions{allowInsecureAuth: true},
			auth:   [2]string{"smtp-user", "p@ss word"},
			cfg:    func(c *mail.SMTPConfig) { c.Username, c.Password = "smtp-user", "p@ss word" },
			msg:    mail.Message{To: "ada@example.org", Subject: "s", Text: "t"},
			check: func(t *testing.T, env envelope, p parsed) {
				if env.AuthUser != "smtp-user" || env.TLS {
					t.Errorf("auth %q, TLS %v: want smtp-user without TLS", env.AuthUser, env.TLS)
				}
			},
		},
		{
			name:   "STARTTLS with a self-signed certificate and AUTH",
			server: serverOptions{mode: startTLSServer}, // AUTH only over TLS
			auth:   [2]string{"u", "pw"},
			cfg: func(c *mail.SMTPConfig) {
				c.Insecure = false
				c.InsecureSkipVerify = true
				c.Username, c.Password = "u", "pw"
			},
			msg: mail.Message{To: "ada@example.org", Subject: "s", Text: "t", HTML: "<p>t</p>"},
			check: func(t *testing.T, env envelope, p parsed) {
				if !env.TLS || env.AuthUser != "u" {
					t.Errorf("TLS %v, auth %q: want TLS and u", env.TLS, env.AuthUser)
				}
			},
		},
		{
			name:   "insecure still uses STARTTLS when offered",
			server: serverOptions{mode: startTLSServer},
			cfg:    func(c *mail.SMTPConfig) { c.InsecureSkipVerify = true },
			msg:    mail.Message{To: "ada@example.org", Subject: "s", Text: "t"},
			check: func(t *testing.T, env envelope, p parsed) {
				if !env.TLS {
					t.Error("sent without TLS although the server offers STARTTLS")
				}
			},
		},
		{
			name:   "implicit TLS",
			server: serverOptions{mode: implicitServer},
			auth:   [2]string{"u", "pw"},
			cfg: func(c *mail.SMTPConfig) {
				c.TLS, c.Insecure, c.InsecureSkipVerify = mail.TLSImplicit, false, true
				c.Username, c.Password = "u", "pw"
			},
			msg: mail.Message{To: "ada@example.org", Subject: "s", Text: "t"},
			check: func(t *testing.T, env envelope, p parsed) {
				if !env.TLS || env.AuthUser != "u" {
					t.Errorf("TLS %v, auth %q: want TLS and u", env.TLS, env.AuthUser)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &backend{user: tt.auth[0], pass: tt.auth[1]}
			host, port := startServer(t, be, tt.server)
			cfg := mail.SMTPConfig{Host: host, Port: port, Insecure: true, Timeout: 5 * time.Second}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			from := tt.from
			if from == "" {
				from = "no-reply@example.com"
			}
			if err := mustNewSMTP(t, cfg, from).Send(context.Background(), tt.msg); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := be.messages()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			env := got[0]
			to, _ := netmail.ParseAddress(tt.msg.To)
			if len(env.To) != 1 || env.To[0] != to.Address {
				t.Errorf("RCPT TO %q, want %q", env.To, to.Address)
			}
			fromAddr, _ := netmail.ParseAddress(from)
			if env.From != fromAddr.Address {
				t.Errorf("MAIL FROM %q, want %q", env.From, fromAddr.Address)
			}
			tt.check(t, env, parseMessage(t, env.Data))
		})
	}
}

func TestSMTPSendErrors(t *testing.T) {
	msg := mail.Message{Kind: "test", To: "ada@example.org", Subject: "s", Text: "t"}
	tests := []struct {
		name string
		// setup returns the config to send with, and the backend to check
		// that nothing arrived (nil when there is no server).
		setup         func(t *testing.T) (mail.SMTPConfig, *backend)
		msg           mail.Message
		wantStage     string
		wantTemporary bool
		wantCode      int
		wantText      []string // in the error text
		wantIs        error    // the error matches it too
	}{
		{
			name: "refused connection",
			setup: func(t *testing.T) (mail.SMTPConfig, *backend) {
				return mail.SMTPConfig{Host: "127.0.0.1", Port: closedPort(t), Insecure: true}, nil
			},
			wantStage: "dial", wantTemporary: true,
			wantText: []string{"127.0.0.1:", "refused"},
		},
		{
			name: "server silent past the timeout",
			setup: func(t *testing.T) (mail.SMTPConfig, *backend) {
				return mail.SMTPConfig{Host: "127.0.0.1", Port: silentServer(t), Insecure: true, Timeout: 200 * time.Millisecond}, nil
			},
			wantStage: "dial", wantTemporary: true, wantIs: context.DeadlineExceeded,
		},
		{
			name: "STARTTLS required but not offered",
			setup: func(t *testing.T) (mail.SMTPConfig, *backend) {
				be := &backend{}
				host, port := startServer(t, be, serverOptions{})
				return mail.SMTPConfig{Host: host, Port: port}, be
			},
			wantStage: "tls", wantText: []string{"STARTTLS"},
		},
		{
			name: "STARTTLS with a certificate nobody trusts",
			setup: func(t *testing.T) (mail.SMTPConfig, *backend) {
				be := &backend{}
				host, port := startServer(t, be, serverOptions{mode: startTLSServer})
				return mail.SMTPConfig{Host: host, Port: port}, be
			},
			wantStage: "tls", wantText: []string{"certificate"},
		},
		{
			name: "implicit TLS to a server without TLS",
			setup: func(t *testing.T) (mail.SMTPConfig, *backend) {
				be := &backend{}
				host, port := startServer(t, be, serverOptions{})
				return mail.SMTPConfig{Host: host, Port: port, TLS: mail.TLSImplicit, InsecureSkipVerify: true}, be
			},
			wantStage: "tls",
		},
		{
			name: "wrong password",
			setup: func(t *testing.T) (mail.SMTPConfig, *backend) {
				be := &backend{user: "u", pass: "right"}
				host, port := startServer(t, be, serverOptions{allowInsecureAuth: true})
				return mail.SMTPConfig{Host: host, Port: port, Insecure: true, Username: "u", Password: "wrong"}, be
			},
			wantStage: "auth", wantCode: 535,
		},
		{
			name: "server does not offer AUTH",
			setup: func(t *testing.T) (mail.SMTPConfig, *backend) {
				be := &backend{}
				host, port := startServer(t, be, serverOptions{allowInsecureAuth: true})
				return mail.SMTPConfig{Host: host, Port: port, Insecure: true, Username: "u", Password: "pw"}, be
			},
			wantStage: "auth", wantText: []string{"AUTH"},
		},
		{
			name: "server requires AUTH, none configured",
			setup: func(t *testing.T) (mail.SMTPConfig, *backend) {
				be := &backend{user: "u", pass: "pw"}
				host, port := startServer(t, be, serverOptions{allowInsecureAuth: true})
				return mail.SMTPConfig{Host: host, Port: port, Insecure: true}, be
			},
			wantStage: "mail", wantCode: 502,
		},
		{
			name: "5xx on RCPT is permanent",
			setup: func(t *testing.T) (mail.SMTPConfig, *backend) {
				be := &backend{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}
				host, port := startServer(t, be, serverOptions{})
				return mail.SMTPConfig{Host: host, Port: port, Insecure: true}, be
			},
			wantStage: "rcpt", wantCode: 550, wantText: []string{"no such user"},
		},
		{
			name: "4xx on DATA is temporary",
			setup: func(t *testing.T) (mail.SMTPConfig, *backend) {
				be := &backend{dataErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}}
				host, port := startServer(t, be, serverOptions{})
				return mail.SMTPConfig{Host: host, Port: port, Insecure: true}, be
			},
			wantStage: "data", wantCode: 451, wantTemporary: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, be := tt.setup(t)
			host := hostPort(cfg.Host, cfg.Port)
			err := mustNewSMTP(t, cfg, "no-reply@example.com").Send(context.Background(), msg)
			var se *mail.SendError
			if !errors.As(err, &se) || !errors.Is(err, mail.ErrSend) {
				t.Fatalf("Send error %v (%T), want a *SendError matching ErrSend", err, err)
			}
			if se.Stage != tt.wantStage || se.Temporary != tt.wantTemporary || se.Code != tt.wantCode || se.Host != host {
				t.Errorf("SendError{Host %q, Stage %q, Temporary %v, Code %d}, want {%q, %q, %v, %d}: %v",
					se.Host, se.Stage, se.Temporary, se.Code, host, tt.wantStage, tt.wantTemporary, tt.wantCode, err)
			}
			for _, s := range append(tt.wantText, host) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not match %v", err, tt.wantIs)
			}
			if be != nil && len(be.messages()) != 0 {
				t.Errorf("the server received a message")
			}
		})
	}
}

func TestSMTPSendRejectsBadMessages(t *testing.T) {
	be := &backend{}
	host, port := startServer(t, be, serverOptions{})
	m := mustNewSMTP(t, mail.SMTPConfig{Host: host, Port: port, Insecure: true}, "no-reply@example.com")
	tests := []struct {
		name string
		msg  mail.Message
	}{
		{"CRLF in To", mail.Message{To: "ada@example.org\r\nBcc: eve@example.net", Subject: "s"}},
		{"LF in To", mail.Message{To: "ada@example.org\nBcc: eve@example.net", Subject: "s"}},
		{"CRLF in Subject", mail.Message{To: "ada@example.org", Subject: "Hi\r\nBcc: eve@example.net"}},
		{"CR in Subject", mail.Message{To: "ada@example.org", Subject: "Hi\rBcc: eve@example.net"}},
		{"NUL in Subject", mail.Message{To: "ada@example.org", Subject: "Hi\x00"}},
		{"two addresses", mail.Message{To: "ada@example.org, eve@example.net", Subject: "s"}},
		{"not an address", mail.Message{To: "ada", Subject: "s"}},
		{"no To", mail.Message{Subject: "s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Send(context.Background(), tt.msg)
			if !errors.Is(err, mail.ErrMessage) || errors.Is(err, mail.ErrSend) {
				t.Errorf("Send error %v, want one matching ErrMessage only", err)
			}
		})
	}
	if n := len(be.messages()); n != 0 {
		t.Errorf("the server received %d messages", n)
	}
}

func TestSMTPSendCanceledContext(t *testing.T) {
	port := silentServer(t)
	m := mustNewSMTP(t, mail.SMTPConfig{Host: "127.0.0.1", Port: port, Insecure: true, Timeout: time.Minute}, "no-reply@example.com")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	err := m.Send(ctx, mail.Message{To: "ada@example.org", Subject: "s", Text: "t"})
	if !errors.Is(err, context.Canceled) || !errors.Is(err, mail.ErrSend) {
		t.Errorf("Send error %v, want ErrSend and context.Canceled", err)
	}
}

func TestNewSMTP(t *testing.T) {
	tests := []struct {
		name    string
		cfg     mail.SMTPConfig
		from    string
		wantErr string // "" for success
	}{
		{"from argument", mail.SMTPConfig{Host: "mail.example.com"}, "no-reply@example.com", ""},
		{"from of the config", mail.SMTPConfig{Host: "mail.example.com", From: "Example <no-reply@example.com>"}, "", ""},
		{"insecure on localhost", mail.SMTPConfig{Host: "localhost", Insecure: true}, "a@example.com", ""},
		{"no host", mail.SMTPConfig{}, "no-reply@example.com", "no host"},
		{"no from", mail.SMTPConfig{Host: "mail.example.com"}, "", "no From"},
		{"from not an address", mail.SMTPConfig{Host: "mail.example.com"}, "no-reply", "not one email address"},
		{"from with CRLF", mail.SMTPConfig{Host: "mail.example.com"}, "a@example.com\r\nBcc: b@example.com", "line break"},
		{"port out of range", mail.SMTPConfig{Host: "mail.example.com", Port: 70000}, "a@example.com", "port"},
		{"unknown TLS mode", mail.SMTPConfig{Host: "mail.example.com", TLS: mail.TLSMode(7)}, "a@example.com", "TLS mode"},
		{"insecure on a remote host", mail.SMTPConfig{Host: "mail.example.com", Insecure: true}, "a@example.com", "only for localhost"},
		{"insecure with implicit TLS", mail.SMTPConfig{Host: "localhost", TLS: mail.TLSImplicit, Insecure: true}, "a@example.com", "smtp:// only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mail.NewSMTP(tt.cfg, tt.from)
			if tt.wantErr == "" {
				if err != nil || m == nil {
					t.Fatalf("NewSMTP: %v", err)
				}
				return
			}
			if !errors.Is(err, mail.ErrConfig) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("NewSMTP error %v, want ErrConfig saying %q", err, tt.wantErr)
			}
		})
	}
}
