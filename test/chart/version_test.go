package chart

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBuildStampsVersion: the linker flags of `make build` stamp VERSION and COMMIT into
// both binaries, and --version prints them. The flags are read from `make -n build` and
// used without -trimpath, so the build reuses the test's compile cache and only links.
func TestBuildStampsVersion(t *testing.T) {
	const version, commit = "v9.9.9-test", "0123456789abcdef0123456789abcdef01234567"
	dry := exec.Command("make", "-n", "build", "VERSION="+version, "COMMIT="+commit)
	dry.Dir = repoRoot
	plan, err := dry.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n build: %v\n%s", err, plan)
	}
	bin := t.TempDir()
	for name, want := range map[string]string{
		"manager":   "manager v9.9.9-test (commit 0123456789ab)\n",
		"taskroute": "taskroute version v9.9.9-test (commit 0123456789ab)\n",
	} {
		m := regexp.MustCompile(`-ldflags "([^"]*)" .*\./cmd/` + name + `\n`).FindSubmatch(plan)
		if m == nil {
			t.Fatalf("make build does not build ./cmd/%s with -ldflags:\n%s", name, plan)
		}
		out := filepath.Join(bin, name)
		build := exec.Command("go", "build", "-ldflags", string(m[1]), "-o", out, "./cmd/"+name)
		build.Dir = repoRoot
		if b, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/%s: %v\n%s", name, err, b)
		}
		got, err := exec.Command(out, "--version").CombinedOutput()
		if err != nil || string(got) != want {
			t.Errorf("%s --version = %q (%v), want %q", name, got, err, want)
		}
		if strings.Contains(string(got), "devel") {
			t.Errorf("%s reports a development build", name)
		}
	}
}
