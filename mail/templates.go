package mail

import (
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"
)

// DefaultProduct is the product name templates see when Data.Product is
// empty.
const DefaultProduct = "cf identity"

// Template file names: KIND + one of these suffixes.
const (
	textSuffix = ".txt.tmpl"
	htmlSuffix = ".html.tmpl"
)

//go:embed templates/*.tmpl
var defaultFS embed.FS

// Data is what templates see, as the dot: {{.Link}}, {{.Organization}}.
type Data struct {
	// To is the recipient's address; Render copies it to Message.To.
	To string
	// Product is the product name; empty means DefaultProduct.
	Product string
	// Link is the action link; Render copies it to Message.Link.
	Link string
	// ExpiresAt is when the link stops working; the zero time leaves the
	// sentence about it out of the default templates.
	ExpiresAt time.Time
	// Organization is, for an invitation, the organization's name.
	Organization string
	// Inviter is, for an invitation, the inviter's display name or email.
	Inviter string
	// Message is, for an invitation, the inviter's optional note. HTML
	// templates escape it like every value (html/template does).
	Message string
	// Name is the recipient's name when known.
	Name string
}

// Templates renders messages from a text template and, optionally, an HTML
// template per kind. A Templates is immutable and safe for concurrent use;
// ParseFS returns a new one.
//
// The templates of a kind are two files:
//
//	KIND.txt.tmpl   text/template: the subject and the text/plain body
//	KIND.html.tmpl  html/template: the text/html body (optional)
//
// The first line of KIND.txt.tmpl is the subject template, after
// "Subject:"; the body starts on the next line, or after one blank line.
// The rendered subject has its runs of white space (line breaks included)
// turned into single spaces. Line numbers in errors are those of the file.
// Without KIND.html.tmpl the message is text only.
//
// The default kinds are "invitation", "password_reset",
// "email_verification" and "email_change"; their files are in the
// templates folder of this package, a starting point for replacements.
type Templates struct {
	kinds map[string]*kindTemplates
}

type kindTemplates struct {
	textFile, htmlFile string
	subject            *texttemplate.Template
	text               *texttemplate.Template
	html               *htmltemplate.Template // nil: text only
}

var defaults = sync.OnceValue(func() *Templates {
	sub, err := fs.Sub(defaultFS, "templates")
	if err != nil {
		panic(err)
	}
	t, err := (&Templates{}).parseFS(sub)
	if err != nil {
		panic(err) // the embedded templates are tested
	}
	return t
})

// DefaultTemplates returns the built-in templates of the four kinds, each
// with a text and an HTML body. The result is shared; it cannot be changed,
// only extended into a new Templates with ParseFS.
func DefaultTemplates() *Templates { return defaults() }

// ParseFS returns a new Templates: those of t, with the template files at
// the root of fsys replacing theirs, file by file. An embedder replaces
// what it wants and keeps the other defaults:
//
//	t, err := mail.DefaultTemplates().ParseFS(os.DirFS("/etc/identity/mail"))
//
// with, for example, only invitation.html.tmpl in that folder. A file for a
// new KIND adds that kind; it needs a KIND.txt.tmpl. Files whose names do
// not end in .txt.tmpl or .html.tmpl are ignored. t is not changed.
//
// A file that does not parse is a *TemplateError (matching ErrTemplate)
// naming the file.
func (t *Templates) ParseFS(fsys fs.FS) (*Templates, error) {
	if t == nil {
		t = DefaultTemplates()
	}
	return t.parseFS(fsys)
}

func (t *Templates) parseFS(fsys fs.FS) (*Templates, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, &TemplateError{Err: fmt.Errorf("reading the template folder: %w", err)}
	}
	out := &Templates{kinds: maps.Clone(t.kinds)}
	if out.kinds == nil {
		out.kinds = map[string]*kindTemplates{}
	}
	changed := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		kind, isText := strings.CutSuffix(name, textSuffix)
		kind, isHTML := strings.CutSuffix(kind, htmlSuffix)
		if e.IsDir() || (!isText && !isHTML) || kind == "" {
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, &TemplateError{Kind: kind, File: name, Err: err}
		}
		// Copy on first change, so that t is never modified.
		if !changed[kind] {
			kt := &kindTemplates{}
			if old := out.kinds[kind]; old != nil {
				*kt = *old
			}
			out.kinds[kind] = kt
			changed[kind] = true
		}
		kt := out.kinds[kind]
		if isText {
			kt.subject, kt.text, err = parseText(name, string(src))
			kt.textFile = name
		} else {
			kt.html, err = htmltemplate.New(name).Parse(string(src))
			kt.htmlFile = name
		}
		if err != nil {
			return nil, &TemplateError{Kind: kind, File: name, Err: err}
		}
	}
	for kind, kt := range out.kinds {
		if kt.text == nil {
			return nil, &TemplateError{Kind: kind, File: kt.htmlFile,
				Err: fmt.Errorf("no %s%s beside it for the subject and the text body", kind, textSuffix)}
		}
	}
	return out, nil
}

// parseText parses KIND.txt.tmpl into its subject and body templates.
func parseText(name, src string) (subject, body *texttemplate.Template, err error) {
	first, rest, _ := strings.Cut(src, "\n")
	line, ok := strings.CutPrefix(strings.TrimSuffix(first, "\r"), "Subject:")
	if !ok {
		return nil, nil, errors.New(`the first line must be the subject, "Subject: ..."`)
	}
	subject, err = texttemplate.New(name).Parse(strings.TrimSpace(line))
	if err != nil {
		return nil, nil, err
	}
	skipped := 1
	if r, ok := strings.CutPrefix(rest, "\n"); ok {
		rest, skipped = r, 2
	} else if r, ok := strings.CutPrefix(rest, "\r\n"); ok {
		rest, skipped = r, 2
	}
	// A comment holding the skipped line breaks keeps the body's line
	// numbers those of the file, and renders as nothing.
	body, err = texttemplate.New(name).Parse("{{/*" + strings.Repeat("\n", skipped) + "*/}}" + rest)
	if err != nil {
		return nil, nil, err
	}
	return subject, body, nil
}

// Kinds returns the kinds t renders, sorted.
func (t *Templates) Kinds() []string {
	if t == nil {
		t = DefaultTemplates()
	}
	return slices.Sorted(maps.Keys(t.kinds))
}

// Render renders the templates of kind with data into a Message with Kind,
// To (data.To), Subject, Text, HTML (empty without an HTML template) and
// Link (data.Link) set. An unknown kind, or a template that fails to
// execute, is a *TemplateError matching ErrTemplate. A nil t renders the
// default templates.
func (t *Templates) Render(kind string, data Data) (Message, error) {
	if t == nil {
		t = DefaultTemplates()
	}
	kt, ok := t.kinds[kind]
	if !ok {
		return Message{}, &TemplateError{Kind: kind,
			Err: fmt.Errorf("unknown kind (known: %s)", strings.Join(t.Kinds(), ", "))}
	}
	if data.Product == "" {
		data.Product = DefaultProduct
	}
	m := Message{Kind: kind, To: data.To, Link: data.Link}

	var b strings.Builder
	if err := kt.subject.Execute(&b, data); err != nil {
		return Message{}, &TemplateError{Kind: kind, File: kt.textFile, Err: err}
	}
	m.Subject = strings.Join(strings.Fields(b.String()), " ")
	b.Reset()
	if err := kt.text.Execute(&b, data); err != nil {
		return Message{}, &TemplateError{Kind: kind, File: kt.textFile, Err: err}
	}
	m.Text = b.String()
	if kt.html != nil {
		b.Reset()
		if err := kt.html.Execute(&b, data); err != nil {
			return Message{}, &TemplateError{Kind: kind, File: kt.htmlFile, Err: err}
		}
		m.HTML = b.String()
	}
	return m, nil
}
