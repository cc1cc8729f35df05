package server_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// A worker that only sends liveness heartbeats (all its slots busy) is listed with its
// capabilities until the liveness timeout passes without one (stepped clock), and then it
// no longer makes its tasks routable.
func TestLivenessHeartbeatsKeepAWorkerListed(t *testing.T) {
	clk := clock.NewFake(time.Now())
	addr, _ := testserver.Start(t, testserver.Options{Engine: matching.Options{Clock: clk, WorkerLivenessTimeout: 10 * time.Second}})
	c := dial(t, addr)
	beat := func() *matchingv1.RecordWorkerHeartbeatResponse {
		t.Helper()
		resp, err := c.RecordWorkerHeartbeat(ctxT(t, 5*time.Second), &matchingv1.RecordWorkerHeartbeatRequest{
			Namespace: "default", Queue: "q1", WorkerIdentity: "busy-gpu-worker", Capabilities: gpuA100})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if got := beat().Interval.AsDuration(); got != 10*time.Second/3 {
		t.Fatalf("heartbeat interval = %v, want a third of the liveness timeout", got)
	}
	addRouted(t, c, "gpu", 1, anyGPU)
	describe := func() *matchingv1.DescribeQueueResponse {
		d, err := c.DescribeQueue(ctxT(t, 5*time.Second), &matchingv1.DescribeQueueRequest{Namespace: "default", Queue: "q1"})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := describe(); len(d.Pollers) != 1 || len(d.Pollers[0].Capabilities) == 0 || !d.Backlog[0].Routable {
		t.Fatalf("after a heartbeat: pollers %v, backlog %v", d.Pollers, d.Backlog)
	}
	clk.Advance(9 * time.Second)
	beat()
	clk.Advance(9 * time.Second)
	if d := describe(); len(d.Pollers) != 1 {
		t.Fatalf("9s after its last heartbeat the worker is not listed: %v", d.Pollers)
	}
	clk.Advance(2 * time.Second)
	if d := describe(); len(d.Pollers) != 0 || d.Backlog[0].Routable {
		t.Fatalf("11s after its last heartbeat: pollers %v, backlog %v; want gone and unroutable", d.Pollers, d.Backlog)
	}

	_, err := c.RecordWorkerHeartbeat(ctxT(t, 5*time.Second), &matchingv1.RecordWorkerHeartbeatRequest{
		Namespace: "default", Queue: "q1", WorkerIdentity: "w", Capabilities: []*matchingv1.Capability{{Name: "gpu", Value: "a 100"}}})
	if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "capabilities[0].value:") {
		t.Fatalf("heartbeat with a bad capability: %v", err)
	}
	_, err = c.RecordWorkerHeartbeat(ctxT(t, 5*time.Second), &matchingv1.RecordWorkerHeartbeatRequest{Namespace: "default", Queue: "q1"})
	if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "worker_identity:") {
		t.Fatalf("heartbeat without an identity: %v", err)
	}
}

// DescribeQueue counts the attempts running now: started by polls, ended by completion,
// failure (retry) or release.
func TestDescribeCountsRunningTasks(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	ctx := ctxT(t, 10*time.Second)
	for _, id := range []string{"a", "b", "c"} {
		if _, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec(id)}); err != nil {
			t.Fatal(err)
		}
	}
	running := func() int64 {
		t.Helper()
		d, err := c.DescribeQueue(ctx, &matchingv1.DescribeQueueRequest{Namespace: "default", Queue: "q1"})
		if err != nil {
			t.Fatal(err)
		}
		return d.RunningTasks
	}
	got := poll(t, c, "q1", 3, 5*time.Second)
	if len(got) != 3 || running() != 3 {
		t.Fatalf("polled %d, running %d; want 3 and 3", len(got), running())
	}
	if _, err := c.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: "default", TaskId: got[0].TaskId, LeaseId: got[0].LeaseId}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FailTask(ctx, &matchingv1.FailTaskRequest{Namespace: "default", TaskId: got[1].TaskId, LeaseId: got[1].LeaseId,
		Failure: &matchingv1.Failure{Message: "retry me"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReleaseTask(ctx, &matchingv1.ReleaseTaskRequest{Namespace: "default", TaskId: got[2].TaskId, LeaseId: got[2].LeaseId}); err != nil {
		t.Fatal(err)
	}
	if n := running(); n != 0 {
		t.Fatalf("running after complete, fail and release = %d, want 0", n)
	}
}
