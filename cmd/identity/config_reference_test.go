package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the configuration reference in README.md")

const (
	referenceBegin = "<!-- BEGIN generated config reference: go test ./cmd/identity -run TestConfigReference -update -->"
	referenceEnd   = "<!-- END generated config reference -->"
	readmePath     = "../../README.md"
)

// configReference renders, per command, a Markdown table of its flags:
// flag, environment variable, default (with every variable unset) and
// meaning. A flag exactly as an earlier command has it (same variable,
// default and meaning) is named after the table instead of repeated.
func configReference() string {
	type row struct{ name, env, def, meaning string }
	var b strings.Builder
	firstIn := map[row]string{} // row -> the command that listed it first
	for _, c := range commands() {
		f := c.flags(io.Discard)
		var rows []row
		f.VisitAll(func(fl *flag.Flag) {
			rows = append(rows, row{fl.Name, f.env[fl.Name], defaultText(fl), f.meaning[fl.Name]})
		})
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n#### `identity %s`\n\n", c.name)
		var own []row
		seen := map[string][]string{} // earlier command -> flags of it
		var earlier []string
		for _, r := range rows {
			if where, ok := firstIn[r]; ok {
				if seen[where] == nil {
					earlier = append(earlier, where)
				}
				seen[where] = append(seen[where], "`--"+r.name+"`")
				continue
			}
			firstIn[r] = c.name
			own = append(own, r)
		}
		if len(own) > 0 {
			b.WriteString("| flag | environment variable | default | meaning |\n|---|---|---|---|\n")
			for _, r := range own {
				env, def := "—", ""
				if r.env != "" {
					env = "`" + r.env + "`"
				}
				if r.def != "" {
					def = "`" + r.def + "`"
				}
				fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", r.name, env, def, cell(r.meaning))
			}
		}
		slices.SortStableFunc(earlier, func(a, b string) int { return len(seen[b]) - len(seen[a]) })
		for i, where := range earlier {
			if i == 0 && len(own) > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "Also, as for [`identity %s`](#identity-%s): %s.\n", where, strings.ReplaceAll(where, " ", "-"), strings.Join(seen[where], ", "))
		}
	}
	return b.String()
}

// defaultText is the default of fl as a user writes it: durations without
// trailing zero units (168h, not 168h0m0s).
func defaultText(fl *flag.Flag) string {
	d := fl.DefValue
	if _, ok := fl.Value.(interface{ IsBoolFlag() bool }); ok {
		return d
	}
	if strings.HasSuffix(d, "m0s") && d != "0s" {
		d = strings.TrimSuffix(d, "0s")
	}
	if strings.HasSuffix(d, "h0m") {
		d = strings.TrimSuffix(d, "0m")
	}
	return d
}

// cell escapes s for a Markdown table cell: pipes, angle brackets (read
// as HTML), and the stars and double underscores of emphasis.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`, "__", `\_\_`, "\n", " ").Replace(s)
}

// TestConfigReference compares the configuration reference generated from
// the flags of every command with README.md; -update rewrites it there.
func TestConfigReference(t *testing.T) {
	clearEnv(t)
	t.Setenv("IDENTITY_MASTER_KEY", "") // defaults as with nothing set
	want := configReference()
	for _, c := range commands() {
		f := c.flags(io.Discard)
		f.VisitAll(func(fl *flag.Flag) {
			if env := f.env[fl.Name]; env != "" && !slices.Contains(envVars, env) {
				t.Errorf("%s (identity %s --%s) is missing from envVars, which the tests clear", env, c.name, fl.Name)
			}
		})
	}
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, referenceBegin), strings.Index(readme, referenceEnd)
	if i < 0 || j < i || strings.Count(readme, referenceBegin) != 1 || strings.Count(readme, referenceEnd) != 1 {
		t.Fatalf("README.md needs one line %q, later one line %q", referenceBegin, referenceEnd)
	}
	start := i + len(referenceBegin)
	got := strings.TrimPrefix(readme[start:j], "\n")
	want = strings.TrimPrefix(want, "\n") + "\n"
	if got == want {
		return
	}
	if *update {
		readme = readme[:start] + "\n" + want + readme[j:]
		if err := os.WriteFile(readmePath, []byte(readme), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote the configuration reference in README.md")
		return
	}
	t.Errorf("the configuration reference in README.md differs from the flags:\n%s\nrun: go test ./cmd/identity -run TestConfigReference -update", lineDiff(got, want))
}

// lineDiff names the lines only in README (-) and only in the flags (+).
func lineDiff(readme, flags string) string {
	have, want := strings.Split(readme, "\n"), strings.Split(flags, "\n")
	var b strings.Builder
	for _, l := range have {
		if !slices.Contains(want, l) {
			fmt.Fprintf(&b, "- README: %s\n", l)
		}
	}
	for _, l := range want {
		if !slices.Contains(have, l) {
			fmt.Fprintf(&b, "+ flags:  %s\n", l)
		}
	}
	if b.Len() == 0 {
		b.WriteString("(the same lines in another order, or blank lines differ)\n")
	}
	return b.String()
}
