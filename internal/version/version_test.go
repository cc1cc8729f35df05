package version

import (
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	bi := func(mainVersion string, settings ...debug.BuildSetting) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			return &debug.BuildInfo{Main: debug.Module{Version: mainVersion}, Settings: settings}, true
		}
	}
	rev := debug.BuildSetting{Key: "vcs.revision", Value: "0123456789abcdef0123"}
	dirty := debug.BuildSetting{Key: "vcs.modified", Value: "true"}
	for _, tc := range []struct {
		name            string
		version, commit string
		info            func() (*debug.BuildInfo, bool)
		want            string
	}{
		{"stamped", "v1.2.3", "fedcba9876543210", bi("(devel)", rev), "v1.2.3 (commit fedcba987654)"},
		{"stamped version, vcs commit", "v1.2.3", "", bi("(devel)", rev, dirty), "v1.2.3 (commit 0123456789ab, modified)"},
		{"go install @version", "", "", bi("v0.9.0"), "v0.9.0"},
		{"go build in a checkout", "", "", bi("(devel)", rev), "devel (commit 0123456789ab)"},
		{"no build info", "", "", func() (*debug.BuildInfo, bool) { return nil, false }, "devel"},
	} {
		if got := resolve(tc.version, tc.commit, tc.info).String(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
