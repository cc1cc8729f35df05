// Package operator tests the reconcilers end to end on envtest with the real matching
// service (gRPC on 127.0.0.1, Pebble) as their registry and real worker processes
// (test/matching/testworker) that impersonate the pools' pods.
package operator

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/taskroute/taskroute/controllers"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/testutil"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

var cluster *testutil.Cluster

func TestMain(m *testing.M) {
	testutil.RunMain(m, func(c *testutil.Cluster) error { cluster = c; return nil })
}

// buildWorker builds the test worker binary into the test's temporary directory.
func buildWorker(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testworker")
	cmd := exec.Command("go", "build", "-o", bin, "../matching/testworker")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the test worker: %v\n%s", err, out)
	}
	return bin
}

// startReconcilers runs the manager's reconcilers against envtest with registry (the
// engine) until the test ends.
func startReconcilers(t *testing.T, registry queueconfig.Registry, refresh time.Duration) {
	t.Helper()
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme: testutil.Scheme(), Cache: controllers.CacheOptions(),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := controllers.Setup(mgr, controllers.Options{Registry: registry, StatsRefreshInterval: refresh}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// worker is a testworker process standing for the worker of one pod.
type worker struct {
	cmd    *exec.Cmd
	log    string // one line per task it ran
	exited chan struct{}
}

// startPodWorker runs a worker as the pod's container would: the pod's name as
// TASKROUTE_WORKER_ID (so its identity is the pod's name and a suffix) and the pool's name.
func startPodWorker(t *testing.T, bin, addr, ns, queue, pool, pod string) *worker {
	t.Helper()
	w := &worker{log: filepath.Join(t.TempDir(), pod+".log"), exited: make(chan struct{})}
	w.cmd = exec.Command(bin)
	w.cmd.Env = append(os.Environ(),
		workerenv.Address+"="+addr, workerenv.Namespace+"="+ns, workerenv.Queue+"="+queue,
		workerenv.Pool+"="+pool, workerenv.WorkerID+"="+pod, workerenv.Slots+"=1",
		workerenv.Insecure+"=true", "TESTWORKER_TYPES=block", "TESTWORKER_LOG="+w.log, "TESTWORKER_SHUTDOWN=1s")
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = w.cmd.Wait(); close(w.exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(w.cmd.Process.Pid, syscall.SIGKILL)
		<-w.exited
	})
	return w
}

// ranTask tells whether the worker has started a task.
func (w *worker) ranTask() bool {
	data, err := os.ReadFile(w.log)
	return err == nil && len(data) > 0
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
