package main

import (
	"context"
	"fmt"
	"io"

	"github.com/cf/identity/bootstrap"
	"github.com/cf/identity/storage"
)

// bootstrapOptions are the flags of identity bootstrap.
type bootstrapOptions struct {
	common       commonFlags
	email, name  *string
	allowForeign *bool
	rules        emailFlags
}

// newBootstrapFlags returns the flags of identity bootstrap; help goes to w.
func newBootstrapFlags(w io.Writer) (*flags, *bootstrapOptions) {
	f := newFlags("bootstrap", "bootstrap --email EMAIL [flags]", w)
	o := &bootstrapOptions{}
	o.common.register(f)
	o.email = f.String("email", "IDENTITY_BOOTSTRAP_EMAIL", "", "email of the superadmin to create or promote")
	o.name = f.String("name", "IDENTITY_BOOTSTRAP_NAME", "", "display name for a new user")
	o.allowForeign = migrateFlag(f)
	o.rules.register(f)
	return f, o
}

func bootstrapCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, o := newBootstrapFlags(stdout)
	c, email, name, allowForeign, rules := &o.common, o.email, o.name, o.allowForeign, &o.rules
	if err := f.parse(args); err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("%w: bootstrap needs --email", errUsage)
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%w: bootstrap takes no arguments, got %q", errUsage, f.Args())
	}
	rules.apply()
	applied, err := prepareDatabase(ctx, c.databaseURL, *allowForeign, func() {
		fmt.Fprintf(stderr, "created database %s\n", storage.Redact(c.databaseURL))
	})
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		fmt.Fprintf(stderr, "applied %d migration(s)\n", len(applied))
	}
	client, _, _, err := storage.Open(ctx, c.databaseURL)
	if err != nil {
		return err
	}
	defer client.Close()
	res, err := bootstrap.Superadmin(ctx, client, *email, *name)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	what := "promoted existing user %s (%s) to platform superadmin\n"
	if res.Created {
		what = "created user %s (%s) as platform superadmin\n"
	}
	fmt.Fprintf(stderr, what, res.Email, res.UserID)
	fmt.Fprintf(stderr, "new personal API key %s; it is shown once, below on stdout:\n", res.KeyID)
	fmt.Fprintln(stdout, res.Key)
	return nil
}
