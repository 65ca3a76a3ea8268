package accesstoken

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// KeySource gives the public key of a key ID. PublicKey returns an error
// matching ErrUnknownKey when the source has no key with that ID, and one
// matching ErrKeysUnavailable when it could not find out. Implementations
// must be safe for concurrent use.
type KeySource interface {
	PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error)
}

// StaticKeys returns a KeySource of a fixed set of keys, for instance read
// from a file with ParseJWKS. A later key with the ID of an earlier one
// replaces it.
func StaticKeys(keys ...PublicKey) KeySource {
	m := make(staticKeys, len(keys))
	for _, k := range keys {
		m[k.ID] = slices.Clone(k.Key)
	}
	return m
}

type staticKeys map[string]ed25519.PublicKey

func (s staticKeys) PublicKey(_ context.Context, kid string) (ed25519.PublicKey, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: no key with kid %s", ErrUnknownKey, quote(kid))
}

// Defaults of RemoteOptions.
const (
	DefaultMinRefetch = 10 * time.Second
	DefaultMaxAge     = time.Hour
)

// maxCacheAge caps a Cache-Control max-age, so that a removed key is
// dropped within a day whatever the server says.
const maxCacheAge = 24 * time.Hour

// maxJWKSBytes is the largest key set RemoteKeys reads.
const maxJWKSBytes = 1 << 20

// RemoteOptions configure RemoteKeys. The zero value is usable.
type RemoteOptions struct {
	// Client fetches the key set; nil is a client with a 10 second timeout.
	Client *http.Client
	// MinRefetch is the least time between two fetches (default 10s): a
	// token with an unknown kid causes a fetch only when the last one is
	// older, so that tokens with made-up kids cannot flood the server.
	MinRefetch time.Duration
	// MaxAge is how long a fetched key set is used before it is fetched
	// again (default 1h). A Cache-Control max-age of the response takes
	// precedence, though never less than MinRefetch nor more than 24h.
	MaxAge time.Duration
	// Now returns the current time; nil is time.Now. For tests.
	Now func() time.Time
}

// RemoteKeys returns a KeySource that fetches the JSON Web Key Set at url
// (cf identity serves it at /.well-known/jwks.json) on first use and
// caches it.
//
// A kid missing from the cached set causes a new fetch, at most once per
// MinRefetch, so that a key added by a rotation is picked up; the cached
// set is also fetched again once it is older than MaxAge. When a fetch
// fails (the server is down, or answers with something other than a key
// set with at least one Ed25519 key), the cached set stays in use and the
// next fetch waits MinRefetch; a kid missing from it is then reported as
// ErrKeysUnavailable wrapping the failure, since it may be a new key.
// Without a cached set, every call fails with ErrKeysUnavailable until a
// fetch succeeds.
//
// It is safe for concurrent use; concurrent callers share one fetch, and
// a caller whose key is cached (even past MaxAge) does not wait for one.
func RemoteKeys(url string, opts RemoteOptions) KeySource {
	r := &remoteKeys{
		url:        url,
		client:     opts.Client,
		minRefetch: opts.MinRefetch,
		maxAge:     opts.MaxAge,
		now:        opts.Now,
		fetching:   make(chan struct{}, 1),
	}
	if r.client == nil {
		r.client = &http.Client{Timeout: 10 * time.Second}
	}
	if r.minRefetch <= 0 {
		r.minRefetch = DefaultMinRefetch
	}
	if r.maxAge <= 0 {
		r.maxAge = DefaultMaxAge
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

type remoteKeys struct {
	url        string
	client     *http.Client
	minRefetch time.Duration
	maxAge     time.Duration
	now        func() time.Time

	fetching chan struct{} // holds a token while a fetch runs

	mu        sync.Mutex
	keys      map[string]ed25519.PublicKey // nil before the first successful fetch
	expires   time.Time                    // when keys are to be fetched again
	attempted time.Time                    // the last fetch, successful or not
	tried     bool                         // a fetch was made
	lastErr   error                        // the failure of the last fetch, or nil
}

func (r *remoteKeys) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	key, known, done, err := r.cached(kid)
	if done {
		return key, err
	}
	if known {
		// The set is stale: refresh it unless another caller is on it, in
		// which case the stale key will do.
		select {
		case r.fetching <- struct{}{}:
		default:
			return key, nil
		}
	} else {
		select {
		case r.fetching <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, ctx.Err())
		}
	}
	defer func() { <-r.fetching }()
	// Another caller may have fetched while this one waited.
	if key, _, done, err := r.cached(kid); done {
		return key, err
	}
	if err := r.fetch(ctx); err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.answer(kid)
}

// cached answers from the cache when it can (done): the kid is in a fresh
// set, or a fetch was made less than MinRefetch ago. known reports whether
// the kid is in the cached set, fresh or not.
func (r *remoteKeys) cached(kid string) (key ed25519.PublicKey, known, done bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	key, known = r.keys[kid]
	if known && now.Before(r.expires) {
		return key, true, true, nil
	}
	if r.tried && now.Sub(r.attempted) < r.minRefetch {
		key, err = r.answer(kid)
		return key, known, true, err
	}
	return nil, known, false, nil
}

// answer looks kid up in the cached set after a fetch. r.mu is held.
func (r *remoteKeys) answer(kid string) (ed25519.PublicKey, error) {
	if key, ok := r.keys[kid]; ok {
		return key, nil
	}
	if r.lastErr != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, r.lastErr)
	}
	return nil, fmt.Errorf("%w: no key with kid %s at %s", ErrUnknownKey, quote(kid), r.url)
}

// fetch gets the key set and records the outcome, unless ctx ended (the
// failure is then the caller's, not the server's).
func (r *remoteKeys) fetch(ctx context.Context) error {
	keys, age, err := r.get(ctx)
	if err != nil && ctx.Err() != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.tried, r.attempted, r.lastErr = true, now, err
	if err != nil {
		return err
	}
	r.keys = make(map[string]ed25519.PublicKey, len(keys))
	for _, k := range keys {
		r.keys[k.ID] = k.Key
	}
	r.expires = now.Add(age)
	return nil
}

// get fetches and parses the key set, and returns how long to keep it.
func (r *remoteKeys) get(ctx context.Context) ([]PublicKey, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s: %s", r.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", r.url, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, 0, fmt.Errorf("GET %s: key set larger than %d bytes", r.url, maxJWKSBytes)
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", r.url, err)
	}
	if len(keys) == 0 {
		return nil, 0, fmt.Errorf("GET %s: %w", r.url, errNoKeys)
	}
	age := r.maxAge
	if s, ok := maxAge(resp.Header.Get("Cache-Control")); ok {
		age = min(max(s, r.minRefetch), maxCacheAge)
	}
	return keys, age, nil
}

var errNoKeys = errors.New("accesstoken: jwks: no Ed25519 signature key")

// maxAge returns the max-age of a Cache-Control header; no-store and
// no-cache count as 0.
func maxAge(header string) (time.Duration, bool) {
	for _, d := range strings.Split(header, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "no-store" || d == "no-cache" {
			return 0, true
		}
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
			if err != nil || n < 0 {
				continue
			}
			if n > int64(maxCacheAge/time.Second) {
				n = int64(maxCacheAge / time.Second)
			}
			return time.Duration(n) * time.Second, true
		}
	}
	return 0, false
}
