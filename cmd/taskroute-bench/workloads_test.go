package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWorkloadsTinyRun runs each dispatch workload (on the SDK's default stream path, and
// drain-batched on the poll path too) with 200 tasks against a real
// `manager --standalone` process (built from this checkout) over gRPC on 127.0.0.1;
// drain-batched twice, each run on a fresh service and data dir.
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
			runs := 1
			if name == "drain-batched" {
				runs = 2 // and a median line
			}
			cfg := config{
				managerBin: bin, scenarios: scenario, workDir: t.TempDir(), runs: runs,
				workloadTasks: 200, workloadPayload: 100, workloadSlots: 64,
				drainBatch: 50, drainProducers: 4, startSamples: 200, dispatch: dispatch,
			}
			if err := run(cfg); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= runs; i++ {
				// every run on its own data dir (and manager log)
				if _, err := os.Stat(filepath.Join(cfg.workDir, scenario, fmt.Sprintf("run-%d", i), "manager.log")); err != nil {
					t.Errorf("run %d of %d: %v", i, runs, err)
				}
			}
		})
	}
}

// TestRunsAtLeastOne: -runs below 1 is refused, naming the flag.
func TestRunsAtLeastOne(t *testing.T) {
	err := run(config{scenarios: "drain-batched", runs: 0})
	if err == nil || !strings.Contains(err.Error(), "-runs") {
		t.Fatalf("got %v, want an error naming -runs", err)
	}
}
