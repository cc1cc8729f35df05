package server_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// A failed attempt is retried at its first place in the backlog: once its backoff is over,
// it is dispatched before the tasks that were added after it, not after the whole backlog.
func TestRetryKeepsItsPlaceInTheBacklog(t *testing.T) {
	clk := clock.NewFake(time.Now())
	addr, _ := testserver.Start(t, testserver.Options{Engine: matching.Options{Clock: clk}})
	c := dial(t, addr)
	ctx := ctxT(t, 30*time.Second)

	const n = 200
	specs := make([]*matchingv1.TaskSpec, n)
	for i := range specs {
		specs[i] = spec(fmt.Sprintf("t%03d", i))
		specs[i].RetryPolicy = &matchingv1.RetryPolicy{InitialInterval: durationpb.New(time.Second)}
	}
	if _, err := c.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: specs}); err != nil {
		t.Fatal(err)
	}
	first := poll(t, c, "q1", 1, 5*time.Second)
	if len(first) != 1 || first[0].TaskId != "t000" {
		t.Fatalf("first poll = %v, want t000", first)
	}
	if _, err := c.FailTask(ctx, &matchingv1.FailTaskRequest{Namespace: "default", TaskId: "t000", LeaseId: first[0].LeaseId,
		Failure: &matchingv1.Failure{Message: "flaky", ErrorType: "Flaky"}}); err != nil {
		t.Fatal(err)
	}
	// Two more tasks go out while t000 waits for its backoff.
	if got := poll(t, c, "q1", 2, 5*time.Second); len(got) != 2 || got[0].TaskId != "t001" {
		t.Fatalf("second poll = %v, want t001 and t002", got)
	}
	clk.Advance(time.Second) // the backoff is over: the timer makes t000 ready again
	waitBacklog(t, c, n-2)
	got := poll(t, c, "q1", 1, 5*time.Second)
	if len(got) != 1 || got[0].TaskId != "t000" || got[0].Attempt != 2 {
		t.Fatalf("poll after the backoff = %v, want attempt 2 of t000 before the %d newer tasks", got, n-3)
	}
}

// waitBacklog waits (bounded) until the queue q1 reports want waiting tasks.
func waitBacklog(t *testing.T, c matchingv1.MatchingServiceClient, want int64) {
	t.Helper()
	waitDescribe(t, c, fmt.Sprintf("a backlog of %d", want), func(d *matchingv1.DescribeQueueResponse) bool {
		var got int64
		for _, b := range d.Backlog {
			got += b.Count
		}
		return got == want
	})
}

// waitDescribe waits (bounded) until DescribeQueue of q1 satisfies ok.
func waitDescribe(t *testing.T, c matchingv1.MatchingServiceClient, what string, ok func(*matchingv1.DescribeQueueResponse) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := c.DescribeQueue(ctxT(t, 5*time.Second), &matchingv1.DescribeQueueRequest{Namespace: "default", Queue: "q1"})
		if err != nil {
			t.Fatal(err)
		}
		if ok(d) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue q1 did not reach %s: %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
