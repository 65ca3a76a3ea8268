// Package mail sends the emails of cf identity's flows (invitations,
// password resets, email verification, email changes): it renders them
// from templates, queues them in process and sends them over SMTP.
//
// A flow renders a [Message] with [Templates.Render] and hands it to an
// [Outbox] after its transaction has committed; the outbox sends it through
// a [Mailer] in the background, retrying temporary failures:
//
//	msg, err := mail.DefaultTemplates().Render(mail.KindPasswordReset, mail.Data{
//		To:        user.Email,
//		Link:      "https://identity.example.com/reset?token=" + token,
//		ExpiresAt: expiresAt,
//	})
//	if err != nil {
//		return err
//	}
//	outbox.Enqueue(msg)
//
// # The log mailer: the default, for development only
//
// Without IDENTITY_SMTP_URL the embedded server uses [NewLogMailer]: it
// sends nothing and writes every message to the log at INFO, its action
// link included. The link carries a single-use token, so a developer
// without a mail server copies it from the log and goes on. It also means
// that anyone who can read that log can accept the invitations, reset the
// passwords and confirm the addresses in it. Fine for development; never
// for production, where IDENTITY_SMTP_URL must be set.
//
// # IDENTITY_SMTP_URL
//
// [ParseURL] reads the SMTP server from one URL; [NewSMTP] makes a Mailer
// of it:
//
//	smtp://user:pass@mail.example.com:587?from=no-reply@example.com
//	smtps://user:pass@mail.example.com:465?from=no-reply@example.com
//	smtp://localhost:1025?insecure=true&from=dev@localhost
//
// smtp:// connects in the clear and requires STARTTLS (port 587 by
// default); smtps:// is TLS from the start (port 465 by default). User name
// and password, sent with AUTH PLAIN and only over TLS, are percent-encoded
// (a password "p@ss/word" is written p%40ss%2Fword). The options are
// from (the sender, required here or by the caller of NewSMTP), timeout
// (bound on one send, 10s by default), insecure=true (localhost only: go on
// without TLS when the server does not offer STARTTLS, for a mail catcher
// on the developer's machine) and insecure_skip_verify=true (accept any
// certificate, for test servers). Errors and [SMTPConfig.Redacted] show the
// password as "xxxxx".
//
// # Templates
//
// [DefaultTemplates] has a text and an HTML template for each kind; the
// subject is the first line, "Subject: ...", of the text template. An
// embedder replaces any of them, file by file, with [Templates.ParseFS]
// over a folder holding files of the same names (invitation.txt.tmpl,
// invitation.html.tmpl, ...); the files not given keep their defaults. The
// defaults, in this package's templates folder, are the starting point.
//
// # The outbox is in process
//
// An [Outbox] holds its queue in memory: a message still queued, or waiting
// for a retry, when the process stops is lost, and so is one dropped because
// the queue was full. Nothing is stored to be sent later. The flows that
// send mail let a person ask again: an administrator resends an invitation,
// a user requests another password reset or verification email. Call
// [Outbox.Close] on shutdown to send what is queued within a grace period.
package mail
