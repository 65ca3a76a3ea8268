package main

import "io"

// command is one command line of the binary and the constructor of its
// flags, which defines them without running anything.
type command struct {
	name  string // "serve", "migrate apply", ...
	flags func(w io.Writer) *flags
}

// commands lists every command with its flags, in the order of the
// configuration reference in README.md (TestConfigReference).
func commands() []command {
	var cs []command
	add := func(name string, fn func(io.Writer) *flags) { cs = append(cs, command{name, fn}) }
	add("serve", func(w io.Writer) *flags { f, _ := newServeFlags(w); return f })
	add("bootstrap", func(w io.Writer) *flags { f, _ := newBootstrapFlags(w); return f })
	add("user create", func(w io.Writer) *flags { f, _ := newUserCreateFlags(w); return f })
	for _, sub := range []string{"rotate", "status"} {
		add("keys "+sub, func(w io.Writer) *flags { f, _ := newKeysFlags(sub, w); return f })
	}
	for _, sub := range []string{"verify", "export", "prune"} {
		add("activity "+sub, func(w io.Writer) *flags { f, _ := newActivityFlags(sub, w); return f })
	}
	add("db create-role", func(w io.Writer) *flags { f, _ := newDBRoleFlags(w); return f })
	for _, sub := range []string{"apply", "status", "validate", "drift", "diff", "check", "schema", "hash"} {
		add("migrate "+sub, func(w io.Writer) *flags {
			f, _, err := newMigrateFlags(sub, w)
			if err != nil {
				panic(err) // every sub above is known
			}
			return f
		})
	}
	add("version", newVersionFlags)
	return cs
}
