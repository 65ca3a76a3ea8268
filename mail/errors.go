package mail

import (
	"errors"
	"fmt"
)

var (
	// ErrURL is matched (errors.Is) by every error of [ParseURL]; the error
	// is a *[URLError] that says what is wrong.
	ErrURL = errors.New("mail: invalid SMTP URL")

	// ErrConfig is matched by the error of [NewSMTP] when the SMTPConfig or
	// the From address cannot be used (no host, a port out of range, a From
	// that is not an address, insecure on a host that is not loopback).
	ErrConfig = errors.New("mail: invalid SMTP configuration")

	// ErrMessage is matched by the error of [SMTPMailer.Send] when the
	// message itself cannot be sent: To is not one address, or To or Subject
	// holds a line break or another control character (which would let a
	// value inject headers). Nothing was sent, and sending the same message
	// again fails the same way.
	ErrMessage = errors.New("mail: invalid message")

	// ErrSend is matched by every error of [SMTPMailer.Send] that comes from
	// talking to the SMTP server; the error is a *[SendError].
	ErrSend = errors.New("mail: send failed")

	// ErrTemplate is matched by every error of [Templates.Render] and
	// [Templates.ParseFS]; the error is a *[TemplateError].
	ErrTemplate = errors.New("mail: template")
)

// URLError is the error of [ParseURL]. It matches [ErrURL].
type URLError struct {
	// URL is the URL as given, with its password replaced by "xxxxx".
	URL string
	// Reason says what is wrong, for a person to fix it.
	Reason string
}

func (e *URLError) Error() string {
	return fmt.Sprintf("mail: invalid SMTP URL %q: %s", e.URL, e.Reason)
}

// Is reports whether target is ErrURL.
func (e *URLError) Is(target error) bool { return target == ErrURL }

// Stages of an SMTP session, the values of [SendError].Stage.
const (
	// StageDial: connecting to the server and, for a connection without
	// TLS or with implicit TLS, reading its greeting and saying EHLO.
	StageDial = "dial"
	// StageTLS: the TLS handshake; for smtp:// also the greeting and EHLO
	// that precede STARTTLS, and STARTTLS itself.
	StageTLS = "tls"
	// StageAuth: AUTH PLAIN, or finding that it cannot be done.
	StageAuth = "auth"
	// StageMail: MAIL FROM.
	StageMail = "mail"
	// StageRcpt: RCPT TO.
	StageRcpt = "rcpt"
	// StageData: DATA, the message, and the server's answer to it.
	StageData = "data"
)

// SendError is the error of [SMTPMailer.Send] when the SMTP session failed.
// It matches [ErrSend] and wraps the cause (a *smtp.SMTPError of
// github.com/emersion/go-smtp for a refusal by the server, a net or TLS
// error otherwise, context.DeadlineExceeded when the timeout or the caller's
// context ended the session).
type SendError struct {
	// Host is the server as host:port.
	Host string
	// Stage is where the session failed: one of StageDial, StageTLS,
	// StageAuth, StageMail, StageRcpt, StageData.
	Stage string
	// Code is the SMTP reply code when the server refused (550, 451, ...),
	// 0 when the failure was not a reply.
	Code int
	// Temporary reports whether sending again later may succeed: a 4xx
	// reply, a refused or dropped connection, a timeout. A 5xx reply is
	// not temporary, nor is a failed certificate check, a server that does
	// not offer STARTTLS or AUTH PLAIN when they are needed, or a server
	// that does not speak TLS where TLS was asked for.
	Temporary bool
	// Err is the cause.
	Err error
}

func (e *SendError) Error() string {
	return fmt.Sprintf("mail: send via %s failed at %s: %v", e.Host, e.Stage, e.Err)
}

// Is reports whether target is ErrSend.
func (e *SendError) Is(target error) bool { return target == ErrSend }

// Unwrap returns the cause.
func (e *SendError) Unwrap() error { return e.Err }

// TemplateError is the error of [Templates.ParseFS] and [Templates.Render].
// It matches [ErrTemplate] and wraps the cause (a text/template or
// html/template error, which names the file and line).
type TemplateError struct {
	// Kind is the message kind ("invitation", ...).
	Kind string
	// File is the template file ("invitation.html.tmpl"), empty when the
	// kind is unknown.
	File string
	// Err is the cause.
	Err error
}

func (e *TemplateError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("mail: template %q: %v", e.Kind, e.Err)
	}
	return fmt.Sprintf("mail: template %s: %v", e.File, e.Err)
}

// Is reports whether target is ErrTemplate.
func (e *TemplateError) Is(target error) bool { return target == ErrTemplate }

// Unwrap returns the cause.
func (e *TemplateError) Unwrap() error { return e.Err }
