package server_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

var (
	gpuA100 = []*matchingv1.Capability{{Name: "gpu", Value: "a100"}}
	anyGPU  = []*matchingv1.Capability{{Name: "gpu"}}
)

func pollAs(t *testing.T, c matchingv1.MatchingServiceClient, identity string, caps []*matchingv1.Capability, max int32, wait time.Duration) []*matchingv1.Task {
	t.Helper()
	resp, err := c.PollTasks(ctxT(t, wait), &matchingv1.PollTasksRequest{Namespace: "default", Queue: "q1",
		WorkerIdentity: identity, MaxTasks: max, Capabilities: caps})
	if err != nil {
		t.Fatalf("poll as %s: %v", identity, err)
	}
	return resp.Tasks
}

func addRouted(t *testing.T, c matchingv1.MatchingServiceClient, prefix string, n int, requires []*matchingv1.Capability) {
	t.Helper()
	specs := make([]*matchingv1.TaskSpec, n)
	for i := range specs {
		specs[i] = spec(fmt.Sprintf("%s%02d", prefix, i))
		specs[i].Requires = requires
	}
	if _, err := c.AddTasks(ctxT(t, 10*time.Second), &matchingv1.AddTasksRequest{Tasks: specs}); err != nil {
		t.Fatal(err)
	}
}

// Tasks that require a capability go only to pollers that have it, and tasks no connected
// poller can serve do not hold up the others (they wait in their own partition).
func TestCapabilityRoutingFromTheBacklog(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	addRouted(t, c, "gpu", 20, anyGPU) // first in the queue
	addRouted(t, c, "cpu", 20, nil)

	got := pollAs(t, c, "cpu-worker", nil, 50, 2*time.Second)
	if len(got) != 20 {
		t.Fatalf("CPU worker got %d tasks, want the 20 plain ones", len(got))
	}
	for _, tk := range got {
		if !strings.HasPrefix(tk.TaskId, "cpu") {
			t.Fatalf("CPU worker got %s, which requires a GPU", tk.TaskId)
		}
	}
	// A requirement without a value is met by the capability with any value.
	if got := pollAs(t, c, "t4-worker", []*matchingv1.Capability{{Name: "gpu", Value: "t4"}}, 50, 2*time.Second); len(got) != 20 {
		t.Fatalf("a gpu=t4 worker got %d of the 20 tasks requiring any gpu", len(got))
	}
}

func TestCapabilityValueMustMatch(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	addRouted(t, c, "a100-", 5, gpuA100)
	addRouted(t, c, "any-", 5, anyGPU)

	t4 := pollAs(t, c, "t4-worker", []*matchingv1.Capability{{Name: "gpu", Value: "t4"}}, 20, 2*time.Second)
	if len(t4) != 5 {
		t.Fatalf("gpu=t4 worker got %d tasks, want the 5 that require any gpu", len(t4))
	}
	for _, tk := range t4 {
		if !strings.HasPrefix(tk.TaskId, "any-") {
			t.Fatalf("gpu=t4 worker got %s, which requires gpu=a100", tk.TaskId)
		}
	}
	a100 := pollAs(t, c, "a100-worker", []*matchingv1.Capability{{Name: "gpu", Value: "a100"}, {Name: "arch", Value: "amd64"}}, 20, 2*time.Second)
	if len(a100) != 5 {
		t.Fatalf("gpu=a100 worker got %d tasks, want 5", len(a100))
	}
}

// A waiting poll gets a task it can serve at once (sync match), and a waiting poll that
// cannot serve it does not.
func TestCapabilitySyncMatch(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	cpu := make(chan []*matchingv1.Task, 1)
	go func() { cpu <- pollAs(t, c, "cpu-worker", nil, 1, 3*time.Second) }()
	waitPollers(t, c, 1)
	gpu := make(chan []*matchingv1.Task, 1)
	go func() { gpu <- pollAs(t, c, "gpu-worker", gpuA100, 1, 10*time.Second) }()
	waitPollers(t, c, 2)

	addRouted(t, c, "gpu", 1, anyGPU)
	select {
	case got := <-gpu:
		if len(got) != 1 || got[0].TaskId != "gpu00" {
			t.Fatalf("GPU poll got %v", got)
		}
	case got := <-cpu:
		t.Fatalf("the CPU poll returned first, with %v", got)
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting GPU poll did not get the task")
	}
	if got := <-cpu; len(got) != 0 {
		t.Fatalf("CPU poll got %v", got)
	}
}

// DescribeQueue shows the backlog per requirement set and whether a live poller can serve
// it, naming the requirements no poller meets.
func TestDescribeShowsUnroutableBacklog(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	addRouted(t, c, "gpu", 3, []*matchingv1.Capability{{Name: "gpu", Value: "a100"}, {Name: "arch", Value: "arm64"}})
	addRouted(t, c, "cpu", 2, nil)
	pollAs(t, c, "arm-worker", []*matchingv1.Capability{{Name: "arch", Value: "arm64"}}, 1, 2*time.Second) // takes a plain task

	d, err := c.DescribeQueue(ctxT(t, 5*time.Second), &matchingv1.DescribeQueueRequest{Namespace: "default", Queue: "q1"})
	if err != nil {
		t.Fatal(err)
	}
	var routed, plain *matchingv1.BacklogStats
	for _, b := range d.Backlog {
		if len(b.Requires) > 0 {
			routed = b
		} else {
			plain = b
		}
	}
	if plain == nil || plain.Count != 1 || !plain.Routable {
		t.Fatalf("plain backlog = %v", plain)
	}
	if routed == nil || routed.Count != 3 || routed.Routable {
		t.Fatalf("GPU backlog = %v, want 3 tasks, not routable", routed)
	}
	if len(routed.Unmet) != 1 || routed.Unmet[0].Name != "gpu" || routed.Unmet[0].Value != "a100" {
		t.Fatalf("unmet = %v, want gpu=a100", routed.Unmet)
	}
	if len(d.Pollers) != 1 || len(d.Pollers[0].Capabilities) != 1 {
		t.Fatalf("pollers = %v", d.Pollers)
	}
}

// Routed tasks survive a restart: a capable worker finds them in their partition.
func TestRoutedBacklogSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	svc := testserver.StartService(t, testserver.Options{DataDir: dir})
	c := dial(t, svc.Addr())
	addRouted(t, c, "gpu", 5, anyGPU)
	svc.Stop()

	addr, _ := testserver.Start(t, testserver.Options{DataDir: dir})
	c = dial(t, addr)
	if got := pollAs(t, c, "cpu-worker", nil, 10, 2*time.Second); len(got) != 0 {
		t.Fatalf("CPU worker got %d GPU tasks after restart", len(got))
	}
	if got := pollAs(t, c, "gpu-worker", gpuA100, 10, 2*time.Second); len(got) != 5 {
		t.Fatalf("GPU worker got %d tasks after restart, want 5", len(got))
	}
}

func TestRoutingValidationNamesTheField(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	many := make([]*matchingv1.Capability, 17)
	for i := range many {
		many[i] = &matchingv1.Capability{Name: fmt.Sprintf("c%d", i)}
	}
	cases := []struct {
		requires []*matchingv1.Capability
		want     string
	}{
		{[]*matchingv1.Capability{{Name: ""}}, "task.requires[0].name"},
		{[]*matchingv1.Capability{{Name: "-gpu"}}, "task.requires[0].name"},
		{[]*matchingv1.Capability{{Name: "Example.com/gpu"}}, "task.requires[0].name"},
		{[]*matchingv1.Capability{{Name: "gpu", Value: "a 100"}}, "task.requires[0].value"},
		{[]*matchingv1.Capability{{Name: "gpu"}, {Name: "gpu", Value: "a100"}}, "task.requires[1].name"},
		{many, "task.requires"},
	}
	for _, tc := range cases {
		s := spec("bad")
		s.Requires = tc.requires
		_, err := c.AddTask(ctxT(t, 5*time.Second), &matchingv1.AddTaskRequest{Task: s})
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), tc.want+":") {
			t.Errorf("requires %v: %v, want InvalidArgument naming %s", tc.requires, err, tc.want)
		}
	}
	checkPreferenceValidation(t, c)
	_, err := c.PollTasks(ctxT(t, 5*time.Second), &matchingv1.PollTasksRequest{Namespace: "default", Queue: "q1", WorkerIdentity: "w", MaxTasks: 1,
		Capabilities: []*matchingv1.Capability{{Name: "gpu", Value: "bad/value"}}})
	if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "capabilities[0].value:") {
		t.Errorf("poll with a bad capability: %v", err)
	}
	if _, err := c.AddTask(context.Background(), &matchingv1.AddTaskRequest{Task: func() *matchingv1.TaskSpec {
		s := spec("good")
		s.Requires = []*matchingv1.Capability{{Name: "example.com/fpga"}, {Name: "gpu", Value: "a100"}}
		return s
	}()}); err != nil {
		t.Errorf("valid requirements refused: %v", err)
	}
}

// waitPollers waits (bounded) until q1 lists n pollers.
func waitPollers(t *testing.T, c matchingv1.MatchingServiceClient, n int) {
	t.Helper()
	waitDescribe(t, c, fmt.Sprintf("%d pollers", n), func(d *matchingv1.DescribeQueueResponse) bool { return len(d.Pollers) >= n })
}
