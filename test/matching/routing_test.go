package matching

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
)

// TestCapabilityRoutingWithWorkerProcesses: worker processes configured only by the
// environment a WorkerPool injects (TASKROUTE_CAPABILITIES). GPU tasks added first do not
// hold up CPU tasks while no GPU worker is connected; they wait, visibly unroutable, and a
// GPU worker that connects later runs them. No GPU task ever runs on the CPU worker.
func TestCapabilityRoutingWithWorkerProcesses(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	ctx := context.Background()

	const n = 200
	var gpuIDs, cpuIDs []string
	tasks := make([]client.Task, 0, 2*n)
	for i := range n { // GPU tasks first: a FIFO queue would put them in front
		id := fmt.Sprintf("gpu-%03d", i)
		gpuIDs = append(gpuIDs, id)
		tasks = append(tasks, client.Task{ID: id, Queue: "mixed", Type: "echo", Payload: []byte(id), Requires: client.Capabilities{"gpu": ""}})
	}
	for i := range n {
		id := fmt.Sprintf("cpu-%03d", i)
		cpuIDs = append(cpuIDs, id)
		tasks = append(tasks, client.Task{ID: id, Queue: "mixed", Type: "echo", Payload: []byte(id)})
	}
	if _, err := c.AddTasks(ctx, tasks); err != nil {
		t.Fatal(err)
	}

	cpu := startWorker(t, s.addr, workerConfig{queue: "mixed", types: "echo", slots: 16, id: "cpu-worker"})
	waitAll(t, c, cpuIDs, 60*time.Second)
	for _, id := range gpuIDs[:5] {
		if info, err := c.GetTask(ctx, id); err != nil || info.State != client.StateScheduled {
			t.Fatalf("GPU task %s with only a CPU worker: %+v, %v", id, info, err)
		}
	}
	d, err := c.DescribeQueue(ctx, "mixed")
	if err != nil {
		t.Fatal(err)
	}
	var gpuBacklog *client.Backlog
	for i := range d.Backlog {
		if _, ok := d.Backlog[i].Requires["gpu"]; ok {
			gpuBacklog = &d.Backlog[i]
		}
	}
	if gpuBacklog == nil || gpuBacklog.Count != n || gpuBacklog.Routable || gpuBacklog.Unmet.String() != "gpu" {
		t.Fatalf("GPU backlog with only a CPU worker = %+v, want %d tasks, not routable, unmet gpu", gpuBacklog, n)
	}

	gpu := startWorker(t, s.addr, workerConfig{queue: "mixed", types: "echo", slots: 16, id: "gpu-worker", capabilities: "gpu=a100,arch=amd64"})
	for id, info := range waitAll(t, c, gpuIDs, 60*time.Second) {
		if info.State != client.StateCompleted || string(info.Result) != id {
			t.Fatalf("GPU task %s: %s %q", id, info.State, info.Result)
		}
	}
	cpu.terminate(10 * time.Second)
	gpu.terminate(10 * time.Second)
	for id := range cpu.executions() {
		if strings.HasPrefix(id, "gpu-") {
			t.Errorf("GPU task %s ran on the CPU worker", id)
		}
	}
	ranOnGPU := gpu.executions()
	for _, id := range gpuIDs {
		if len(ranOnGPU[id]) != 1 {
			t.Errorf("GPU task %s ran %d times on the GPU worker", id, len(ranOnGPU[id]))
		}
	}
}

// TestHostAndProcessRouting: a task learns where it runs (Task.SameHost, SameProcess) and
// follow-ups that require that host or that process run only there, among worker
// processes on two hosts (two processes on host-a).
func TestHostAndProcessRouting(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	ctx := context.Background()
	workers := []*workerProc{
		startWorker(t, s.addr, workerConfig{queue: "files", types: "whereami,echo", slots: 4, id: "a1", node: "host-a"}),
		startWorker(t, s.addr, workerConfig{queue: "files", types: "whereami,echo", slots: 4, id: "a2", node: "host-a"}),
		startWorker(t, s.addr, workerConfig{queue: "files", types: "whereami,echo", slots: 4, id: "b1", node: "host-b"}),
	}
	if _, err := c.AddTask(ctx, client.Task{ID: "download", Queue: "files", Type: "whereami"}); err != nil {
		t.Fatal(err)
	}
	info := waitState(t, c, "download", client.StateCompleted, 30*time.Second)
	host, process, _ := strings.Cut(string(info.Result), "\n")
	if host != "host-a" && host != "host-b" {
		t.Fatalf("download ran on host %q", host)
	}
	const n = 30
	var sameHost, sameProcess []string
	var tasks []client.Task
	for i := range n {
		sameHost = append(sameHost, fmt.Sprintf("process-%02d", i))
		tasks = append(tasks, client.Task{ID: sameHost[i], Queue: "files", Type: "echo", Requires: client.Capabilities{client.CapabilityHost: host}})
		sameProcess = append(sameProcess, fmt.Sprintf("cached-%02d", i))
		tasks = append(tasks, client.Task{ID: sameProcess[i], Queue: "files", Type: "echo", Requires: client.Capabilities{client.CapabilityProcess: process}})
	}
	if _, err := c.AddTasks(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c, append(append([]string(nil), sameHost...), sameProcess...), 60*time.Second)
	for _, w := range workers {
		w.terminate(10 * time.Second) // flushes the execution logs
	}
	ranDownload := ""
	for _, w := range workers {
		if len(w.executions()["download"]) > 0 {
			ranDownload = w.id
		}
	}
	for _, w := range workers {
		ran := w.executions()
		onHost := (host == "host-a") == (w.id != "b1")
		for _, id := range sameHost {
			if len(ran[id]) > 0 && !onHost {
				t.Errorf("%s (requires host %s) ran on %s", id, host, w.id)
			}
		}
		for _, id := range sameProcess {
			if len(ran[id]) > 0 && w.id != ranDownload {
				t.Errorf("%s (requires the download's process on %s) ran on %s", id, ranDownload, w.id)
			}
		}
	}
}

// TestHostLostFailsRoutedTasksPromptly: the only worker of a host is killed -9 while tasks
// routed to that host wait; they fail with TargetWorkerLost within the liveness timeout
// plus a second (measured from the kill), and none runs on the other host. A new process
// that later uses the host name does not run them.
func TestHostLostFailsRoutedTasksPromptly(t *testing.T) {
	const liveness = 3 * time.Second
	s := startServer(t, "", "--matching-worker-liveness-timeout="+liveness.String())
	c := s.client()
	defer c.Close()
	ctx := context.Background()
	a := startWorker(t, s.addr, workerConfig{queue: "hosts", types: "sleep", slots: 1, id: "a1", node: "host-a"})
	b := startWorker(t, s.addr, workerConfig{queue: "hosts", types: "sleep", slots: 4, id: "b1", node: "host-b"})
	waitLive(t, c, "hosts", 2)

	// Host a's only slot is busy, so the next tasks for host a wait in the queue.
	onA := client.Capabilities{client.CapabilityHost: "host-a"}
	if _, err := c.AddTask(ctx, client.Task{ID: "busy", Queue: "hosts", Type: "sleep", Payload: []byte("1h"), Requires: onA}); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, "busy", client.StateStarted, 20*time.Second)
	var waiting []string
	for i := range 10 {
		id := fmt.Sprintf("upload-%d", i)
		waiting = append(waiting, id)
		if _, err := c.AddTask(ctx, client.Task{ID: id, Queue: "hosts", Type: "sleep", Payload: []byte("1ms"), Requires: onA}); err != nil {
			t.Fatal(err)
		}
	}
	killed := time.Now()
	a.kill()
	for _, id := range waiting {
		info := waitState(t, c, id, client.StateFailed, liveness+10*time.Second)
		if info.Failure == nil || info.Failure.ErrorType != "TargetWorkerLost" {
			t.Fatalf("%s failed with %+v, want TargetWorkerLost", id, info.Failure)
		}
	}
	took := time.Since(killed)
	t.Logf("tasks routed to the killed host failed %v after the kill (liveness timeout %v)", took, liveness)
	// The poll of waitState adds up to 20ms; the service's sweep runs every liveness/4.
	if took > liveness+time.Second+200*time.Millisecond {
		t.Errorf("routed tasks failed %v after the kill, want within the liveness timeout %v plus 1s", took, liveness)
	}
	// A new process with the host's name runs nothing of the old one's work.
	a2 := startWorker(t, s.addr, workerConfig{queue: "hosts", types: "sleep", slots: 4, id: "a2", node: "host-a"})
	waitLive(t, c, "hosts", 2)
	a2.terminate(10 * time.Second)
	b.terminate(10 * time.Second)
	for _, w := range []*workerProc{a2, b} {
		for _, id := range waiting {
			if len(w.executions()[id]) > 0 {
				t.Errorf("%s ran on %s after its host was lost", id, w.id)
			}
		}
	}
}

// waitLive waits (bounded) until queue lists n live workers.
func waitLive(t *testing.T, c *client.Client, queue string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if d, err := c.DescribeQueue(context.Background(), queue); err == nil && len(d.Pollers) == n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("queue %s did not list %d live workers", queue, n)
}
