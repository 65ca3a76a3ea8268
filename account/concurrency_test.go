package account_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/account"
	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent/activity"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/internal/testdb"
)

// parallel is how many requests the concurrency tests start at once.
const parallel = 50

// TestParallelTransitions: 50 TransitionUser(active -> suspended) of one
// user at once on PostgreSQL. The user row is locked (FOR UPDATE) before
// its status is read, so exactly one applies; each other one waits for
// the lock and then reads the committed status: a *TransitionError
// "already suspended", never a CONFLICT. One user.suspended activity.
func TestParallelTransitions(t *testing.T) {
	if os.Getenv(testdb.EnvPostgres) == "" {
		t.Skipf("%s is not set", testdb.EnvPostgres)
	}
	e := newEnv(t, testdb.New(t, dialect.Postgres))
	u := e.user(t, user.PlatformRoleNone, account.Active)
	e.login(t, u)
	ctxs := make([]context.Context, parallel)
	for i := range ctxs {
		ctxs[i] = e.as(t, e.super)
	}
	errs := make([]error, parallel)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = account.TransitionUser(ctxs[i], e.c, u.ID, account.Suspended, "parallel")
		}()
	}
	close(start)
	wg.Wait()
	var ok, already, conflict int
	for i, err := range errs {
		var te *account.TransitionError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &te) && te.From == account.Suspended && te.To == account.Suspended:
			already++
		case errors.Is(err, authz.ErrConcurrentUpdate):
			conflict++
		default:
			t.Errorf("request %d: unexpected error %v", i, err)
		}
	}
	t.Logf("%d applied, %d already suspended, %d conflicts", ok, already, conflict)
	if ok != 1 {
		t.Errorf("%d transitions applied, want exactly 1", ok)
	}
	if already != parallel-1 || conflict != 0 {
		t.Errorf("%d refused as already suspended and %d as CONFLICT, want %d and 0", already, conflict, parallel-1)
	}
	n := e.c.Activity.Query().Where(activity.ObjectID(string(u.ID)), activity.Verb("user.suspended")).CountX(sys())
	if n != 1 {
		t.Errorf("%d user.suspended activities, want 1", n)
	}
	if got := e.c.User.GetX(sys(), u.ID); got.Status != user.StatusSuspended {
		t.Errorf("status = %s, want suspended", got.Status)
	}
}
