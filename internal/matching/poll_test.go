package matching

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// TestPollThatCannotDeliverGivesTasksBack: a poll whose caller is already gone when tasks
// are handed to it (here: the context ended before the call; in production the deadline
// or a cancel races the wake-up) must not start them. Its answer would be dropped and the
// tasks would sit Started until their start-to-close timeout (10 minutes by default).
func TestPollThatCannotDeliverGivesTasksBack(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	add(t, v.e, tspec("backlog"))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := v.e.Poll(ctx, &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: "w", MaxTasks: 10})
	if status.Code(err) != codes.Canceled || len(got) != 0 {
		t.Fatalf("poll with a dead context: got %d tasks, err %v; want none and Canceled", len(got), err)
	}
	info, err := v.e.Get(context.Background(), "ns", "backlog", 0)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != matchingv1.TaskState_TASK_STATE_SCHEDULED || info.Attempt != 0 {
		t.Fatalf("after the undeliverable poll the task is %s attempt %d, want SCHEDULED attempt 0", info.State, info.Attempt)
	}
	again := pollN(t, v.e, "q", 10, 2*time.Second)
	if len(again) != 1 || again[0].TaskId != "backlog" || again[0].Attempt != 1 {
		t.Fatalf("next poll got %v, want the task at attempt 1", again)
	}
}
