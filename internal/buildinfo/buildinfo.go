// Package buildinfo reads what the Go toolchain recorded about the running
// binary: the module version and the VCS stamp of the build.
package buildinfo

import "runtime/debug"

// Devel is the Version of a binary built without a module version (a
// build from a work tree, or a test binary).
const Devel = "(devel)"

// Info describes a build.
type Info struct {
	// Version is the main module's version, Devel when unknown.
	Version string
	// Revision, Time and Modified come from the VCS stamp of the build
	// (go build inside a git work tree); empty (false) when it has none,
	// as with go run, go test or -buildvcs=false.
	Revision string
	Time     string
	Modified bool
	// Go is the toolchain that built the binary; empty when unknown.
	Go string
}

// Read returns the build information of the running binary.
func Read() Info { return From(debug.ReadBuildInfo()) }

// From returns the Info of bi, as returned with ok by debug.ReadBuildInfo;
// a nil bi or !ok gives an Info with only Version set (Devel).
func From(bi *debug.BuildInfo, ok bool) Info {
	v := Info{Version: Devel}
	if !ok || bi == nil {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	v.Go = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}
