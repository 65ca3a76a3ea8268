package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/audit"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
	"github.com/cf/identity/session"
)

// userCreateOptions are the flags of identity user create.
type userCreateOptions struct {
	common              commonFlags
	sess                sessionFlags
	email, name, status *string
	fromStdin           *bool
	rules               emailFlags
	allowForeign        *bool
}

// newUserCreateFlags returns the flags of identity user create; help goes
// to w.
func newUserCreateFlags(w io.Writer) (*flags, *userCreateOptions) {
	f := newFlags("user create", "user create --email EMAIL [--name NAME] [--password-stdin] [flags]", w)
	o := &userCreateOptions{}
	o.common.register(f)
	o.sess.register(f)
	o.email = f.String("email", "IDENTITY_USER_EMAIL", "", "email of the user to create")
	o.name = f.String("name", "IDENTITY_USER_NAME", "", "display name")
	o.status = f.String("status", "IDENTITY_USER_STATUS", "active", "lifecycle status of the new user: pending or active")
	o.fromStdin = f.Bool("password-stdin", "IDENTITY_USER_PASSWORD_STDIN", false, "read the initial password from the first line of stdin (never from a flag: flags show in ps and shell history)")
	o.rules.register(f)
	o.allowForeign = migrateFlag(f)
	return f, o
}

// keysOptions are the flags of identity keys rotate and keys status.
type keysOptions struct {
	common       commonFlags
	sess         sessionFlags
	batch        *int  // rotate only
	resealOnly   *bool // rotate only
	allowForeign *bool
}

// newKeysFlags returns the flags of identity keys SUB (rotate or status);
// help goes to w.
func newKeysFlags(sub string, w io.Writer) (*flags, *keysOptions) {
	synopsis := "keys status [flags]"
	if sub == "rotate" {
		synopsis = "keys rotate [--reseal-only] [--batch N] [flags]"
	}
	f := newFlags("keys "+sub, synopsis, w)
	o := &keysOptions{}
	o.common.register(f)
	o.sess.register(f)
	if sub == "rotate" {
		o.batch = f.Int("batch", "IDENTITY_RESEAL_BATCH", session.DefaultResealBatch, "rows re-sealed per transaction")
		o.resealOnly = f.Bool("reseal-only", "IDENTITY_RESEAL_ONLY", false, "only re-seal the stored secrets under the current master key; add no signing key")
	}
	o.allowForeign = migrateFlag(f)
	return f, o
}

func userCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("%w: want identity user create --email E [--password-stdin]", errUsage)
	}
	f, o := newUserCreateFlags(stdout)
	c, s, email, name, status, fromStdin, rules, allowForeign := &o.common, &o.sess, o.email, o.name, o.status, o.fromStdin, &o.rules, o.allowForeign
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("%w: user create needs --email", errUsage)
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%w: user create takes no arguments, got %q", errUsage, f.Args())
	}
	if *status != "pending" && *status != "active" {
		return fmt.Errorf("%w: --status %q: want pending or active", errUsage, *status)
	}
	rules.apply()
	var pw *string
	if *fromStdin {
		p, err := readPassword(stdin)
		if err != nil {
			return err
		}
		pw = &p
	}
	client, m, err := openSessions(ctx, *c, s, *allowForeign, stderr)
	if err != nil {
		return err
	}
	defer client.Close()
	cctx := audit.WithRequest(actor.NewContext(ctx, actor.System("cli user create")), audit.Request{Channel: audit.ChannelCLI})
	st := user.Status(*status)
	u, err := m.CreateUser(cctx, client, ent.CreateUserInput{Email: *email, DisplayName: name, Status: &st}, pw)
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	what := "without a password"
	if pw != nil {
		what = "with a password"
	}
	fmt.Fprintf(stderr, "created %s user %s (%s) %s\n", u.Status, u.Email, u.ID, what)
	fmt.Fprintln(stdout, u.ID)
	return nil
}

// keysCmd runs identity keys rotate and identity keys status.
func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "status") {
		return fmt.Errorf("%w: want identity keys rotate or identity keys status", errUsage)
	}
	sub := args[0]
	f, o := newKeysFlags(sub, stdout)
	c, s, batch, resealOnly, allowForeign := &o.common, &o.sess, o.batch, o.resealOnly, o.allowForeign
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%w: keys %s takes no arguments, got %q", errUsage, sub, f.Args())
	}
	if batch != nil && *batch < 1 {
		return fmt.Errorf("%w: --batch %d: want at least 1", errUsage, *batch)
	}
	client, m, err := openSessions(ctx, *c, s, *allowForeign, stderr)
	if err != nil {
		return err
	}
	defer client.Close()
	if sub == "status" {
		return keysStatus(ctx, m, stdout, stderr)
	}
	cctx := audit.WithRequest(actor.NewContext(ctx, actor.System("cli keys rotate")), audit.Request{Channel: audit.ChannelCLI})
	if !*resealOnly {
		kid, err := m.RotateKeys(cctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "new signing key %s signs access tokens from now on; the previous keys keep verifying until their tokens have expired (%s)\n",
			kid, m.Config().AccessTTL+time.Minute)
		fmt.Fprintln(stdout, kid)
	}
	r, err := m.Reseal(cctx, *batch)
	fmt.Fprintf(stderr, "re-sealed %d signing keys and %d OAuth tokens under master key %s", r.SigningKeys, r.OAuthTokens, m.Sealer().KeyID())
	switch {
	case err != nil && r.Remaining != nil:
		fmt.Fprintf(stderr, "; still under older keys: %s; keep them\n", remaining(r.Remaining))
	case err != nil:
		fmt.Fprintln(stderr)
	case len(r.Remaining) > 0:
		// Written while the run went on by a server with an older key.
		fmt.Fprintf(stderr, "; still under older keys: %s; keep them and run identity keys rotate --reseal-only again\n", remaining(r.Remaining))
	case len(m.Config().PreviousMasterKeys) > 0:
		fmt.Fprintf(stderr, "; nothing remains under older keys: you may remove them from %s\n", s.keySource)
	default:
		fmt.Fprintln(stderr, "; nothing remains under older keys")
	}
	if err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	return nil
}

// remaining lists counts by key ID, in the order of the IDs.
func remaining(by map[string]int) string {
	ids := slices.Sorted(maps.Keys(by))
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%s: %d", id, by[id])
	}
	return strings.Join(parts, ", ")
}

// keysStatus prints the stored sealed values by master key: the
// configured keys first (current, then previous), then keys that are not
// configured, then the legacy values that do not record their key.
func keysStatus(ctx context.Context, m *session.Manager, stdout, stderr io.Writer) error {
	counts, err := m.SealedStatus(ctx)
	if err != nil {
		return fmt.Errorf("keys status: %w", err)
	}
	configured := m.Sealer().KeyIDs()
	fmt.Fprintf(stdout, "%-8s %8s  %s\n", "KEY", "VALUES", "MASTER KEY")
	for i, id := range configured {
		what := "current"
		if i > 0 {
			what = fmt.Sprintf("previous %d", i)
		}
		fmt.Fprintf(stdout, "%-8s %8d  %s\n", id, counts[id], what)
	}
	others := 0
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		if slices.Contains(configured, id) || id == session.LegacyKeyID {
			continue
		}
		fmt.Fprintf(stdout, "%-8s %8d  %s\n", id, counts[id], "not configured")
		others += counts[id]
	}
	if n := counts[session.LegacyKeyID]; n > 0 {
		fmt.Fprintf(stdout, "%-8s %8d  %s\n", session.LegacyKeyID, n, "not recorded (sealed before key IDs)")
	}
	old := 0
	for id, n := range counts {
		if id != m.Sealer().KeyID() {
			old += n
		}
	}
	switch {
	case others > 0:
		fmt.Fprintf(stderr, "%d values are sealed under master keys that are not configured: add those keys as previous keys to open them\n", others)
	case old > 0:
		fmt.Fprintf(stderr, "%d values are not under the current master key %s: run identity keys rotate (or --reseal-only)\n", old, m.Sealer().KeyID())
	}
	return nil
}
