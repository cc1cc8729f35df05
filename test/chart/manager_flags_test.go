package chart

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestManagerAcceptsChartFlags: every flag the chart (and so config/manager, which
// TestChartMatchesKustomize keeps equal) passes to /manager is one the binary defines, so
// the installed manager does not exit on an unknown flag.
func TestManagerAcceptsChartFlags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "manager")
	build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/manager: %v\n%s", err, out)
	}
	// -help prints the flags and exits with status 0 (flag.ExitOnError) or 2; either is fine.
	out, _ := exec.Command(bin, "-help").CombinedOutput()
	defined := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-{1,2}([a-z0-9][-a-z0-9.]*)`).FindAllStringSubmatch(string(out), -1) {
		defined[m[1]] = true
	}
	if len(defined) < 3 {
		t.Fatalf("could not read the manager's flags from -help:\n%s", out)
	}
	dep := find[*appsv1.Deployment](t, renderChart(t), managerName)
	for _, arg := range dep.Spec.Template.Spec.Containers[0].Args {
		name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
		if !defined[name] {
			t.Errorf("the chart passes %s but the manager defines no -%s flag", arg, name)
		}
	}
}
