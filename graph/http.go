package graph

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/rs/cors"
	"golang.org/x/time/rate"

	"github.com/cf/identity/telemetry"
)

// Defaults of the HTTP limits of Options, used when a field is zero.
const (
	// DefaultMaxBodyBytes is the largest request body /graphql reads.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultRequestTimeout is how long one /graphql request may run.
	DefaultRequestTimeout = 30 * time.Second
	// DefaultAuthFailureLimit failed authentications per
	// DefaultAuthFailureWindow are allowed from one client address.
	DefaultAuthFailureLimit  = 20
	DefaultAuthFailureWindow = time.Minute
	// DefaultMaxHeaderBytes caps the request line and headers an
	// http.Server serving the handler should accept (net/http's own default
	// is 1 MiB); `identity serve` uses it unless --max-header-bytes says
	// otherwise.
	DefaultMaxHeaderBytes = 64 << 10
)

// maxTrackedClients bounds the memory of the authentication failure
// limiter: beyond it, the clients whose last failure is oldest are forgotten.
const maxTrackedClients = 10000

// corsHeaders are the request headers a cross-origin caller may send.
var corsHeaders = []string{"Authorization", "Content-Type", "X-Organization-ID", "X-Request-ID"}

// withSecurityHeaders sets the headers every answer carries:
// X-Content-Type-Options: nosniff, no caching (GraphQL answers hold keys
// and personal data), and a policy that forbids framing and any active
// content. Handlers that serve pages (GraphiQL) replace the last two.
func withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// withCORS answers cross-origin requests from origins: preflights are
// answered here (for GET and POST with the corsHeaders), and answers to
// allowed origins carry Access-Control-Allow-Origin. With no origins, next
// is returned as is and no answer allows any origin. Credentials (cookies)
// are never allowed: API keys travel in the Authorization header.
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: corsHeaders,
		ExposedHeaders: []string{"X-Request-ID", "Retry-After"},
		MaxAge:         600,
	}).Handler(next)
}

// withBodyLimit refuses request bodies over max bytes with HTTP 413 and
// extensions.code PAYLOAD_TOO_LARGE: at once when Content-Length says so,
// and after reading max+1 bytes of a chunked body. next gets the body in
// memory, so it cannot read past the limit.
func withBodyLimit(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			tooLarge(w, max)
			return
		}
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				tooLarge(w, max)
				return
			}
			forbid(w, http.StatusBadRequest, CodeBadUserInput, "the request body could not be read")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

func tooLarge(w http.ResponseWriter, max int64) {
	w.Header().Set("Connection", "close")
	forbid(w, http.StatusRequestEntityTooLarge, CodeTooLarge,
		"the request body is larger than the limit of "+strconv.FormatInt(max, 10)+" bytes")
}

// withDeadline bounds each request to d: its context, which every database
// call of the request uses, is cancelled after d, as it is when the client
// goes away; the operation then answers extensions.code TIMEOUT. A handler
// still busy a second after d (a driver that does not watch the context,
// such as SQLite waiting for its write lock) is not waited for: the client
// gets HTTP 503 with TIMEOUT, and the handler's late answer is dropped.
func withDeadline(d time.Duration, next http.Handler) http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
	backstop := http.TimeoutHandler(inner, d+time.Second, timeoutBody)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// For the backstop's answer; the handler's own answer replaces it.
		// (OPTIONS answers have no body.)
		if r.Method != http.MethodOptions {
			w.Header().Set("Content-Type", "application/json")
		}
		backstop.ServeHTTP(w, r)
	})
}

// timeoutBody is the answer of withDeadline's backstop.
const timeoutBody = `{"errors":[{"message":"the request ran past its deadline","extensions":{"code":"` + CodeTimeout + `"}}]}` + "\n"

// failureLimiter counts failed authentications per client with a token
// bucket: burst failures at once, then one per interval. A client whose
// bucket is empty is refused before its credential is looked at. It keeps
// at most maxTrackedClients clients, forgetting the least recently failed.
type failureLimiter struct {
	every rate.Limit
	burst int

	mu      sync.Mutex
	order   *list.List // of *failureEntry, most recent failure first
	clients map[string]*list.Element
}

type failureEntry struct {
	client string
	lim    *rate.Limiter
}

// newFailureLimiter allows limit failures per window; nil (no limit) when
// limit is negative.
func newFailureLimiter(limit int, window time.Duration) *failureLimiter {
	if limit < 0 {
		return nil
	}
	if limit == 0 {
		limit = DefaultAuthFailureLimit
	}
	if window <= 0 {
		window = DefaultAuthFailureWindow
	}
	return &failureLimiter{
		every:   rate.Limit(float64(limit) / window.Seconds()),
		burst:   limit,
		order:   list.New(),
		clients: map[string]*list.Element{},
	}
}

// wait returns how long client must wait before its credential is looked
// at again; 0 when it may go ahead.
func (l *failureLimiter) wait(client string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.clients[client]
	if !ok {
		return 0
	}
	tokens := e.Value.(*failureEntry).lim.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(l.every) * float64(time.Second))
}

// fail records a failed authentication of client and reports whether the
// client is now refused.
func (l *failureLimiter) fail(client string, now time.Time) (limited bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.clients[client]
	if ok {
		l.order.MoveToFront(e)
	} else {
		for l.order.Len() >= maxTrackedClients {
			old := l.order.Back()
			delete(l.clients, old.Value.(*failureEntry).client)
			l.order.Remove(old)
		}
		e = l.order.PushFront(&failureEntry{client: client, lim: rate.NewLimiter(l.every, l.burst)})
		l.clients[client] = e
	}
	lim := e.Value.(*failureEntry).lim
	lim.AllowN(now, 1)
	return lim.TokensAt(now) < 1
}

// len returns the number of clients tracked.
func (l *failureLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}

// limiterKey is the client of ip for the failure limiter: the address for
// IPv4, its /64 network for IPv6 (one host usually holds a whole /64).
func limiterKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

// rateLimited answers HTTP 429 with Retry-After (whole seconds, at least 1)
// and extensions.code RATE_LIMITED, for the named limit (package
// telemetry's Limit constants; the refusal is counted there).
func rateLimited(w http.ResponseWriter, r *http.Request, limit string, wait time.Duration) {
	telemetry.RateLimited(r.Context(), limit)
	secs := int64(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	what := "too many failed authentications from your address"
	switch limit {
	case telemetry.LimitExports:
		what = fmt.Sprintf("%d activity exports are running", MaxConcurrentExports)
	case telemetry.LimitAuthIP, telemetry.LimitAuthAccount:
		what = "too many sign-in requests"
	}
	forbid(w, http.StatusTooManyRequests, CodeRateLimited, what+"; retry in "+strconv.FormatInt(secs, 10)+" s")
}

// authUnavailable answers a request whose credential could not be checked:
// HTTP 503, with TIMEOUT when the request's deadline passed and INTERNAL
// otherwise (logged at error level).
func authUnavailable(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	ctx := r.Context()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		forbid(w, http.StatusServiceUnavailable, CodeTimeout, "the request ran past its deadline")
		return
	}
	if ctx.Err() != nil {
		// The client went away; nobody reads the answer.
		log.InfoContext(ctx, "authentication canceled", "err", err, "request_id", RequestID(ctx))
		forbid(w, http.StatusServiceUnavailable, CodeInternal, "request canceled")
		return
	}
	log.ErrorContext(ctx, "authentication: checking the API key failed", "err", err, "ip", clientIP(r), "request_id", RequestID(ctx))
	forbid(w, http.StatusServiceUnavailable, CodeInternal, "internal error (request "+RequestID(ctx)+")")
}
