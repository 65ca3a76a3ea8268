package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cf/identity/ent/refreshtoken"
	"github.com/cf/identity/internal/testdb"
)

// parallel is how many requests each concurrency test starts at once.
const parallel = 50

// race runs f(0) … f(n-1) in n goroutines released together and returns
// their errors by index.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// 50 wrong passwords at once: exactly MaxFailedLogins of them are counted
// (and told ErrInvalidCredentials), the others find the account locked;
// the lock is LockBase from the 10th. Each further wrong password after a
// lock doubles it up to LockMax; a right password after the lock signs in
// and resets the count.
func TestConcurrentLockout(t *testing.T) {
	const maxFailed = 10
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db, func(c *Config) { c.MaxFailedLogins, c.LockBase, c.LockMax = maxFailed, time.Minute, 5*time.Minute })
		u := e.user(t, "target@example.com", testPassword)
		start := e.clock.Now()
		errs := race(parallel, func(int) error {
			_, err := e.m.Login(context.Background(), LoginInput{Email: u.Email, Password: wrongPassword, Client: laptop})
			return err
		})
		invalid, locked := 0, 0
		for i, err := range errs {
			var le *LockedError
			switch {
			case errors.Is(err, ErrInvalidCredentials):
				invalid++
			case errors.As(err, &le):
				locked++
				if !le.Until.Equal(start.Add(time.Minute)) {
					t.Errorf("attempt %d: locked until %v, want %v", i, le.Until, start.Add(time.Minute))
				}
			default:
				t.Errorf("attempt %d: unexpected error %v", i, err)
			}
		}
		if invalid != maxFailed || locked != parallel-maxFailed {
			t.Errorf("%d ErrInvalidCredentials and %d *LockedError, want %d and %d", invalid, locked, maxFailed, parallel-maxFailed)
		}
		row := e.userRow(t, u.ID)
		if row.FailedLogins != maxFailed || !timePtrEq(row.LockedUntil, start.Add(time.Minute)) {
			t.Errorf("failed_logins %d locked_until %v, want %d and %v", row.FailedLogins, row.LockedUntil, maxFailed, start.Add(time.Minute))
		}
		reasons := map[any]int{}
		counts := map[any]bool{}
		for _, a := range e.activities(t, "user.login_failed", u.ID) {
			reasons[a.Data["reason"]]++
			if a.Data["reason"] == "wrong_password" {
				counts[a.Data["failed_logins"]] = true
			}
		}
		if reasons["wrong_password"] != maxFailed || reasons["locked"] != parallel-maxFailed || len(reasons) != 2 {
			t.Errorf("user.login_failed reasons %v, want %d wrong_password and %d locked", reasons, maxFailed, parallel-maxFailed)
		}
		if len(counts) != maxFailed {
			t.Errorf("wrong_password activities carry %d distinct failed_logins counts, want %d (1 to %d)", len(counts), maxFailed, maxFailed)
		}
		if acts := e.activities(t, "user.locked", u.ID); len(acts) != 1 || acts[0].Data["until"] != start.Add(time.Minute).Format(time.RFC3339) {
			t.Errorf("user.locked = %v, want one until %v", acts, start.Add(time.Minute))
		}
		if n := len(e.sessionsOf(t, u.ID)); n != 0 {
			t.Errorf("%d sessions, want none", n)
		}

		// One at a time now: each wrong password after a lock doubles it,
		// up to LockMax.
		lockedFor := time.Minute
		for i, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
			n := maxFailed + 1 + i
			t.Run(fmt.Sprintf("failure %d", n), func(t *testing.T) {
				// The right password during the lock is refused and
				// counts nothing.
				if _, err := e.m.Login(context.Background(), LoginInput{Email: u.Email, Password: testPassword, Client: laptop}); !errors.Is(err, ErrLocked) {
					t.Fatalf("right password while locked: %v, want ErrLocked", err)
				}
				e.clock.Advance(lockedFor)
				now := e.clock.Now()
				if _, err := e.m.Login(context.Background(), LoginInput{Email: u.Email, Password: wrongPassword, Client: laptop}); !errors.Is(err, ErrInvalidCredentials) {
					t.Fatalf("wrong password after the lock: %v, want ErrInvalidCredentials", err)
				}
				row := e.userRow(t, u.ID)
				if row.FailedLogins != n || !timePtrEq(row.LockedUntil, now.Add(want)) {
					t.Errorf("failed_logins %d locked_until %v, want %d and now + %s", row.FailedLogins, row.LockedUntil, n, want)
				}
				lockedFor = want
			})
		}
		if n := len(e.activities(t, "user.locked", u.ID)); n != 5 {
			t.Errorf("%d user.locked activities, want 5", n)
		}
		e.clock.Advance(lockedFor)
		e.login(t, u.Email, laptop)
		if row := e.userRow(t, u.ID); row.FailedLogins != 0 || row.LockedUntil != nil {
			t.Errorf("after a sign-in: failed_logins %d locked_until %v, want 0 and none", row.FailedLogins, row.LockedUntil)
		}
	})
}

// 50 refreshes of one token at once without a grace window: one gets a
// new pair, one detects the reuse and revokes the session, the others find
// it revoked; no token of the session is left live.
func TestConcurrentRefreshNoGrace(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db, func(c *Config) { c.Grace = 0 })
		u := e.user(t, "quinn@example.com", testPassword)
		t0 := e.login(t, u.Email, laptop)
		toks := make([]*Tokens, parallel)
		errs := race(parallel, func(i int) (err error) {
			toks[i], err = e.m.Refresh(context.Background(), t0.RefreshToken, laptop)
			return err
		})
		ok, reused, revoked, winner := 0, 0, 0, -1
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
				winner = i
			case errors.Is(err, ErrTokenReused):
				reused++
			case errors.Is(err, ErrSessionRevoked):
				revoked++
			default:
				t.Errorf("refresh %d: unexpected error %v", i, err)
			}
		}
		if ok != 1 || reused != 1 || revoked != parallel-2 {
			t.Fatalf("%d refreshed, %d ErrTokenReused, %d ErrSessionRevoked; want 1, 1, %d", ok, reused, revoked, parallel-2)
		}
		s := e.sessionRow(t, t0.SessionID)
		if s.RevokedAt == nil || s.RevokedReason != RevokedReuse {
			t.Errorf("session revoked_at %v reason %q, want revoked for %s", s.RevokedAt, s.RevokedReason, RevokedReuse)
		}
		if live := e.liveTokens(t, s.ID); len(live) != 0 {
			t.Errorf("%d live tokens, want 0", len(live))
		}
		if n := len(e.activities(t, "session.reuse_detected", s.ID)); n != 1 {
			t.Errorf("%d session.reuse_detected activities, want 1", n)
		}
		if n := len(e.activities(t, "session.refreshed", s.ID)); n != 1 {
			t.Errorf("%d session.refreshed activities, want 1", n)
		}
		if n := e.c.RefreshToken.Query().Where(refreshtoken.FamilyID(s.ID)).CountX(sys()); n != 2 {
			t.Errorf("the session has %d refresh tokens, want 2 (the presented one and one child)", n)
		}
		if _, err := e.m.Refresh(context.Background(), toks[winner].RefreshToken, laptop); !errors.Is(err, ErrSessionRevoked) {
			t.Errorf("the winner's token after the reuse: %v, want ErrSessionRevoked", err)
		}
		if _, err := e.m.Authenticate(context.Background(), toks[winner].AccessToken); !errors.Is(err, ErrInvalidAccessToken) {
			t.Errorf("the winner's access token after the reuse: %v, want ErrInvalidAccessToken", err)
		}
	})
}

// 50 refreshes of one token at once from the same client within the grace
// window: all succeed, the session lives with exactly one live token, the
// one handed to the last of them; it refreshes, and each of the other 49
// then counts as reuse.
func TestConcurrentRefreshGrace(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db, func(c *Config) { c.Grace = 10 * time.Second })
		u := e.user(t, "rosa@example.com", testPassword)
		t0 := e.login(t, u.Email, laptop)
		toks := make([]*Tokens, parallel)
		errs := race(parallel, func(i int) (err error) {
			toks[i], err = e.m.Refresh(context.Background(), t0.RefreshToken, laptop)
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("refresh %d: %v", i, err)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
		seen := map[string]bool{}
		for _, tok := range toks {
			seen[tok.RefreshToken] = true
		}
		if len(seen) != parallel {
			t.Errorf("%d distinct refresh tokens handed out, want %d", len(seen), parallel)
		}
		s := e.sessionRow(t, t0.SessionID)
		if s.RevokedAt != nil {
			t.Fatalf("the session was revoked (%s)", s.RevokedReason)
		}
		live := e.liveTokens(t, s.ID)
		if len(live) != 1 {
			t.Fatalf("%d live tokens, want 1", len(live))
		}
		winner := -1
		for i, tok := range toks {
			if live[0].TokenHash.Matches(tok.RefreshToken) {
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("the live token is none of the 50 handed out")
		}
		parent := e.tokenRow(t, t0.RefreshToken)
		children := e.c.RefreshToken.Query().Where(refreshtoken.ParentID(parent.ID)).AllX(sys())
		superseded := 0
		for _, c := range children {
			if c.RevokedReason == RevokedSuperseded {
				superseded++
			}
		}
		if len(children) != parallel || superseded != parallel-1 {
			t.Errorf("%d children of the presented token, %d superseded; want %d and %d", len(children), superseded, parallel, parallel-1)
		}
		retries := 0
		acts := e.activities(t, "session.refreshed", s.ID)
		for _, a := range acts {
			if a.Data["grace_retry"] == true {
				retries++
			}
		}
		if len(acts) != parallel || retries != parallel-1 {
			t.Errorf("%d session.refreshed, %d grace retries; want %d and %d", len(acts), retries, parallel, parallel-1)
		}

		e.clock.Advance(time.Minute)
		e.refresh(t, toks[winner].RefreshToken, laptop)
		for i, tok := range toks {
			if i == winner {
				continue
			}
			if _, err := e.m.Refresh(context.Background(), tok.RefreshToken, laptop); !errors.Is(err, ErrTokenReused) {
				t.Errorf("superseded token %d: %v, want ErrTokenReused", i, err)
			}
		}
		if s := e.sessionRow(t, s.ID); s.RevokedReason != RevokedReuse {
			t.Errorf("session revoked reason %q, want %s", s.RevokedReason, RevokedReuse)
		}
		if n := len(e.activities(t, "session.reuse_detected", s.ID)); n != 1 {
			t.Errorf("%d session.reuse_detected activities, want 1", n)
		}
	})
}

// Refreshes of many sessions at once when the cached signing key is due to
// be reloaded: each refresh signs inside its transaction, so the reload
// must not wait for a connection that only the refreshes hold
// (PostgreSQL's pool has 32).
func TestConcurrentRefreshReloadsSigningKey(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		e := newEnv(t, db)
		u := e.user(t, "sam@example.com", testPassword)
		toks := make([]string, parallel)
		for i := range toks {
			toks[i] = e.login(t, u.Email, laptop).RefreshToken
		}
		e.clock.Advance(signerMaxAge + time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		errs := race(parallel, func(i int) error {
			_, err := e.m.Refresh(ctx, toks[i], laptop)
			return err
		})
		failed := 0
		var first error
		for _, err := range errs {
			if err != nil {
				failed++
				if first == nil {
					first = err
				}
			}
		}
		if failed > 0 {
			t.Errorf("%d of %d parallel refreshes failed, the first with: %v", failed, parallel, first)
		}
	})
}
