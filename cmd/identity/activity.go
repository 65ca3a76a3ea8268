package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/cf/identity/activitylog"
	"github.com/cf/identity/actor"
	"github.com/cf/identity/audit"
	"github.com/cf/identity/ent"
	"github.com/cf/identity/internal/trail"
	"github.com/cf/identity/storage"
)

// errBroken is returned by activity verify when a chain is broken (exit 1).
var errBroken = errors.New("activity verify: the trail was altered")

// activityOptions are the flags of identity activity verify, export and
// prune; the flags of the other subcommands are nil.
type activityOptions struct {
	common                                  commonFlags
	allowForeign                            *bool
	org, chain, file, since, format, output *string
	olderThan                               *time.Duration
	batch                                   *int
}

// newActivityFlags returns the flags of identity activity SUB (verify,
// export or prune); help goes to w.
func newActivityFlags(sub string, w io.Writer) (*flags, *activityOptions) {
	synopsis := map[string]string{
		"verify": "activity verify [--organization ID | --chain platform] [--file EXPORT] [flags]",
		"export": "activity export --organization ID [--since TIME] [--format jsonl] [--output FILE] [flags]",
		"prune":  "activity prune --older-than DURATION [--batch N] [flags]",
	}[sub]
	f := newFlags("activity "+sub, synopsis, w)
	o := &activityOptions{}
	o.common.register(f)
	o.allowForeign = migrateFlag(f)
	switch sub {
	case "verify":
		o.org = f.String("organization", "", "", "verify the chain of this organization only")
		o.chain = f.String("chain", "", "", "verify this chain only (an organization ID, or platform for rows without one)")
		o.file = f.String("file", "", "", "verify an export written by identity activity export instead of the database")
	case "export":
		o.org = f.String("organization", "", "", "the organization whose trail to export (platform: rows without one)")
		o.since = f.String("since", "", "", "export from the first row that occurred at or after this time (RFC 3339); default: all kept rows")
		o.format = f.String("format", "", "jsonl", "output format: jsonl (one activity per line, with its hashes)")
		o.output = f.String("output", "", "", "write to this file instead of stdout")
	case "prune":
		o.olderThan = f.Duration("older-than", "IDENTITY_ACTIVITY_RETENTION", 0, "delete the activities that occurred longer ago than this (e.g. 8760h)")
		o.batch = f.Int("batch", "IDENTITY_ACTIVITY_PRUNE_BATCH", 1000, "rows deleted per transaction (1 to 10000)")
	}
	return f, o
}

func activityCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || !slices.Contains([]string{"verify", "export", "prune"}, args[0]) {
		return fmt.Errorf("%w: want identity activity verify, export or prune", errUsage)
	}
	sub := args[0]
	f, o := newActivityFlags(sub, stdout)
	c, allowForeign := &o.common, o.allowForeign
	org, chainFlag, file, since, format, output := o.org, o.chain, o.file, o.since, o.format, o.output
	olderThan, batch := o.olderThan, o.batch
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%w: activity %s takes no arguments, got %q", errUsage, sub, f.Args())
	}
	if sub == "verify" && *file != "" {
		if *org != "" || *chainFlag != "" {
			return fmt.Errorf("%w: --file verifies the chains in the file; leave out --organization and --chain", errUsage)
		}
		return verifyFile(*file, stdout)
	}
	var sinceT time.Time
	switch sub {
	case "verify":
		if *org != "" && *chainFlag != "" {
			return fmt.Errorf("%w: give --organization or --chain, not both", errUsage)
		}
		if *org != "" {
			chainFlag = org
		}
	case "export":
		if *org == "" {
			return fmt.Errorf("%w: activity export needs --organization ID (or platform)", errUsage)
		}
		if *format != "jsonl" {
			return fmt.Errorf("%w: --format %q: only jsonl is supported", errUsage, *format)
		}
		if *since != "" {
			t, err := time.Parse(time.RFC3339, *since)
			if err != nil {
				return fmt.Errorf("%w: --since %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", errUsage, *since)
			}
			sinceT = t
		}
	case "prune":
		if *olderThan <= 0 {
			return fmt.Errorf("%w: activity prune needs --older-than DURATION (more than 0, e.g. 8760h)", errUsage)
		}
		if *batch < 1 || *batch > 10000 {
			return fmt.Errorf("%w: --batch %d: want 1 to 10000", errUsage, *batch)
		}
	}
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
	sys := audit.WithRequest(actor.NewContext(ctx, actor.System("cli activity "+sub)), audit.Request{Channel: audit.ChannelCLI})
	switch sub {
	case "verify":
		return verifyDB(sys, client, *chainFlag, stdout)
	case "export":
		w := stdout
		if *output != "" {
			fh, err := os.OpenFile(*output, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return fmt.Errorf("activity export: %w", err)
			}
			// Closed and checked below once the export is written; this
			// covers the early returns.
			defer func() { _ = fh.Close() }()
			w = fh
		}
		n, err := activitylog.Export(sys, client, w, *org, sinceT)
		if err != nil {
			return err
		}
		if *output != "" {
			if err := w.(*os.File).Close(); err != nil {
				return fmt.Errorf("activity export: %w", err)
			}
		}
		fmt.Fprintf(stderr, "exported %d activities of chain %s\n", n, *org)
		return nil
	default:
		cutoff := time.Now().Add(-*olderThan)
		res, err := trail.Prune(sys, client, cutoff, *batch)
		if res != nil {
			for _, chain := range slices.Sorted(maps.Keys(res.Deleted)) {
				fmt.Fprintf(stdout, "chain %s: deleted %d activities; the chain now starts after position %d\n", chain, res.Deleted[chain], res.Anchor[chain])
			}
			if len(res.Deleted) == 0 {
				fmt.Fprintf(stdout, "nothing occurred before %s\n", cutoff.UTC().Format(time.RFC3339))
			}
		}
		return err
	}
}

// verifyDB verifies one chain, or every chain, and prints a line per chain.
func verifyDB(ctx context.Context, client *ent.Client, chain string, stdout io.Writer) error {
	chains := []string{chain}
	if chain == "" {
		var err error
		if chains, err = client.ActivityChain.Query().IDs(ctx); err != nil {
			return fmt.Errorf("activity verify: listing chains: %w", err)
		}
		slices.Sort(chains)
	}
	var reports []*activitylog.Report
	for _, ch := range chains {
		r, err := activitylog.Verify(ctx, client, ch)
		if err != nil {
			return err
		}
		reports = append(reports, r)
	}
	return printReports(reports, stdout)
}

func verifyFile(path string, stdout io.Writer) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("activity verify: %w", err)
	}
	defer func() { _ = fh.Close() }() // read only: nothing to lose on close
	reports, err := activitylog.VerifyFile(fh)
	if err != nil {
		return fmt.Errorf("activity verify %s: %w", path, err)
	}
	if len(reports) == 0 {
		return fmt.Errorf("activity verify %s: the file holds no activities", path)
	}
	return printReports(reports, stdout)
}

func printReports(reports []*activitylog.Report, stdout io.Writer) error {
	broken := 0
	for _, r := range reports {
		if !r.OK() {
			broken++
			fmt.Fprintf(stdout, "chain %s: BROKEN: %s\n", r.Chain, r.Problem.Kind)
			fmt.Fprintf(stdout, "  %s\n", r.Problem.Error())
			continue
		}
		switch {
		case r.Rows == 0:
			fmt.Fprintf(stdout, "chain %s: ok, no hashed rows after position %d\n", r.Chain, r.Anchor)
		default:
			fmt.Fprintf(stdout, "chain %s: ok, %d activities (positions %d to %d)\n", r.Chain, r.Rows, r.From, r.To)
		}
	}
	if broken > 0 {
		return fmt.Errorf("%w: %d of %d chains broken", errBroken, broken, len(reports))
	}
	return nil
}
