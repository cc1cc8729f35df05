// Package version is the build's version and commit, for --version and the startup logs.
// Release builds stamp them with the linker (see the Makefile and Dockerfile):
//
//	-ldflags "-X github.com/taskroute/taskroute/internal/version.version=v0.4.0
//	          -X github.com/taskroute/taskroute/internal/version.commit=<sha>"
//
// Without stamping (go run, go build, go install), they come from the build info Go
// records: the module version of `go install ...@v0.4.0`, and the VCS revision of a build
// inside a git checkout.
package version

import (
	"fmt"
	"runtime/debug"
)

// Set with -ldflags -X; empty means "ask the build info".
var (
	version string
	commit  string
)

// Info describes a build.
type Info struct {
	Version  string `json:"version"`          // "v0.4.0", else "devel"
	Commit   string `json:"commit,omitempty"` // VCS revision, when known
	Modified bool   `json:"modified,omitempty"`
}

// Get returns the stamped version and commit, completed from the build info.
func Get() Info {
	return resolve(version, commit, readBuildInfo)
}

// String is Get as one line: "v0.4.0 (commit 1a2b3c4d5e6f)".
func String() string { return Get().String() }

func (i Info) String() string {
	if i.Commit == "" {
		return i.Version
	}
	c := i.Commit
	if len(c) > 12 {
		c = c[:12]
	}
	if i.Modified {
		c += ", modified"
	}
	return fmt.Sprintf("%s (commit %s)", i.Version, c)
}

func readBuildInfo() (*debug.BuildInfo, bool) { return debug.ReadBuildInfo() }

// resolve prefers the linker-stamped values and fills the rest from the build info.
func resolve(stampedVersion, stampedCommit string, buildInfo func() (*debug.BuildInfo, bool)) Info {
	info := Info{Version: stampedVersion, Commit: stampedCommit}
	if bi, ok := buildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if info.Commit == "" {
			info.Commit, info.Modified = vcsRevision(bi)
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	return info
}

func vcsRevision(bi *debug.BuildInfo) (revision string, modified bool) {
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return revision, modified
}
