package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWorkloadsTinyRun runs each dispatch workload (on the SDK's default stream path, and
// drain-batched on the poll path too) with 200 tasks against a real
// `manager --standalone` process (built from this checkout) over gRPC on 127.0.0.1.
func TestWorkloadsTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the manager")
	}
	bin := filepath.Join(t.TempDir(), "manager")
	if out, err := exec.Command("go", "build", "-o", bin, "../manager").CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}
	for _, name := range []string{"drain-batched", "drain-single", "start-latency", "drain-batched/poll"} {
		t.Run(name, func(t *testing.T) {
			scenario, dispatch, _ := strings.Cut(name, "/")
			cfg := config{
				managerBin: bin, scenarios: scenario, workDir: t.TempDir(),
				workloadTasks: 200, workloadPayload: 100, workloadSlots: 64,
				drainBatch: 50, drainProducers: 4, startSamples: 200, dispatch: dispatch,
			}
			if err := run(cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
}
