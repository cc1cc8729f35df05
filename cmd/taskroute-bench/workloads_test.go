package main

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestWorkloadsTinyRun runs each dispatch workload with 200 tasks against a real
// `manager --standalone` process (built from this checkout) over gRPC on 127.0.0.1.
func TestWorkloadsTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the manager")
	}
	bin := filepath.Join(t.TempDir(), "manager")
	if out, err := exec.Command("go", "build", "-o", bin, "../manager").CombinedOutput(); err != nil {
		t.Fatalf("building the manager: %v\n%s", err, out)
	}
	for _, name := range []string{"drain-batched", "drain-single", "start-latency"} {
		t.Run(name, func(t *testing.T) {
			cfg := config{
				managerBin: bin, scenarios: name, workDir: t.TempDir(),
				workloadTasks: 200, workloadPayload: 100, workloadSlots: 64,
				drainBatch: 50, drainProducers: 4, startSamples: 200,
			}
			if err := run(cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
}
