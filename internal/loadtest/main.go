// Command loadtest runs a bounded load test of the identity server on the
// loopback interface and reports throughput, latency, errors and the
// server's memory over time.
//
// It starts the given identity binary on a free port of 127.0.0.1 (serve,
// after bootstrap on the given database), seeds an organization with
// members over the GraphQL API, then for --duration sends, from
// --concurrency clients, a mix of the nested members query an admin page
// sends and viewer, with a share of abusive requests (oversized pages,
// fragment bombs, huge bodies) that must be refused, and at the end wrong
// keys until the per-address limit answers. Every second it samples the
// server's resident memory from /proc. It exits non-zero when a request
// that should succeed fails, an abusive one is not refused, or the
// server's memory grows by more than --max-growth-mib between the first
// and the last quarter of the run.
//
//	go build -o /tmp/identity ./cmd/identity
//	go run ./internal/loadtest --bin /tmp/identity --database-url sqlite:///tmp/load.db --duration 60s
//
// The loop stops by itself at the deadline; requests go only to 127.0.0.1.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

type config struct {
	bin         string
	databaseURL string
	duration    time.Duration
	concurrency int
	members     int
	maxGrowth   float64
}

func run() error {
	var c config
	flag.StringVar(&c.bin, "bin", "", "path of the identity binary (go build -o BIN ./cmd/identity)")
	flag.StringVar(&c.databaseURL, "database-url", "", "database for the server (sqlite://PATH or postgres://...); emptied state expected")
	flag.DurationVar(&c.duration, "duration", 60*time.Second, "how long to send load (at most 10m)")
	flag.IntVar(&c.concurrency, "concurrency", 8, "concurrent clients")
	flag.IntVar(&c.members, "members", 50, "members of the seeded organization")
	flag.Float64Var(&c.maxGrowth, "max-growth-mib", 64, "largest accepted growth of the server's RSS between the first and last quarter of the run")
	flag.Parse()
	if c.bin == "" || c.databaseURL == "" {
		return errors.New("--bin and --database-url are required")
	}
	if c.duration <= 0 || c.duration > 10*time.Minute {
		return fmt.Errorf("--duration %s: want between 1s and 10m", c.duration)
	}

	ctx, cancel := context.WithTimeout(context.Background(), c.duration+5*time.Minute)
	defer cancel()

	key, err := bootstrap(ctx, c)
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	srv := exec.CommandContext(ctx, c.bin, "serve", "--addr", addr, "--database-url", c.databaseURL, "--log-level", "error")
	srv.Stderr = os.Stderr
	// A PostgreSQL database gets no key file beside it: give the server a
	// master key of its own (it seals the token-signing keys).
	var mk [32]byte
	if _, err := rand.Read(mk[:]); err != nil {
		return err
	}
	srv.Env = append(os.Environ(), "IDENTITY_MASTER_KEY="+base64.StdEncoding.EncodeToString(mk[:]))
	if err := srv.Start(); err != nil {
		return fmt.Errorf("starting the server: %w", err)
	}
	defer func() {
		_ = srv.Process.Signal(os.Interrupt)
		_ = srv.Wait()
	}()
	base := "http://" + addr
	if err := waitReady(ctx, base); err != nil {
		return err
	}
	cl := &client{base: base, key: key, http: &http.Client{Timeout: 30 * time.Second}}
	org, err := seed(ctx, cl, c.members)
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	fmt.Printf("server %s on %s, pid %d; seeded organization %s with %d members\n", c.bin, c.databaseURL, srv.Process.Pid, org, c.members)
	return load(ctx, c, cl, srv.Process.Pid)
}

func bootstrap(ctx context.Context, c config) (string, error) {
	cmd := exec.CommandContext(ctx, c.bin, "bootstrap", "--email", "load@example.com", "--database-url", c.databaseURL, "--log-level", "error")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	return strings.TrimSpace(out.String()), nil
}

func freeAddr() (string, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitReady(ctx context.Context, base string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("the server did not become ready within 60s")
}

type client struct {
	base string
	key  string
	http *http.Client
}

type gqlResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// do sends a GraphQL request and returns the HTTP status and the decoded
// answer.
func (c *client) do(ctx context.Context, key string, body []byte) (int, *gqlResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/graphql", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("status %d, undecodable body %.200q", resp.StatusCode, raw)
	}
	return resp.StatusCode, &out, nil
}

func (c *client) query(ctx context.Context, q string, vars map[string]any, into any) error {
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	status, resp, err := c.do(ctx, c.key, body)
	if err != nil {
		return err
	}
	if len(resp.Errors) > 0 || status != http.StatusOK {
		return fmt.Errorf("status %d: %s (%v)", status, resp.Errors[0].Message, resp.Errors[0].Extensions["code"])
	}
	if into != nil {
		return json.Unmarshal(resp.Data, into)
	}
	return nil
}

func seed(ctx context.Context, c *client, members int) (string, error) {
	var org struct {
		CreateOrganization struct{ ID string } `json:"createOrganization"`
	}
	slug := fmt.Sprintf("load-%d", time.Now().UnixNano())
	if err := c.query(ctx, `mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { id } }`,
		map[string]any{"i": map[string]any{"name": "Load test", "slug": slug}}, &org); err != nil {
		return "", err
	}
	for i := 1; i < members; i++ {
		var u struct {
			CreateUser struct{ ID string } `json:"createUser"`
		}
		email := fmt.Sprintf("member%d-%s@example.com", i, slug)
		if err := c.query(ctx, `mutation($i: CreateUserInput!) { createUser(input: $i) { id } }`,
			map[string]any{"i": map[string]any{"email": email, "status": "active"}}, &u); err != nil {
			return "", err
		}
		// The key is the bootstrap superadmin's: adding a user directly
		// is a platform act (platform:user_manage); organization owners
		// invite instead.
		if err := c.query(ctx, `mutation($i: AddMemberInput!) { addMember(input: $i) { id } }`,
			map[string]any{"i": map[string]any{"organizationID": org.CreateOrganization.ID, "userID": u.CreateUser.ID}}, nil); err != nil {
			return "", err
		}
	}
	return org.CreateOrganization.ID, nil
}

// The requests of the mix. Good ones must answer 200 without errors;
// abusive ones must be refused with one of the listed codes.
var (
	nestedMembers = `{ organizations(first: 10) { totalCount edges { node { name
  memberships(first: 20) { totalCount edges { node { status title
    user { id email displayName }
    roles(first: 10) { edges { node { key } } } } } } } } } }`
	viewer = `{ viewer { kind platformRole organizations { organization { id name } roles { key } level } } }`
)

type abuse struct {
	name  string
	body  []byte
	codes []string
}

func abuses() []abuse {
	bomb := strings.Builder{}
	bomb.WriteString("query { ...F0 }\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&bomb, "fragment F%d on Query { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	bomb.WriteString("fragment F40 on Query { viewer { kind } }\n")
	js := func(q string) []byte { b, _ := json.Marshal(map[string]any{"query": q}); return b }
	huge := append(append([]byte(`{"query":"{ viewer { kind } }","variables":{"x":"`), bytes.Repeat([]byte("a"), 3<<20)...), []byte(`"}}`)...)
	return []abuse{
		{name: "pages", body: js(`{ users(first: 1000) { edges { node { memberships(first: 1000) { totalCount } } } } }`), codes: []string{"QUERY_TOO_COMPLEX"}},
		{name: "fragment bomb", body: js(bomb.String()), codes: []string{"QUERY_TOO_COMPLEX", "GRAPHQL_VALIDATION_FAILED", "GRAPHQL_PARSE_FAILED"}},
		{name: "huge body", body: huge, codes: []string{"PAYLOAD_TOO_LARGE"}},
	}
}

type stats struct {
	mu        sync.Mutex
	latencies []time.Duration
	ok        atomic.Int64
	refused   atomic.Int64
	failures  atomic.Int64
	firstErr  atomic.Value
}

func (s *stats) fail(err error) {
	if s.failures.Add(1) == 1 {
		s.firstErr.Store(err.Error())
	}
}

func load(ctx context.Context, c config, cl *client, pid int) error {
	deadline := time.Now().Add(c.duration)
	lctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var st stats
	rss := make([]float64, 0, int(c.duration/time.Second)+1)
	var rssMu sync.Mutex
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
				if v, err := rssMiB(pid); err == nil {
					rssMu.Lock()
					rss = append(rss, v)
					rssMu.Unlock()
				}
			}
		}
	}()
	good := [][]byte{}
	for _, q := range []string{nestedMembers, viewer} {
		b, _ := json.Marshal(map[string]any{"query": q})
		good = append(good, b)
	}
	bad := abuses()
	var wg sync.WaitGroup
	for w := 0; w < c.concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; lctx.Err() == nil; i++ {
				// One request in 20 is abusive and must be refused.
				if i%20 == 19 {
					a := bad[(i/20+w)%len(bad)]
					status, resp, err := cl.do(lctx, cl.key, a.body)
					if err != nil {
						if lctx.Err() != nil {
							return
						}
						st.fail(fmt.Errorf("%s: %w", a.name, err))
						continue
					}
					code := ""
					if len(resp.Errors) > 0 {
						code, _ = resp.Errors[0].Extensions["code"].(string)
					}
					if status == http.StatusOK && len(resp.Errors) == 0 || !slices.Contains(a.codes, code) {
						st.fail(fmt.Errorf("%s: not refused as expected: status %d code %q", a.name, status, code))
						continue
					}
					st.refused.Add(1)
					continue
				}
				body := good[i%len(good)]
				start := time.Now()
				status, resp, err := cl.do(lctx, cl.key, body)
				if err != nil {
					if lctx.Err() != nil {
						return
					}
					st.fail(err)
					continue
				}
				if status != http.StatusOK || len(resp.Errors) > 0 {
					msg := ""
					if len(resp.Errors) > 0 {
						msg = resp.Errors[0].Message
					}
					st.fail(fmt.Errorf("status %d: %s", status, msg))
					continue
				}
				st.ok.Add(1)
				st.mu.Lock()
				st.latencies = append(st.latencies, time.Since(start))
				st.mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	err := report(c, &st, rss)
	return errors.Join(err, wrongKeys(ctx, cl))
}

// wrongKeys sends well-formed wrong keys from one address until the server
// limits it:
// the first ones answer UNAUTHENTICATED, and within 200 tries the server
// answers RATE_LIMITED with Retry-After. It runs after the load, since a
// limited address is refused with any key.
func wrongKeys(ctx context.Context, cl *client) error {
	body, _ := json.Marshal(map[string]any{"query": viewer})
	for i := 1; i <= 200; i++ {
		// The real key's public prefix with a wrong secret: the guess of
		// an attacker who saw a prefix (malformed keys cost no lookup and
		// are not counted by the server).
		wrong := cl.key[:len(cl.key)-6] + fmt.Sprintf("%06d", i)
		status, resp, err := cl.do(ctx, wrong, body)
		if err != nil {
			return fmt.Errorf("wrong key %d: %w", i, err)
		}
		code := ""
		if len(resp.Errors) > 0 {
			code, _ = resp.Errors[0].Extensions["code"].(string)
		}
		switch {
		case status == http.StatusTooManyRequests && code == "RATE_LIMITED":
			fmt.Printf("wrong keys: %d answered UNAUTHENTICATED, then RATE_LIMITED\n", i-1)
			return nil
		case status != http.StatusUnauthorized || code != "UNAUTHENTICATED":
			return fmt.Errorf("wrong key %d: status %d code %q", i, status, code)
		}
	}
	return errors.New("200 wrong keys in a row were all answered: no rate limit")
}

func rssMiB(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }() // read only
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

func report(c config, st *stats, rss []float64) error {
	slices.Sort(st.latencies)
	pct := func(p float64) time.Duration {
		if len(st.latencies) == 0 {
			return 0
		}
		return st.latencies[min(len(st.latencies)-1, int(p*float64(len(st.latencies))))]
	}
	ok := st.ok.Load()
	fmt.Printf("duration %s, %d clients: %d good requests (%.0f/s), %d abusive refused, %d failures\n",
		c.duration, c.concurrency, ok, float64(ok)/c.duration.Seconds(), st.refused.Load(), st.failures.Load())
	fmt.Printf("latency of good requests: p50 %s, p90 %s, p99 %s, max %s\n",
		pct(0.50).Round(10*time.Microsecond), pct(0.90).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), pct(1).Round(10*time.Microsecond))
	var growth float64
	if n := len(rss); n >= 4 {
		q := n / 4
		first, last := maxOf(rss[:q]), maxOf(rss[n-q:])
		growth = last - first
		fmt.Printf("server RSS: first quarter max %.1f MiB, last quarter max %.1f MiB, peak %.1f MiB (%d samples)\n", first, last, maxOf(rss), n)
	} else {
		fmt.Printf("server RSS: too few samples (%d)\n", n)
	}
	var errs []error
	if n := st.failures.Load(); n > 0 {
		errs = append(errs, fmt.Errorf("%d failed requests; first: %v", n, st.firstErr.Load()))
	}
	if ok == 0 {
		errs = append(errs, errors.New("no good request succeeded"))
	}
	if growth > c.maxGrowth {
		errs = append(errs, fmt.Errorf("server memory grew by %.1f MiB (more than %.0f)", growth, c.maxGrowth))
	}
	return errors.Join(errs...)
}

func maxOf(xs []float64) float64 {
	m := 0.0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
