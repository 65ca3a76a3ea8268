package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cf/identity/ent"
	"github.com/cf/identity/features"
	"github.com/cf/identity/graph"
	"github.com/cf/identity/invitation"
	"github.com/cf/identity/mail"
	"github.com/cf/identity/oauthlink"
	"github.com/cf/identity/session"
)

// flowFlags configure mail and the mailed-link flows: invitations,
// password reset, email verification and signup.
type flowFlags struct {
	publicURL, smtpURL, from, templates *string
	signup, invitations, reset          *bool
	inviteTTL, resetTTL, verifyTTL      *time.Duration
}

func (m *flowFlags) register(f *flags) {
	m.publicURL = f.String("public-url", "IDENTITY_PUBLIC_URL", "http://127.0.0.1:8080", "where users reach the product: mailed links are this URL + /invitations/accept, /password-reset or /verify-email + ?token=...")
	m.smtpURL = f.String("smtp-url", "IDENTITY_SMTP_URL", "", "smtp://user:pass@host:587?from=no-reply@example.com (STARTTLS) or smtps://...:465 (TLS); empty writes every message, link included, to the log instead (development only)")
	m.from = f.String("mail-from", "IDENTITY_MAIL_FROM", "", "sender of mail (\"Example <no-reply@example.com>\"); default the from= of --smtp-url")
	m.templates = f.String("mail-templates", "IDENTITY_MAIL_TEMPLATES", "", "directory of templates replacing the built-in ones (KIND.txt.tmpl, KIND.html.tmpl; kinds invitation, password_reset, email_verification, email_change)")
	m.signup = f.Bool("signup", "IDENTITY_SIGNUP", false, "allow self-signup (POST /auth/signup); a platform admin can switch it at run time (setFeature)")
	m.invitations = f.Bool("invitations", "IDENTITY_INVITATIONS", true, "allow invitations (inviteMember, /auth/invitations/accept); switchable at run time")
	m.reset = f.Bool("password-reset", "IDENTITY_PASSWORD_RESET", true, "allow password reset by mail (/auth/password-reset/*); switchable at run time")
	m.inviteTTL = f.Duration("invitation-ttl", "IDENTITY_INVITATION_TTL", invitation.DefaultTTL, "how long an invitation link works (1h to 90 days)")
	m.resetTTL = f.Duration("password-reset-ttl", "IDENTITY_PASSWORD_RESET_TTL", session.DefaultResetTTL, "how long a password-reset link works (1m to 24h)")
	m.verifyTTL = f.Duration("verify-email-ttl", "IDENTITY_VERIFY_EMAIL_TTL", session.DefaultVerifyTTL, "how long an email-verification link works (1m to 30 days)")
}

// mailer returns the Mailer of the flags: SMTP, or the log.
func (m *flowFlags) mailer(log *slog.Logger) (mail.Mailer, error) {
	if *m.smtpURL == "" {
		return mail.NewLogMailer(log), nil
	}
	cfg, err := mail.ParseURL(*m.smtpURL)
	if err != nil {
		return nil, fmt.Errorf("%w: --smtp-url: %w", errUsage, err)
	}
	s, err := mail.NewSMTP(cfg, *m.from)
	if err != nil {
		return nil, fmt.Errorf("%w: --smtp-url %s: %w", errUsage, cfg.Redacted(), err)
	}
	return s, nil
}

// flows builds the mailed-link flows over client and sessions; stop
// closes the outbox (sending what is queued until its ctx ends). ctx is the
// command's: when building fails the outbox is closed under it, without its
// cancellation.
func (m *flowFlags) flows(ctx context.Context, client *ent.Client, sessions *session.Manager, log *slog.Logger) (graph.Flows, func(context.Context), error) {
	mailer, err := m.mailer(log)
	if err != nil {
		return graph.Flows{}, nil, err
	}
	tpl := mail.DefaultTemplates()
	if *m.templates != "" {
		if tpl, err = tpl.ParseFS(os.DirFS(*m.templates)); err != nil {
			return graph.Flows{}, nil, fmt.Errorf("%w: --mail-templates %s: %w", errUsage, *m.templates, err)
		}
	}
	outbox := mail.NewOutbox(mailer, log, mail.OutboxOptions{})
	stop := func(ctx context.Context) {
		if err := outbox.Close(ctx); err != nil {
			log.Warn("mail outbox closed with messages unsent", "err", err)
		}
	}
	courier, err := mail.NewCourier(outbox, mail.CourierOptions{PublicURL: *m.publicURL, Templates: tpl, Log: log})
	if err != nil {
		stop(context.WithoutCancel(ctx))
		return graph.Flows{}, nil, fmt.Errorf("%w: --public-url: %w", errUsage, err)
	}
	gates := features.New(client, map[features.Flow]bool{
		features.Signup: *m.signup, features.Invitations: *m.invitations, features.PasswordReset: *m.reset,
	})
	out := graph.Flows{Features: gates}
	if sessions == nil {
		return out, stop, nil
	}
	if out.Recovery, err = session.NewRecovery(sessions, session.RecoveryConfig{Mail: courier, Gates: gates, ResetTTL: *m.resetTTL, VerifyTTL: *m.verifyTTL}); err != nil {
		stop(context.WithoutCancel(ctx))
		return graph.Flows{}, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if out.Invitations, err = invitation.New(client, invitation.Config{Sessions: sessions, Mail: courier, Gates: gates, TTL: *m.inviteTTL}); err != nil {
		stop(context.WithoutCancel(ctx))
		return graph.Flows{}, nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	if out.OAuth, err = oauthlink.New(client, sessions.Sealer()); err != nil {
		stop(context.WithoutCancel(ctx))
		return graph.Flows{}, nil, err
	}
	return out, stop, nil
}

// sweep marks expired invitations every minute until ctx ends.
func sweep(ctx context.Context, svc *invitation.Service, log *slog.Logger) {
	if svc == nil {
		return
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if n, err := svc.ExpireDue(ctx, 500); err != nil && ctx.Err() == nil {
			log.Warn("expiring invitations failed", "err", err)
		} else if n > 0 {
			log.Info("invitations expired", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
