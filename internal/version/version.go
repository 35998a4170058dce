// Package version says which build of caapolicy is running, for caacheck -version and the
// coredns_caapolicy_build_info metric.
package version

import (
	"runtime/debug"
	"strings"
)

// Version is stamped at build time:
//
//	go build -ldflags "-X github.com/caapolicy/caapolicy/internal/version.Version=v0.1.0" ./cmd/coredns
//
// Left empty, String asks the build information the Go toolchain records.
var Version string

// modulePath is caapolicy's module, looked up in the build information.
const modulePath = "github.com/caapolicy/caapolicy"

// String returns the stamped version, else the one the toolchain recorded for the module (a tag
// or a pseudo-version), else "devel" with the VCS revision when it is known.
func String() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return fromBuildInfo(bi)
}

// fromBuildInfo finds caapolicy's version in bi: the main module (cmd/coredns, cmd/caacheck) or
// a dependency (a CoreDNS built from plugin.cfg).
func fromBuildInfo(bi *debug.BuildInfo) string {
	m := &bi.Main
	if m.Path != modulePath {
		m = nil
		for _, d := range bi.Deps {
			if d.Path == modulePath {
				m = d
				if d.Replace != nil {
					m = d.Replace
				}
				break
			}
		}
	}
	// A replace by a local copy has no version, and the zero pseudo-version a replace
	// asks for says nothing either.
	if m != nil && m.Version != "" && m.Version != "(devel)" && !strings.HasPrefix(m.Version, "v0.0.0-00010101000000-") {
		return m.Version
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		return "devel-" + rev + "-dirty"
	}
	return "devel-" + rev
}
