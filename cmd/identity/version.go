package main

import (
	"fmt"
	"io"
	"runtime/debug"

	"github.com/cf/identity/internal/buildinfo"
)

// buildVersion describes the binary, from its build information.
type buildVersion struct{ buildinfo.Info }

// readVersion returns the version of the running binary.
func readVersion() buildVersion { return buildVersion{buildinfo.Read()} }

func versionOf(bi *debug.BuildInfo, ok bool) buildVersion {
	return buildVersion{buildinfo.From(bi, ok)}
}

// logArgs returns v as slog key-value pairs.
func (v buildVersion) logArgs() []any {
	args := []any{"version", v.Version}
	if v.Revision != "" {
		args = append(args, "revision", v.Revision, "revision_time", v.Time, "modified", v.Modified)
	}
	return append(args, "go", v.Go)
}

func (v buildVersion) write(w io.Writer) {
	fmt.Fprintf(w, "identity %s\n", v.Version)
	rev, at := v.Revision, v.Time
	if rev == "" {
		rev = "unknown (built without VCS information)"
	}
	fmt.Fprintf(w, "revision: %s\n", rev)
	if at != "" {
		fmt.Fprintf(w, "revision time: %s\n", at)
	}
	if v.Revision != "" {
		fmt.Fprintf(w, "modified: %t\n", v.Modified)
	}
	if v.Go != "" {
		fmt.Fprintf(w, "go: %s\n", v.Go)
	}
}

// newVersionFlags returns the flags of identity version (none but -h).
func newVersionFlags(w io.Writer) *flags { return newFlags("version", "version", w) }

func versionCmd(args []string, stdout io.Writer) error {
	f := newVersionFlags(stdout)
	if err := f.parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("%w: version takes no arguments, got %q", errUsage, f.Args())
	}
	readVersion().write(stdout)
	return nil
}
