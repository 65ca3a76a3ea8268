package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cf/identity/actor"
	"github.com/cf/identity/audit"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/ent/user"
)

func userCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("%w: want identity user create --email E [--password-stdin]", errUsage)
	}
	f := newFlags("user create", "user create --email EMAIL [--name NAME] [--password-stdin] [flags]", stdout)
	var c commonFlags
	c.register(f)
	var s sessionFlags
	s.register(f)
	email := f.String("email", "IDENTITY_USER_EMAIL", "", "email of the user to create")
	name := f.String("name", "IDENTITY_USER_NAME", "", "display name")
	status := f.String("status", "IDENTITY_USER_STATUS", "active", "lifecycle status of the new user: pending or active")
	fromStdin := f.Bool("password-stdin", "IDENTITY_USER_PASSWORD_STDIN", false, "read the initial password from the first line of stdin (never from a flag: flags show in ps and shell history)")
	var rules emailFlags
	rules.register(f)
	allowForeign := migrateFlag(f)
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
	client, m, err := openSessions(ctx, c, &s, *allowForeign, stderr)
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

func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return fmt.Errorf("%w: want identity keys rotate", errUsage)
	}
	f := newFlags("keys rotate", "keys rotate [flags]", stdout)
	var c commonFlags
	c.register(f)
	var s sessionFlags
	s.register(f)
	allowForeign := migrateFlag(f)
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%w: keys rotate takes no arguments, got %q", errUsage, f.Args())
	}
	client, m, err := openSessions(ctx, c, &s, *allowForeign, stderr)
	if err != nil {
		return err
	}
	defer client.Close()
	kid, err := m.RotateKeys(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "new signing key %s signs access tokens from now on; the previous keys keep verifying until their tokens have expired (%s)\n",
		kid, m.Config().AccessTTL+time.Minute)
	fmt.Fprintln(stdout, kid)
	return nil
}
