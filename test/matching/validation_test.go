package matching

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
)

// TestInvalidRequestsGetTheRightCodes sends bad requests straight through the generated
// client (so the SDK's own checks do not hide the service's) and checks the gRPC code and
// that the message names the field. The service fuzzes its validation in depth; this
// proves the codes survive the whole path.
func TestInvalidRequestsGetTheRightCodes(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	rpc := c.Service()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	spec := func(mut func(*matchingv1.TaskSpec)) *matchingv1.AddTaskRequest {
		sp := &matchingv1.TaskSpec{Namespace: "e2e", Queue: "valid", TaskType: "echo"}
		mut(sp)
		return &matchingv1.AddTaskRequest{Task: sp}
	}
	check := func(name string, err error, code codes.Code, field string) {
		t.Helper()
		st := status.Convert(err)
		if st.Code() != code || !strings.Contains(strings.ToLower(st.Message()), field) {
			t.Errorf("%s: got %s %q; want %s naming %q", name, st.Code(), st.Message(), code, field)
		}
	}
	add := func(r *matchingv1.AddTaskRequest) error { _, err := rpc.AddTask(ctx, r); return err }

	check("empty queue", add(spec(func(s *matchingv1.TaskSpec) { s.Queue = "" })), codes.InvalidArgument, "queue")
	check("oversized queue", add(spec(func(s *matchingv1.TaskSpec) { s.Queue = strings.Repeat("q", 300) })), codes.InvalidArgument, "queue")
	check("bad queue chars", add(spec(func(s *matchingv1.TaskSpec) { s.Queue = "a b/c" })), codes.InvalidArgument, "queue")
	check("oversized id", add(spec(func(s *matchingv1.TaskSpec) { s.TaskId = strings.Repeat("i", 300) })), codes.InvalidArgument, "task_id")
	check("empty type", add(spec(func(s *matchingv1.TaskSpec) { s.TaskType = "" })), codes.InvalidArgument, "task_type")
	check("bad priority", add(spec(func(s *matchingv1.TaskSpec) { s.Priority = 99 })), codes.InvalidArgument, "priority")
	check("negative priority", add(spec(func(s *matchingv1.TaskSpec) { s.Priority = -1 })), codes.InvalidArgument, "priority")
	check("negative timeout", add(spec(func(s *matchingv1.TaskSpec) {
		s.StartToCloseTimeout = durationpb.New(-time.Second)
	})), codes.InvalidArgument, "start_to_close_timeout")
	check("oversized payload", add(spec(func(s *matchingv1.TaskSpec) { s.Payload = make([]byte, 3<<20) })), codes.InvalidArgument, "payload")

	_, err := rpc.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{
		{Namespace: "e2e", Queue: "valid", TaskType: "echo"},
		{Namespace: "e2e", Queue: "valid", TaskType: "echo", Priority: 42},
	}})
	check("batch with a bad item", err, codes.InvalidArgument, "priority")
	if st := status.Convert(err); !strings.Contains(st.Message(), "1") {
		t.Errorf("batch error %q does not name the index", st.Message())
	}

	_, err = rpc.GetTask(ctx, &matchingv1.GetTaskRequest{Namespace: "e2e", TaskId: "no-such-task"})
	check("unknown id", err, codes.NotFound, "no-such-task")
	_, err = rpc.CancelTask(ctx, &matchingv1.CancelTaskRequest{Namespace: "e2e", TaskId: "no-such-task"})
	check("cancel unknown id", err, codes.NotFound, "no-such-task")
	_, err = rpc.PollTasks(ctx, &matchingv1.PollTasksRequest{Namespace: "e2e", Queue: "valid", WorkerIdentity: "w", MaxTasks: 0})
	check("poll with no slots", err, codes.InvalidArgument, "max_tasks")

	// A stale lease: take a task, then complete it with a wrong lease, then twice.
	if _, err := c.AddTask(ctx, client.Task{ID: "lease-1", Queue: "valid", Type: "echo"}); err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
	resp, err := rpc.PollTasks(pctx, &matchingv1.PollTasksRequest{Namespace: "e2e", Queue: "valid", WorkerIdentity: "w", MaxTasks: 1, TaskTypes: []string{"echo"}})
	pcancel()
	if err != nil || len(resp.GetTasks()) != 1 {
		t.Fatalf("poll: %v %v", resp, err)
	}
	task := resp.GetTasks()[0]
	_, err = rpc.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: "e2e", TaskId: task.GetTaskId(), LeaseId: "forged"})
	check("wrong lease", err, codes.FailedPrecondition, "lease")
	if _, err := rpc.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: "e2e", TaskId: task.GetTaskId(), LeaseId: task.GetLeaseId(), Result: []byte("ok")}); err != nil {
		t.Fatalf("complete with the right lease: %v", err)
	}
	_, err = rpc.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: "e2e", TaskId: task.GetTaskId(), LeaseId: task.GetLeaseId()})
	check("second completion", err, codes.FailedPrecondition, "lease")
	info, err := c.GetTask(ctx, "lease-1")
	if err != nil || info.State != client.StateCompleted || string(info.Result) != "ok" {
		t.Errorf("after the refused completions: %+v %v", info, err)
	}

	// The SDK rejects the obvious before sending, with the same code.
	_, err = c.AddTask(ctx, client.Task{Type: "echo"})
	check("SDK: no queue", err, codes.InvalidArgument, "queue")
}
