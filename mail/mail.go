package mail

import (
	"context"
	"log/slog"
)

// Message kinds: the names of the default templates, and Message.Kind.
const (
	KindInvitation        = "invitation"
	KindPasswordReset     = "password_reset"
	KindEmailVerification = "email_verification"
	KindEmailChange       = "email_change"
)

// Message is one email.
type Message struct {
	// Kind is the template name ("invitation", "password_reset",
	// "email_verification", "email_change"); it appears in logs only.
	Kind string
	// To is one address, "ada@example.com" or "Ada Lovelace <ada@example.com>".
	To string
	// Subject is the subject, any Unicode text on one line.
	Subject string
	// Text is the text/plain body.
	Text string
	// HTML is the text/html body; empty sends a text-only message.
	HTML string
	// Link is the action link inside the message. Only the log mailer
	// (NewLogMailer) writes it anywhere; nothing else logs it.
	Link string
}

// Mailer sends messages. Implementations are safe for concurrent use.
type Mailer interface {
	// Send sends m, or returns why not. It returns when the message was
	// handed over (for SMTP: accepted by the server) or ctx ended.
	Send(ctx context.Context, m Message) error
}

// NewLogMailer returns the default Mailer of the embedded server: it sends
// nothing. It writes each message to log at INFO, with the message
// "mail not sent (log mailer)" and the attributes kind, to, subject, link
// and text (the text body).
//
// THE LOG THEN HOLDS WORKING CREDENTIALS. The link of an invitation, a
// password reset or an email verification carries a single-use token: anyone
// who reads the log can accept the invitation, set the password or confirm
// the address before its owner does. That is the point in development (a
// developer without a mail server copies the link from the log), and the
// reason not to run a production server with it: configure IDENTITY_SMTP_URL
// there (see NewSMTP).
//
// A nil log means slog.Default(). Send never fails.
func NewLogMailer(log *slog.Logger) Mailer {
	if log == nil {
		log = slog.Default()
	}
	return logMailer{log: log}
}

type logMailer struct{ log *slog.Logger }

func (l logMailer) Send(ctx context.Context, m Message) error {
	l.log.LogAttrs(ctx, slog.LevelInfo, "mail not sent (log mailer)",
		slog.String("kind", m.Kind),
		slog.String("to", m.To),
		slog.String("subject", m.Subject),
		slog.String("link", m.Link),
		slog.String("text", m.Text),
	)
	return nil
}
