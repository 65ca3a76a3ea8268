package invitation_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/cf/identity/authz"
	"github.com/cf/identity/ent"
	entinv "github.com/cf/identity/ent/invitation"
	"github.com/cf/identity/internal/testdb"
	"github.com/cf/identity/invitation"
	"github.com/cf/identity/mail"
	"github.com/cf/identity/pulid"
	"github.com/cf/identity/secret"
	"github.com/cf/identity/session"
	"github.com/cf/identity/tenancy"
	"github.com/cf/identity/validation"
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

// tally counts the outcomes of a race: successes, errors matching want,
// concurrent-update refusals, and the rest (reported).
func tally(t *testing.T, errs []error, want error) (ok, expected, concurrent int) {
	t.Helper()
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, want):
			expected++
		case errors.Is(err, authz.ErrConcurrentUpdate):
			concurrent++
			t.Logf("request %d: concurrent update: %v", i, err)
		default:
			t.Errorf("request %d: unexpected error %v", i, err)
		}
	}
	t.Logf("%d requests: %d succeeded, %d %v, %d concurrent-update refusals", len(errs), ok, expected, want, concurrent)
	return ok, expected, concurrent
}

// postgresOnly skips on SQLite, whose single writer serializes the
// requests and hides races.
func postgresOnly(t *testing.T, db testdb.Target) {
	t.Helper()
	if db.Dialect != dialect.Postgres {
		t.Skip("SQLite runs one writer at a time (BEGIN IMMEDIATE), so the race cannot happen there; PostgreSQL only")
	}
}

// 50 acceptances of one token at once: one user, one membership.
func TestConcurrentAccept(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		postgresOnly(t, db)
		e := newEnv(t, db)
		inv, tok := e.invite(t, "rush@example.com")
		errs := race(parallel, func(int) error {
			_, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok, Password: newPassword})
			return err
		})
		ok, _, concurrent := tally(t, errs, invitation.ErrAccepted)
		if ok != 1 {
			t.Fatalf("%d acceptances succeeded, want exactly 1", ok)
		}
		if concurrent != 0 {
			t.Errorf("%d concurrent-update refusals; want 0 (the invitation row is locked, the losers should see ErrAccepted)", concurrent)
		}
		if n := e.count(t, `SELECT count(*) FROM cf_users WHERE email = 'rush@example.com'`); n != 1 {
			t.Fatalf("%d users, want 1", n)
		}
		if n := e.count(t, `SELECT count(*) FROM cf_memberships m JOIN cf_users u ON u.id = m.user_id WHERE u.email = 'rush@example.com'`); n != 1 {
			t.Fatalf("%d memberships, want 1", n)
		}
		if got := e.status(t, inv.ID); got != "accepted" {
			t.Fatalf("status = %s", got)
		}
		var uid string
		if err := e.sql.QueryRow(`SELECT id FROM cf_users WHERE email = 'rush@example.com'`).Scan(&uid); err != nil {
			t.Fatal(err)
		}
		e.wantOneActivity(t, "user.created", pulid.ID(uid), "")
		for _, verb := range []string{"invitation.accepted", "member.joined"} {
			if n := len(e.activities(t, verb)); n != 1 {
				t.Fatalf("%d %s activities, want 1", n, verb)
			}
		}
	})
}

// 50 invitations of one address at once: one pending invitation, one mail.
func TestConcurrentInvite(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		postgresOnly(t, db)
		e := newEnv(t, db)
		ctx := e.as(t, e.owner)
		errs := race(parallel, func(int) error {
			_, err := e.svc.Invite(ctx, e.c, invitation.InviteInput{OrganizationID: e.org.ID, Email: "crowd@example.com"})
			return err
		})
		ok, _, concurrent := tally(t, errs, invitation.ErrPending)
		if ok != 1 {
			t.Fatalf("%d invitations succeeded, want exactly 1", ok)
		}
		if concurrent != 0 {
			t.Errorf("%d concurrent-update refusals; want 0", concurrent)
		}
		if n := e.count(t, `SELECT count(*) FROM cf_invitations WHERE email = 'crowd@example.com'`); n != 1 {
			t.Fatalf("%d invitation rows, want 1", n)
		}
		if n := len(e.activities(t, "member.invited")); n != 1 {
			t.Fatalf("%d member.invited activities, want 1", n)
		}
		if msgs := e.sent(t); len(msgs) != 1 {
			t.Fatalf("%d messages, want 1", len(msgs))
		}
	})
}

// One new address invited to several organizations accepts all of them at
// once, each with a password: one acceptance creates the user; every other
// is refused with a typed error (the address has an account now), never a
// raw constraint error.
//
// With the default hash slots (4) the hashes space the requests out; with
// a slot per request they reach their transactions together, and the
// user inserts collide.
func TestConcurrentAcceptSameAddress(t *testing.T) {
	for _, tt := range []struct {
		name        string
		orgs, each  int
		hashPerSlot int
	}{
		{"default hash slots", 10, parallel / 10, session.DefaultHashConcurrency},
		{"a hash slot per request", 10, 1, 10},
	} {
		t.Run(tt.name, func(t *testing.T) { acceptSameAddress(t, tt.orgs, tt.each, tt.hashPerSlot) })
	}
}

func acceptSameAddress(t *testing.T, orgs, each, slots int) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		postgresOnly(t, db)
		e := newEnv(t, db, func(c *session.Config) { c.HashConcurrency = slots })
		tokens := make([]string, orgs)
		for i := range orgs {
			org, err := tenancy.CreateOrganization(e.as(t, e.owner), e.c, ent.CreateOrganizationInput{Name: fmt.Sprintf("Org %d", i), Slug: fmt.Sprintf("org-%d", i)})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Invite(e.as(t, e.owner), e.c, invitation.InviteInput{OrganizationID: org.ID, Email: "many@example.com"}); err != nil {
				t.Fatal(err)
			}
			tokens[i] = e.oneToken(t, "many@example.com")
		}
		errs := race(orgs*each, func(i int) error {
			_, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tokens[i%orgs], Password: newPassword})
			return err
		})
		ok, accepted, concurrent := 0, 0, 0
		kinds := map[string]int{}
		for i, err := range errs {
			var ve *validation.Error
			switch {
			case err == nil:
				ok++
			case errors.Is(err, invitation.ErrAccepted):
				accepted++
			case errors.Is(err, authz.ErrConcurrentUpdate):
				concurrent++
			case errors.As(err, &ve) && ve.Field == "password":
				kinds["validation password"]++
			case errors.Is(err, invitation.ErrEmailMismatch):
				kinds["ErrEmailMismatch"]++
			default:
				t.Errorf("request %d: unexpected error %v", i, err)
			}
		}
		t.Logf("%d requests: %d succeeded, %d ErrAccepted, %d concurrent, others %v", len(errs), ok, accepted, concurrent, kinds)
		if ok != 1 {
			t.Errorf("%d acceptances succeeded, want 1 (the one that created the user)", ok)
		}
		if n := e.count(t, `SELECT count(*) FROM cf_users WHERE email = 'many@example.com'`); n != 1 {
			t.Fatalf("%d users, want 1", n)
		}
		if n := e.count(t, `SELECT count(*) FROM cf_memberships m JOIN cf_users u ON u.id = m.user_id WHERE u.email = 'many@example.com'`); n != ok {
			t.Fatalf("%d memberships, want %d", n, ok)
		}
		if n := e.count(t, `SELECT count(*) FROM cf_invitations WHERE email = 'many@example.com' AND status = 'accepted'`); n != ok {
			t.Fatalf("%d accepted invitations, want %d", n, ok)
		}
	})
}

// 50 resends of one invitation at once: each sends a new token; exactly
// the last one works, and sent_count counts them all.
func TestConcurrentResend(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		postgresOnly(t, db)
		e := newEnv(t, db)
		inv, first := e.invite(t, "resend@example.com")
		ctx := e.as(t, e.admin)
		errs := race(parallel, func(int) error {
			_, err := e.svc.Resend(ctx, e.c, inv.ID)
			return err
		})
		ok, _, _ := tally(t, errs, invitation.ErrPending)
		if n := e.count(t, `SELECT sent_count FROM cf_invitations WHERE id = ?`, string(inv.ID)); n != 1+ok {
			t.Fatalf("sent_count = %d, want %d", n, 1+ok)
		}
		if n := len(e.activities(t, "invitation.resent")); n != ok {
			t.Fatalf("%d invitation.resent activities, want %d", n, ok)
		}
		msgs := e.sent(t)
		if len(msgs) != ok {
			t.Fatalf("%d messages, want %d", len(msgs), ok)
		}
		working := 0
		for _, tok := range append([]string{first}, tokensOf(t, msgs)...) {
			if inv := e.c.Invitation.Query().Where(entinv.TokenDigest(secret.DigestOf(tok))).CountX(sys()); inv == 1 {
				working++
			}
		}
		if working != 1 {
			t.Fatalf("%d tokens name the invitation, want 1", working)
		}
	})
}

func tokensOf(t *testing.T, msgs []mail.Message) []string {
	t.Helper()
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = tokenOf(t, m)
	}
	return out
}

// Revocations and acceptances of one invitation at once: it ends either
// accepted with one membership (every revoke refused) or revoked with none
// (every acceptance refused).
func TestConcurrentRevokeAccept(t *testing.T) {
	testdb.Each(t, func(t *testing.T, db testdb.Target) {
		postgresOnly(t, db)
		e := newEnv(t, db)
		inv, tok := e.invite(t, "coin@example.com")
		ctx := e.as(t, e.owner)
		errs := race(parallel, func(i int) error {
			if i%2 == 0 {
				_, err := e.svc.Revoke(ctx, e.c, inv.ID)
				return err
			}
			_, err := e.svc.Accept(context.Background(), e.c, invitation.AcceptInput{Token: tok, Password: newPassword})
			return err
		})
		var revokes, accepts, notPending, refusedAccepts, concurrent int
		for i, err := range errs {
			switch {
			case errors.Is(err, authz.ErrConcurrentUpdate):
				concurrent++
			case i%2 == 0 && err == nil:
				revokes++
			case i%2 == 0 && errors.Is(err, invitation.ErrNotPending):
				notPending++
			case i%2 == 1 && err == nil:
				accepts++
			case i%2 == 1 && (errors.Is(err, invitation.ErrRevoked) || errors.Is(err, invitation.ErrAccepted)):
				refusedAccepts++
			default:
				t.Errorf("request %d: unexpected error %v", i, err)
			}
		}
		status := e.status(t, inv.ID)
		members := e.count(t, `SELECT count(*) FROM cf_memberships m JOIN cf_users u ON u.id = m.user_id WHERE u.email = 'coin@example.com'`)
		t.Logf("status %s: %d revokes ok, %d revokes refused, %d accepts ok, %d accepts refused, %d concurrent", status, revokes, notPending, accepts, refusedAccepts, concurrent)
		if concurrent != 0 {
			t.Errorf("%d concurrent-update refusals, want 0", concurrent)
		}
		switch status {
		case "accepted":
			if accepts != 1 || revokes != 0 || members != 1 {
				t.Fatalf("accepted: %d accepts, %d revokes, %d memberships", accepts, revokes, members)
			}
		case "revoked":
			if accepts != 0 || revokes != parallel/2 || members != 0 {
				t.Fatalf("revoked: %d accepts, %d revokes (revoking twice is a no-op), %d memberships", accepts, revokes, members)
			}
		default:
			t.Fatalf("status %s", status)
		}
	})
}
