package mail_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cf/identity/mail"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		raw  string
		want mail.SMTPConfig
	}{
		{"smtp://user:pass@mail.example.com:587?from=no-reply@example.com", mail.SMTPConfig{
			Host: "mail.example.com", Port: 587, Username: "user", Password: "pass",
			TLS: mail.TLSStartTLS, From: "no-reply@example.com", Timeout: 10 * time.Second}},
		{"smtps://user:pass@mail.example.com:465", mail.SMTPConfig{
			Host: "mail.example.com", Port: 465, Username: "user", Password: "pass", TLS: mail.TLSImplicit, Timeout: 10 * time.Second}},
		{"smtp://mail.example.com", mail.SMTPConfig{Host: "mail.example.com", Port: 587, Timeout: 10 * time.Second}},
		{"smtps://mail.example.com/", mail.SMTPConfig{Host: "mail.example.com", Port: 465, TLS: mail.TLSImplicit, Timeout: 10 * time.Second}},
		{"SMTP://apikey@mail.example.com:2525", mail.SMTPConfig{Host: "mail.example.com", Port: 2525, Username: "apikey", Timeout: 10 * time.Second}},
		{"smtp://u%40example.com:p%40ss%2Fw%3Ard%20x@mail.example.com?timeout=5s&insecure_skip_verify=true", mail.SMTPConfig{
			Host: "mail.example.com", Port: 587, Username: "u@example.com", Password: "p@ss/w:rd x",
			InsecureSkipVerify: true, Timeout: 5 * time.Second}},
		{"smtp://mail.example.com?from=cf%20identity%20%3Cno-reply@example.com%3E", mail.SMTPConfig{
			Host: "mail.example.com", Port: 587, From: "cf identity <no-reply@example.com>", Timeout: 10 * time.Second}},
		{"smtp://localhost:1025?insecure=true", mail.SMTPConfig{Host: "localhost", Port: 1025, Insecure: true, Timeout: 10 * time.Second}},
		{"smtp://127.0.0.1:25?insecure=1&timeout=1m", mail.SMTPConfig{Host: "127.0.0.1", Port: 25, Insecure: true, Timeout: time.Minute}},
		{"smtp://[::1]:25?insecure=true&insecure_skip_verify=false", mail.SMTPConfig{Host: "::1", Port: 25, Insecure: true, Timeout: 10 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := mail.ParseURL(tt.raw)
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if got != tt.want {
				t.Errorf("ParseURL =\n%+v, want\n%+v", fields(got), fields(tt.want))
			}
			// Redacted is a URL that parses to the same, but for the password.
			again, err := mail.ParseURL(got.Redacted())
			if err != nil {
				t.Fatalf("ParseURL(Redacted() = %q): %v", got.Redacted(), err)
			}
			want := got
			if want.Password != "" {
				want.Password = "xxxxx"
			}
			if again != want {
				t.Errorf("ParseURL(%q) =\n%+v, want\n%+v", got.Redacted(), fields(again), fields(want))
			}
		})
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		raw        string
		wantReason string
		secret     string // must not appear in the error
	}{
		{"", "missing scheme", ""},
		{"mail.example.com:587", "not smtp or smtps", ""},
		{"http://u:s3cret@mail.example.com", `scheme "http" is not smtp or smtps`, "s3cret"},
		{"smtp://u:s3cret@", "missing host", "s3cret"},
		{"smtp:mail.example.com", "missing host", ""},
		{"smtp://u:s3cret@mail.example.com:0", `port "0"`, "s3cret"},
		{"smtp://u:s3cret@mail.example.com:99999", `port "99999"`, "s3cret"},
		{"smtp://mail.example.com:abc", `invalid port ":abc"`, ""},
		{"smtp://u:s3cret@mail.example.com:abc", "percent-encode", "s3cret"},
		{"smtp://u:s3/cret@mail.example.com", "percent-encode", "cret"},
		{"smtp://u:s3?cret@mail.example.com", "percent-encode", "cret"},
		{"smtp://u:s3#cret@mail.example.com", "percent-encode", "cret"},
		{"smtp://u:12/34@mail.example.com", "unexpected path", "12/34"},
		{"smtp://u:s3cret@mail.example.com/inbox", "unexpected path", "s3cret"},
		{"smtp://:s3cret@mail.example.com", "password without a user name", "s3cret"},
		{"smtp://u:s3cret@mail.example.com?bogus=1", `unknown option "bogus"`, "s3cret"},
		{"smtp://u:s3cret@mail.example.com?timeout=soon", "timeout", "s3cret"},
		{"smtp://u:s3cret@mail.example.com?timeout=-1s", "positive duration", "s3cret"},
		{"smtp://u:s3cret@mail.example.com?insecure=maybe", `"maybe" is not true or false`, "s3cret"},
		{"smtp://u:s3cret@mail.example.com?insecure_skip_verify=2", "insecure_skip_verify", "s3cret"},
		{"smtp://u:s3cret@mail.example.com?insecure=true", "only for localhost", "s3cret"},
		{"smtps://localhost?insecure=true", "smtp:// only", ""},
		{"smtp://u:s3cret@mail.example.com?from=nobody", "from", "s3cret"},
		{"smtp://u:s3cret@mail.example.com?from=a@example.com&from=b@example.com", "given 2 times", "s3cret"},
		{"smtp://u:s3cret@mail.example.com?from=%zz", "query", "s3cret"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			_, err := mail.ParseURL(tt.raw)
			var ue *mail.URLError
			if !errors.As(err, &ue) || !errors.Is(err, mail.ErrURL) {
				t.Fatalf("ParseURL error %v (%T), want a *URLError matching ErrURL", err, err)
			}
			if !strings.Contains(ue.Reason, tt.wantReason) {
				t.Errorf("Reason %q does not say %q", ue.Reason, tt.wantReason)
			}
			if tt.secret != "" && (strings.Contains(err.Error(), tt.secret) || strings.Contains(ue.URL, tt.secret)) {
				t.Errorf("error %q shows the password %q", err, tt.secret)
			}
			if tt.secret != "" && !strings.Contains(ue.URL, "xxxxx") {
				t.Errorf("URL %q is not redacted with xxxxx", ue.URL)
			}
		})
	}
}

func TestSMTPConfigHidesPassword(t *testing.T) {
	cfg, err := mail.ParseURL("smtps://user:hunter2@mail.example.com?from=no-reply@example.com&timeout=3s")
	if err != nil {
		t.Fatal(err)
	}
	const want = "smtps://user:xxxxx@mail.example.com:465?from=no-reply%40example.com&timeout=3s"
	if got := cfg.Redacted(); got != want {
		t.Errorf("Redacted() = %q, want %q", got, want)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "smtp", cfg)
	for name, s := range map[string]string{
		"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg), "%s": fmt.Sprintf("%s", cfg), "%#v": fmt.Sprintf("%#v", cfg),
		"slog": logged.String(),
	} {
		if strings.Contains(s, "hunter2") || !strings.Contains(s, "xxxxx") {
			t.Errorf("%s prints %q: the password shows, or no redacted URL", name, s)
		}
	}
}

func TestTLSModeString(t *testing.T) {
	for mode, want := range map[mail.TLSMode]string{mail.TLSStartTLS: "starttls", mail.TLSImplicit: "implicit", 9: "TLSMode(9)"} {
		if got := mode.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(mode), got, want)
		}
	}
}

// fields shows every field of c, the password included, for test failures
// (SMTPConfig's own formatting hides it).
func fields(c mail.SMTPConfig) string {
	type plain mail.SMTPConfig
	return fmt.Sprintf("%+v", plain(c))
}
