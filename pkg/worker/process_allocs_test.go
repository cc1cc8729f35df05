package worker_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
)

// serviceChildEnv makes the test binary run TestServiceChild as the matching service of a
// parent test, so the parent process holds only the SDK.
const serviceChildEnv = "TASKROUTE_TEST_SERVICE_CHILD"

// TestServiceChild is the matching service in a child process (real server on 127.0.0.1,
// real Pebble dir): it prints its address and serves until its stdin closes. Skipped
// unless a parent started it.
func TestServiceChild(t *testing.T) {
	if os.Getenv(serviceChildEnv) == "" {
		t.Skip("only as the child process of a test")
	}
	addr, _ := testserver.Start(t, testserver.Options{})
	fmt.Println("addr", addr)
	_, _ = io.Copy(io.Discard, os.Stdin) // the parent closes it, or dies
}

// startServiceProcess runs the matching service as a child process of this test binary and
// returns its address; it stops when the test ends.
func startServiceProcess(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestServiceChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), serviceChildEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "addr "); ok {
				addrc <- addr
			}
		}
	}()
	select {
	case addr := <-addrc:
		return addr
	case <-time.After(time.Minute):
		t.Fatal("the service process printed no address within a minute")
		return ""
	}
}

// allocCount is this process's allocations so far: count and bytes.
func allocCount() (mallocs, bytes uint64) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs, ms.TotalAlloc
}

// Per-task allocations of the worker's process that TestWorkerProcessAllocations allows:
// measured (docs/benchmarks.md, "Allocations per task in the worker's process") plus
// headroom for gRPC's own buffers and timing (how many tasks share a message).
const (
	maxAddAllocsPerTask   = 2.6
	maxDrainAllocsPerTask = 11.0
	maxDrainBytesPerTask  = 1200
)

// TestWorkerProcessAllocations measures what a task costs the worker's process alone (the
// service runs in a child process): adding tasks in batches of client.MaxBatch, and a
// 64-slot stream worker with a no-op handler draining them (push, Task, handler,
// completion, outcome message, ack). It fails when either regresses past its budget.
func TestWorkerProcessAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a service process")
	}
	const n = 10000
	addr := startServiceProcess(t)
	c, err := client.Dial(context.Background(), addr, client.WithNamespace("default"), client.WithCallTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addQueued(t, c, "allocs", client.MaxBatch) // warm the connection up

	m0, b0 := allocCount()
	addQueued(t, c, "allocs", n-client.MaxBatch)
	m1, b1 := allocCount()
	addAllocs := float64(m1-m0) / float64(n-client.MaxBatch)
	t.Logf("adding: %.1f allocations, %.0f B per task", addAllocs, float64(b1-b0)/float64(n-client.MaxBatch))

	w, waitAll := noopWorker(t, c, "allocs", "allocs", n)
	m0, b0 = allocCount()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	waitAll(5 * time.Minute)
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	m1, b1 = allocCount()
	drainAllocs, drainBytes := float64(m1-m0)/n, float64(b1-b0)/n
	t.Logf("draining: %.1f allocations, %.0f B per task", drainAllocs, drainBytes)

	if addAllocs > maxAddAllocsPerTask {
		t.Errorf("adding a task: %.1f allocations; budget %.1f", addAllocs, maxAddAllocsPerTask)
	}
	if drainAllocs > maxDrainAllocsPerTask {
		t.Errorf("running a pushed task: %.1f allocations; budget %.1f", drainAllocs, maxDrainAllocsPerTask)
	}
	if drainBytes > maxDrainBytesPerTask {
		t.Errorf("running a pushed task: %.0f B allocated; budget %d", drainBytes, maxDrainBytesPerTask)
	}
}
