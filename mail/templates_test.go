package mail_test

import (
	"errors"
	"html"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cf/identity/mail"
)

var testData = mail.Data{
	To:           "ada@example.org",
	Link:         "https://id.example.com/act?token=tok_Zx81&step=2",
	ExpiresAt:    time.Date(2030, 3, 4, 5, 6, 0, 0, time.UTC),
	Organization: "Acme",
	Inviter:      "Grace Hopper",
	Name:         "Ada",
}

func TestDefaultTemplates(t *testing.T) {
	kinds := []string{mail.KindEmailChange, mail.KindEmailVerification, mail.KindInvitation, mail.KindPasswordReset}
	if got := mail.DefaultTemplates().Kinds(); !slices.Equal(got, kinds) {
		t.Fatalf("Kinds() = %q, want %q", got, kinds)
	}
	wantSubject := map[string]string{
		mail.KindInvitation:        "Grace Hopper invited you to join Acme on cf identity",
		mail.KindPasswordReset:     "Reset your cf identity password",
		mail.KindEmailVerification: "Confirm your email address for cf identity",
		mail.KindEmailChange:       "Confirm your new email address for cf identity",
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			m, err := mail.DefaultTemplates().Render(kind, testData)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if m.Kind != kind || m.To != testData.To || m.Link != testData.Link {
				t.Errorf("Kind %q, To %q, Link %q: not taken from the call", m.Kind, m.To, m.Link)
			}
			if m.Subject != wantSubject[kind] {
				t.Errorf("Subject = %q, want %q", m.Subject, wantSubject[kind])
			}
			htmlText := html.UnescapeString(m.HTML)
			for _, want := range []string{testData.Link, "Hello Ada,", "4 March 2030 at 05:06 UTC", "cf identity"} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("text body lacks %q:\n%s", want, m.Text)
				}
				if !strings.Contains(htmlText, want) {
					t.Errorf("HTML body lacks %q:\n%s", want, m.HTML)
				}
			}
			if !strings.Contains(m.HTML, `href="https://id.example.com/act?token=tok_Zx81&amp;step=2"`) {
				t.Errorf("HTML has no working href for the link:\n%s", m.HTML)
			}
			if strings.HasPrefix(m.Text, "\n") || strings.Contains(m.Text, "Subject:") || strings.Contains(m.Text, "\n\n\n") {
				t.Errorf("text body has the subject line, or stray blank lines:\n%q", m.Text)
			}
		})
	}
}

func TestRenderVariants(t *testing.T) {
	tests := []struct {
		name        string
		kind        string
		data        mail.Data
		wantSubject string
		wantText    []string // in the text body
		wantHTML    []string // in the HTML body, as is
		notText     []string
		notHTML     []string
	}{
		{
			name: "inviter's note is escaped in HTML, as is in text",
			kind: mail.KindInvitation,
			data: mail.Data{To: "a@example.org", Link: "https://x.example/i", Organization: "Acme", Inviter: "Eve",
				Message: "Join us! <script>alert(1)</script> & <a href=\"https://evil.example\">here</a>"},
			wantText: []string{"Eve wrote:", "<script>alert(1)</script> & <a href=\"https://evil.example\">here</a>"},
			wantHTML: []string{"&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;a href=&#34;https://evil.example&#34;&gt;here&lt;/a&gt;"},
			notHTML:  []string{"<script>", `<a href="https://evil.example"`},
		},
		{
			name:        "invitation without inviter, name, note or expiry",
			kind:        mail.KindInvitation,
			data:        mail.Data{To: "a@example.org", Link: "https://x.example/i", Organization: "Acme", Product: "Acme ID"},
			wantSubject: "You are invited to join Acme on Acme ID",
			wantText:    []string{"Hello,\n", "You have been invited to join Acme on Acme ID."},
			notText:     []string{"wrote:", "until", "cf identity"},
			notHTML:     []string{"<blockquote", "until"},
		},
		{
			name:        "line breaks in data do not reach the subject",
			kind:        mail.KindInvitation,
			data:        mail.Data{To: "a@example.org", Link: "https://x.example/i", Organization: "Acme\r\nBcc: eve@example.net", Inviter: "G"},
			wantSubject: "G invited you to join Acme Bcc: eve@example.net on cf identity",
		},
		{
			name:     "a javascript: link is neutralized in HTML",
			kind:     mail.KindPasswordReset,
			data:     mail.Data{To: "a@example.org", Link: "javascript:alert(1)"},
			wantHTML: []string{`href="#ZgotmplZ"`},
			notHTML:  []string{`href="javascript:`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := mail.DefaultTemplates().Render(tt.kind, tt.data)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if tt.wantSubject != "" && m.Subject != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.wantSubject)
			}
			check := func(body, what string, want, not []string) {
				for _, s := range want {
					if !strings.Contains(body, s) {
						t.Errorf("%s body lacks %q:\n%s", what, s, body)
					}
				}
				for _, s := range not {
					if strings.Contains(body, s) {
						t.Errorf("%s body has %q:\n%s", what, s, body)
					}
				}
			}
			check(m.Text, "text", tt.wantText, tt.notText)
			check(m.HTML, "HTML", tt.wantHTML, tt.notHTML)
		})
	}
}

func TestRenderUnknownKind(t *testing.T) {
	_, err := mail.DefaultTemplates().Render("welcome", testData)
	var te *mail.TemplateError
	if !errors.Is(err, mail.ErrTemplate) || !errors.As(err, &te) || te.Kind != "welcome" {
		t.Fatalf("Render error %v, want a *TemplateError for kind welcome matching ErrTemplate", err)
	}
	if !strings.Contains(err.Error(), "invitation") {
		t.Errorf("error %q does not list the known kinds", err)
	}
	// A nil *Templates renders the defaults.
	var none *mail.Templates
	if m, err := none.Render(mail.KindPasswordReset, testData); err != nil || m.Subject == "" {
		t.Errorf("nil Templates: %v", err)
	}
}

func TestParseFS(t *testing.T) {
	defaults := mail.DefaultTemplates()
	before := map[string]mail.Message{}
	for _, kind := range defaults.Kinds() {
		m, err := defaults.Render(kind, testData)
		if err != nil {
			t.Fatal(err)
		}
		before[kind] = m
	}
	tests := []struct {
		name  string
		files fstest.MapFS
		check func(t *testing.T, tpl *mail.Templates)
	}{
		{
			name: "one HTML template replaced, the rest kept",
			files: fstest.MapFS{
				"invitation.html.tmpl": {Data: []byte(`<p>Custom: <a href="{{.Link}}">join {{.Organization}}</a></p>`)},
				"README.md":            {Data: []byte("not a template")},
			},
			check: func(t *testing.T, tpl *mail.Templates) {
				m := render(t, tpl, mail.KindInvitation)
				if m.HTML != `<p>Custom: <a href="https://id.example.com/act?token=tok_Zx81&amp;step=2">join Acme</a></p>` {
					t.Errorf("HTML = %q, want the replacement", m.HTML)
				}
				if m.Text != before[mail.KindInvitation].Text || m.Subject != before[mail.KindInvitation].Subject {
					t.Error("the default text template of the kind was not kept")
				}
				for _, kind := range []string{mail.KindPasswordReset, mail.KindEmailVerification, mail.KindEmailChange} {
					if render(t, tpl, kind) != before[kind] {
						t.Errorf("%s changed", kind)
					}
				}
			},
		},
		{
			name: "text template with subject replaced",
			files: fstest.MapFS{
				"password_reset.txt.tmpl": {Data: []byte("Subject: {{.Product}}: new password\r\n\r\nGo to {{.Link}}\n")},
			},
			check: func(t *testing.T, tpl *mail.Templates) {
				m := render(t, tpl, mail.KindPasswordReset)
				if m.Subject != "cf identity: new password" || m.Text != "Go to "+testData.Link+"\n" {
					t.Errorf("Subject %q, Text %q: not the replacement", m.Subject, m.Text)
				}
				if m.HTML != before[mail.KindPasswordReset].HTML {
					t.Error("the default HTML template of the kind was not kept")
				}
			},
		},
		{
			name:  "a new kind, text only",
			files: fstest.MapFS{"welcome.txt.tmpl": {Data: []byte("Subject: Welcome to {{.Organization}}\nHello {{.Name}}\n")}},
			check: func(t *testing.T, tpl *mail.Templates) {
				m := render(t, tpl, "welcome")
				if m.Subject != "Welcome to Acme" || m.Text != "Hello Ada\n" || m.HTML != "" {
					t.Errorf("welcome = %+v", m)
				}
				if len(tpl.Kinds()) != 5 {
					t.Errorf("Kinds() = %q", tpl.Kinds())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := defaults.ParseFS(tt.files)
			if err != nil {
				t.Fatalf("ParseFS: %v", err)
			}
			tt.check(t, tpl)
			for kind, m := range before {
				if render(t, mail.DefaultTemplates(), kind) != m {
					t.Errorf("ParseFS changed the default %s", kind)
				}
			}
		})
	}
}

func render(t *testing.T, tpl *mail.Templates, kind string) mail.Message {
	t.Helper()
	m, err := tpl.Render(kind, testData)
	if err != nil {
		t.Fatalf("Render(%s): %v", kind, err)
	}
	return m
}

func TestParseFSErrors(t *testing.T) {
	tests := []struct {
		name     string
		files    fstest.MapFS
		wantFile string
		wantText string
	}{
		{"HTML that does not parse", fstest.MapFS{"invitation.html.tmpl": {Data: []byte("<p>{{.Link</p>")}},
			"invitation.html.tmpl", "invitation.html.tmpl:1"},
		{"text body that does not parse, line of the file", fstest.MapFS{"email_change.txt.tmpl": {Data: []byte("Subject: x\n\nline 3\n{{if}}\n")}},
			"email_change.txt.tmpl", "email_change.txt.tmpl:4"},
		{"subject that does not parse", fstest.MapFS{"email_change.txt.tmpl": {Data: []byte("Subject: {{.To\n\nbody")}},
			"email_change.txt.tmpl", "email_change.txt.tmpl:1"},
		{"no subject line", fstest.MapFS{"password_reset.txt.tmpl": {Data: []byte("Reset your password: {{.Link}}")}},
			"password_reset.txt.tmpl", "Subject:"},
		{"HTML of a new kind without text", fstest.MapFS{"welcome.html.tmpl": {Data: []byte("<p>hi</p>")}},
			"welcome.html.tmpl", "welcome.txt.tmpl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mail.DefaultTemplates().ParseFS(tt.files)
			var te *mail.TemplateError
			if !errors.Is(err, mail.ErrTemplate) || !errors.As(err, &te) {
				t.Fatalf("ParseFS error %v, want a *TemplateError matching ErrTemplate", err)
			}
			if te.File != tt.wantFile || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q (File %q), want File %q and %q in the text", err, te.File, tt.wantFile, tt.wantText)
			}
		})
	}
}

func TestRenderExecError(t *testing.T) {
	tpl, err := mail.DefaultTemplates().ParseFS(fstest.MapFS{
		"invitation.html.tmpl": {Data: []byte("<p>{{.NoSuchField}}</p>")},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpl.Render(mail.KindInvitation, testData)
	var te *mail.TemplateError
	if !errors.As(err, &te) || te.File != "invitation.html.tmpl" || !errors.Is(err, mail.ErrTemplate) {
		t.Errorf("Render error %v, want a *TemplateError naming invitation.html.tmpl", err)
	}
}
