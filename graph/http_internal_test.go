package graph

import (
	"strconv"
	"testing"
	"time"
)

func TestFailureLimiterRefillsAndForgets(t *testing.T) {
	l := newFailureLimiter(3, time.Minute) // one failure back every 20s
	now := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		if w := l.wait("a", now); w != 0 {
			t.Fatalf("failure %d: wait = %s before the budget is spent", i+1, w)
		}
		if limited := l.fail("a", now); limited != (i == 2) {
			t.Fatalf("failure %d: limited = %v", i+1, limited)
		}
	}
	if w := l.wait("a", now); w < 19*time.Second || w > 20*time.Second {
		t.Errorf("wait after 3 failures = %s, want about 20s", w)
	}
	if w := l.wait("b", now); w != 0 {
		t.Errorf("another client waits %s", w)
	}
	if w := l.wait("a", now.Add(20*time.Second)); w != 0 {
		t.Errorf("wait after the refill interval = %s, want 0", w)
	}

	// Memory is bounded: the least recently failed clients are forgotten.
	for i := range maxTrackedClients + 500 {
		l.fail("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256), now)
	}
	if n := l.len(); n != maxTrackedClients {
		t.Errorf("tracked clients = %d, want %d", n, maxTrackedClients)
	}
	if _, ok := l.clients["a"]; ok {
		t.Error("the oldest client is still tracked")
	}
	if _, ok := l.clients["10.0.40.0"]; !ok { // i = 10240, among the last
		t.Error("a recent client was forgotten")
	}

	if newFailureLimiter(-1, 0) != nil {
		t.Error("a negative limit does not switch the limiter off")
	}
}

func TestLimiterKey(t *testing.T) {
	cases := []struct{ ip, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"not an address", "not an address"},
	}
	for _, tc := range cases {
		if got := limiterKey(tc.ip); got != tc.want {
			t.Errorf("limiterKey(%q) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}
