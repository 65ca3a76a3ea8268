package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"strconv"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// helloName is the name the client gives in EHLO.
const helloName = "localhost"

// SMTPMailer sends messages through an SMTP server, one connection per
// message. It is safe for concurrent use. Make one with NewSMTP.
type SMTPMailer struct {
	cfg  SMTPConfig
	addr string // host:port
	from *mail.Address
}

// NewSMTP returns a Mailer that sends through the SMTP server of cfg, with
// from as the envelope sender (MAIL FROM) and the From header. An empty
// from means cfg.From. from is an address, "no-reply@example.com" or
// "Example <no-reply@example.com>"; the envelope gets its address part.
//
// The error matches ErrConfig when cfg has no host, a port outside
// 1-65535, an unknown TLS mode or Insecure for a host that is not loopback,
// or when from is missing or not one address. NewSMTP does not connect:
// a server that cannot be reached shows in the first Send.
func NewSMTP(cfg SMTPConfig, from string) (*SMTPMailer, error) {
	if from == "" {
		from = cfg.From
	}
	switch {
	case cfg.Host == "":
		return nil, fmt.Errorf("%w: no host", ErrConfig)
	case cfg.Port < 0 || cfg.Port > 65535:
		return nil, fmt.Errorf("%w: port %d is not between 1 and 65535", ErrConfig, cfg.Port)
	case cfg.TLS != TLSStartTLS && cfg.TLS != TLSImplicit:
		return nil, fmt.Errorf("%w: unknown TLS mode %v", ErrConfig, cfg.TLS)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("%w: negative timeout %v", ErrConfig, cfg.Timeout)
	case from == "":
		return nil, fmt.Errorf("%w: no From address (set from=... in the SMTP URL)", ErrConfig)
	}
	if reason := cfg.checkInsecure(); reason != "" {
		return nil, fmt.Errorf("%w: %s", ErrConfig, reason)
	}
	if err := checkHeaderValue("From", from); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("%w: From %q is not one email address: %w", ErrConfig, from, err)
	}
	cfg.From = from
	return &SMTPMailer{
		cfg:  cfg,
		addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.port())),
		from: addr,
	}, nil
}

// Send sends m in one SMTP session of its own: it connects, secures the
// connection (STARTTLS or implicit TLS, as cfg says), authenticates with
// AUTH PLAIN when cfg has a Username, and sends MAIL FROM, RCPT TO and DATA.
// The session is bounded by cfg.Timeout and by ctx, whichever ends first.
//
// The message has the headers Date, Message-ID, From, To, Subject (RFC 2047
// encoded when not ASCII), MIME-Version and Auto-Submitted, and is text/plain,
// or multipart/alternative with a text/plain and a text/html part when
// m.HTML is set; bodies are UTF-8, quoted-printable.
//
// A To that is not one address, and a To or Subject with a line break or
// another control character, is an error matching ErrMessage, before
// anything is sent. Every failure of the session is a *SendError (matching
// ErrSend) that names the host:port and the stage; its Temporary field says
// whether trying again later may help (4xx replies yes, 5xx no).
//
// Send refuses to send the password without TLS unless cfg.Insecure.
func (s *SMTPMailer) Send(ctx context.Context, m Message) error {
	to, err := recipient(m)
	if err != nil {
		return err
	}
	msg, err := buildMessage(s.from, to, m, time.Now())
	if err != nil {
		return fmt.Errorf("mail: building the message: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel() // closes every connection of this session (see dial)

	c, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	if s.cfg.Username != "" {
		if err := s.auth(ctx, c); err != nil {
			return err
		}
	}

	var opts *smtp.MailOptions
	if !isASCII(s.from.Address) || !isASCII(to.Address) {
		opts = &smtp.MailOptions{UTF8: true}
	}
	if err := c.Mail(s.from.Address, opts); err != nil {
		return s.fail(ctx, StageMail, err)
	}
	if err := c.Rcpt(to.Address, nil); err != nil {
		return s.fail(ctx, StageRcpt, err)
	}
	w, err := c.Data()
	if err != nil {
		return s.fail(ctx, StageData, err)
	}
	if _, err := w.Write(msg); err != nil {
		return s.fail(ctx, StageData, err)
	}
	if err := w.Close(); err != nil {
		return s.fail(ctx, StageData, err)
	}
	// The server has accepted the message; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// connect returns a client that has greeted the server over a connection
// secured as s.cfg says.
func (s *SMTPMailer) connect(ctx context.Context) (*smtp.Client, error) {
	if s.cfg.TLS == TLSImplicit {
		conn, err := s.dial(ctx)
		if err != nil {
			return nil, err
		}
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, s.fail(ctx, StageTLS, err)
		}
		c := s.newClient(tc)
		if err := c.Hello(helloName); err != nil {
			c.Close()
			return nil, s.fail(ctx, StageDial, err)
		}
		return c, nil
	}

	if s.cfg.Insecure {
		// Look at what the server offers; without STARTTLS, go on in the
		// clear. go-smtp cannot start TLS on a client that has already said
		// EHLO, so a server that offers it is dialled again.
		conn, err := s.dial(ctx)
		if err != nil {
			return nil, err
		}
		c := s.newClient(conn)
		if err := c.Hello(helloName); err != nil {
			c.Close()
			return nil, s.fail(ctx, StageDial, err)
		}
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return c, nil
		}
		_ = c.Quit()
		c.Close()
	}

	conn, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	c, err := smtp.NewClientStartTLS(conn, s.tlsConfig())
	if err != nil {
		conn.Close()
		return nil, s.fail(ctx, StageTLS, err)
	}
	s.setTimeouts(c)
	// The handshake runs with the first command after STARTTLS: EHLO.
	if err := c.Hello(helloName); err != nil {
		c.Close()
		return nil, s.fail(ctx, StageTLS, err)
	}
	if _, ok := c.TLSConnectionState(); !ok {
		c.Close()
		return nil, &SendError{Host: s.addr, Stage: StageTLS, Err: errors.New("no TLS after STARTTLS")}
	}
	return c, nil
}

// dial connects to the server. The connection is closed when ctx ends,
// which stops whatever the client is doing with it: that is how the timeout
// and the caller's context bound the whole session.
func (s *SMTPMailer) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, s.fail(ctx, StageDial, err)
	}
	context.AfterFunc(ctx, func() { conn.Close() })
	return conn, nil
}

func (s *SMTPMailer) newClient(conn net.Conn) *smtp.Client {
	c := smtp.NewClient(conn)
	s.setTimeouts(c)
	return c
}

// setTimeouts sets go-smtp's per-command deadlines a little past the
// session's, as a backstop: the session's context is what ends a session
// (see dial), so that its error is context.DeadlineExceeded.
func (s *SMTPMailer) setTimeouts(c *smtp.Client) {
	c.CommandTimeout = s.cfg.timeout() + time.Second
	c.SubmissionTimeout = s.cfg.timeout() + time.Second
}

func (s *SMTPMailer) tlsConfig() *tls.Config {
	return &tls.Config{
		ServerName:         s.cfg.Host,
		InsecureSkipVerify: s.cfg.InsecureSkipVerify, //nolint:gosec // opt-in, for test servers
		MinVersion:         tls.VersionTLS12,
	}
}

func (s *SMTPMailer) auth(ctx context.Context, c *smtp.Client) error {
	if _, encrypted := c.TLSConnectionState(); !encrypted && !s.cfg.Insecure {
		return &SendError{Host: s.addr, Stage: StageAuth,
			Err: errors.New("refusing to send the password over a connection without TLS")}
	}
	if !c.SupportsAuth(sasl.Plain) {
		reason := "the server does not offer AUTH"
		if ok, mechs := c.Extension("AUTH"); ok {
			reason = fmt.Sprintf("the server offers AUTH %s, not PLAIN", mechs)
		}
		return &SendError{Host: s.addr, Stage: StageAuth, Err: errors.New(reason)}
	}
	if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
		return s.fail(ctx, StageAuth, err)
	}
	return nil
}

// fail returns the *SendError of err at stage.
func (s *SMTPMailer) fail(ctx context.Context, stage string, err error) *SendError {
	e := &SendError{Host: s.addr, Stage: stage, Err: err}
	if ctxErr := ctx.Err(); ctxErr != nil {
		// The end of ctx closed the connection; that is the cause, not
		// "use of closed network connection".
		if !errors.Is(err, ctxErr) {
			e.Err = fmt.Errorf("%w (%v)", ctxErr, err)
		}
		e.Temporary = true
		return e
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		e.Code = se.Code
		e.Temporary = se.Code/100 == 4
		return e
	}
	e.Temporary = isTransient(err)
	return e
}

// isTransient reports whether err is a network failure that may not recur:
// a refused, reset or dropped connection, a timeout. Certificate and TLS
// protocol failures, and everything else, are taken to recur.
func isTransient(err error) bool {
	var (
		verr  *tls.CertificateVerificationError
		rherr tls.RecordHeaderError
		uaerr x509.UnknownAuthorityError
		hnerr x509.HostnameError
		cierr x509.CertificateInvalidError
		operr *net.OpError
	)
	switch {
	case errors.As(err, &verr), errors.As(err, &rherr), errors.As(err, &uaerr),
		errors.As(err, &hnerr), errors.As(err, &cierr):
		return false
	case errors.As(err, &operr) && operr.Op == "remote error":
		return false // a TLS alert from the server
	}
	var nerr net.Error
	return errors.As(err, &nerr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, net.ErrClosed)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
