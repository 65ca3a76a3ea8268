package buildinfo_test

import (
	"runtime/debug"
	"testing"

	"github.com/cf/identity/internal/buildinfo"
)

func TestFrom(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want buildinfo.Info
	}{
		{"no build info", nil, false, buildinfo.Info{Version: "(devel)"}},
		{"not ok", &debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Version: "v1.0.0"}}, false, buildinfo.Info{Version: "(devel)"}},
		{"empty main version", &debug.BuildInfo{GoVersion: "go1.26"}, true, buildinfo.Info{Version: "(devel)", Go: "go1.26"}},
		{"work tree build", &debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Version: "(devel)"}}, true,
			buildinfo.Info{Version: "(devel)", Go: "go1.26"}},
		{"stamped", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "-trimpath", Value: "true"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-11-30T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}, true, buildinfo.Info{Version: "v1.2.3", Revision: "0123abcd", Time: "2026-11-30T10:00:00Z", Modified: true, Go: "go1.26.8"}},
		{"clean", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "false"},
		}}, true, buildinfo.Info{Version: "v1.2.3", Revision: "0123abcd"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := buildinfo.From(tt.bi, tt.ok); got != tt.want {
				t.Errorf("From = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestRead reads the test binary's own build information: go test records
// the toolchain, and no VCS stamp.
func TestRead(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Skip("no build information in the test binary")
	}
	got := buildinfo.Read()
	if got != buildinfo.From(bi, ok) {
		t.Errorf("Read = %+v, want From(debug.ReadBuildInfo()) = %+v", got, buildinfo.From(bi, ok))
	}
	if got.Go != bi.GoVersion || got.Version == "" {
		t.Errorf("Read = %+v: want Go %q and a version", got, bi.GoVersion)
	}
}
