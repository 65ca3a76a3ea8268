package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// Courier is what the flows of cf identity (invitations, password resets,
// email verification) use to mail their links: it builds each link from
// the public URL, renders the message from Templates and hands it to an
// Outbox, which sends it in the background. A flow calls Send only after
// its transaction committed; a message that cannot be rendered or queued
// is logged, and never undoes the flow.
type Courier struct {
	outbox    *Outbox
	templates *Templates
	public    *url.URL
	product   string
	log       *slog.Logger
}

// CourierOptions configure a Courier.
type CourierOptions struct {
	// PublicURL is where users reach the product (IDENTITY_PUBLIC_URL):
	// links are PublicURL + a path of the flow + ?token=...; required.
	PublicURL string
	// Templates render the messages; DefaultTemplates when nil.
	Templates *Templates
	// Product names the product in messages; "cf identity" when empty.
	Product string
	// Log receives the errors of rendering and queueing; slog.Default
	// when nil.
	Log *slog.Logger
}

// ErrPublicURL is matched by the errors of NewCourier for a public URL
// that is not an absolute http or https URL.
var ErrPublicURL = errors.New("mail: invalid public URL")

// NewCourier returns a Courier that queues its messages in outbox.
func NewCourier(outbox *Outbox, opts CourierOptions) (*Courier, error) {
	if outbox == nil {
		return nil, fmt.Errorf("%w: no outbox", ErrConfig)
	}
	u, err := url.Parse(strings.TrimSpace(opts.PublicURL))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w %q: %w", ErrPublicURL, opts.PublicURL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w %q: want http:// or https://", ErrPublicURL, opts.PublicURL)
	case u.Host == "":
		return nil, fmt.Errorf("%w %q: no host", ErrPublicURL, opts.PublicURL)
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return nil, fmt.Errorf("%w %q: no query, fragment or user info", ErrPublicURL, opts.PublicURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Courier{outbox: outbox, templates: opts.Templates, public: u, product: opts.Product, log: opts.Log}
	if c.templates == nil {
		c.templates = DefaultTemplates()
	}
	if c.product == "" {
		c.product = DefaultProduct
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c, nil
}

// Link returns the public URL of path with the token as its query.
func (c *Courier) Link(path, token string) string {
	u := *c.public
	u.Path = c.public.Path + "/" + strings.TrimPrefix(path, "/")
	u.RawQuery = url.Values{"token": {token}}.Encode()
	return u.String()
}

// Send renders kind with data and queues the message. It reports whether
// the message was queued; a failure is logged (never with the link).
func (c *Courier) Send(ctx context.Context, kind string, data Data) bool {
	if data.Product == "" {
		data.Product = c.product
	}
	m, err := c.templates.Render(kind, data)
	if err != nil {
		c.log.ErrorContext(ctx, "mail: cannot render the message", "kind", kind, "err", err)
		return false
	}
	return c.outbox.Enqueue(m)
}

// Flush waits until every queued message was sent or given up.
func (c *Courier) Flush(ctx context.Context) error { return c.outbox.Flush(ctx) }
