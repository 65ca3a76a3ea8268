// Package audit carries the request details that every write records in
// the activity trail (cf_activities): the channel (graphql, cli, client),
// the caller's IP and user agent, and the request ID.
//
// The ent hooks of the model write one activity per create, update and
// delete, with the actor of the context; a Go program can add these details
// with WithRequest.
package audit

import "context"

// Channels.
const (
	ChannelGraphQL = "graphql"
	ChannelCLI     = "cli"
	ChannelClient  = "client"
	// ChannelHTTP is the sign-in endpoints (/auth/*).
	ChannelHTTP = "http"
)

// Request describes where a write comes from.
type Request struct {
	Channel   string
	IP        string
	UserAgent string
	RequestID string
}

type ctxKey struct{}

// WithRequest returns a copy of parent that carries r.
func WithRequest(parent context.Context, r Request) context.Context {
	return context.WithValue(parent, ctxKey{}, r)
}

// FromContext returns the request of ctx; the channel defaults to "client".
func FromContext(ctx context.Context) Request {
	r, _ := ctx.Value(ctxKey{}).(Request)
	if r.Channel == "" {
		r.Channel = ChannelClient
	}
	return r
}
