package protocodec

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// addTasks is an AddTasksRequest of n tasks with every kind of field set.
func addTasks(n int) *matchingv1.AddTasksRequest {
	req := &matchingv1.AddTasksRequest{}
	for i := range n {
		req.Tasks = append(req.Tasks, &matchingv1.TaskSpec{
			Namespace: "default", Queue: "emails", Kind: matchingv1.TaskKind(1),
			TaskId: fmt.Sprintf("task-%06d", i), TaskType: "send", Payload: []byte(`{"to":"a@example.com","n":1}`),
			Priority: 2, StartToCloseTimeout: durationpb.New(30 * time.Second),
			RetryPolicy: &matchingv1.RetryPolicy{BackoffCoefficient: 2, MaximumAttempts: 5, NonRetryableErrorTypes: []string{"bad"}},
			Headers:     map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
			Requires:    []*matchingv1.Capability{{Name: "gpu"}},
			Prefers:     []*matchingv1.PreferredCapability{{Capability: &matchingv1.Capability{Name: "arch", Value: "arm64"}, Weight: 10}},
			FairnessKey: "tenant-a", FairnessWeight: 3,
		})
	}
	return req
}

// started is a WorkerStreamResponse pushing n started tasks.
func started(n int) *matchingv1.WorkerStreamResponse {
	resp := &matchingv1.WorkerStreamResponse{}
	now := timestamppb.New(time.Unix(1_790_000_000, 123))
	for i := range n {
		resp.Tasks = append(resp.Tasks, &matchingv1.Task{
			Namespace: "default", Queue: "emails", Kind: matchingv1.TaskKind(1),
			TaskId: fmt.Sprintf("task-%06d", i), TaskType: "send", Payload: []byte(`{"to":"a@example.com","n":1}`),
			Priority: 2, Attempt: 1, LeaseId: fmt.Sprintf("lease-%06d", i),
			ScheduledTime: now, StartedTime: now, StartToCloseTimeout: durationpb.New(30 * time.Second),
			Headers:     map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
			LastFailure: &matchingv1.Failure{Message: "boom", ErrorType: "io", Details: []byte{1, 2}},
			FairnessKey: "tenant-a",
		})
	}
	return resp
}

// streamMessages are one of each kind of message on a WorkerStream, both ways.
func streamMessages() map[string]proto.Message {
	return map[string]proto.Message{
		"open": &matchingv1.WorkerStreamRequest{Namespace: "default", Open: &matchingv1.PollTasksRequest{
			Namespace: "default", Queue: "emails", WorkerIdentity: "w-1", Pool: "p", Version: "v1", MaxTasks: 64,
			TaskTypes: []string{"send"}, Priorities: []int32{1, 2}, TasksPerSecond: 1.5,
			Capabilities: []*matchingv1.Capability{{Name: "gpu", Value: "a100"}}, MaxSessions: 2,
		}},
		"credits": &matchingv1.WorkerStreamRequest{Namespace: "default", Credits: 7},
		"completions": &matchingv1.WorkerStreamRequest{Namespace: "default", Seq: 9, Completions: []*matchingv1.CompleteTaskRequest{
			{Namespace: "default", TaskId: "t1", LeaseId: "l1", Result: []byte("ok"), WorkerIdentity: "w-1"},
		}},
		"failures": &matchingv1.WorkerStreamRequest{Namespace: "default", Seq: 10, Failures: []*matchingv1.FailTaskRequest{
			{Namespace: "default", TaskId: "t2", LeaseId: "l2", WorkerIdentity: "w-1",
				Failure: &matchingv1.Failure{Message: "boom", ErrorType: "io", NonRetryable: true, Details: []byte{0}}},
		}},
		"tasks": started(3),
		"acks": &matchingv1.WorkerStreamResponse{Acks: []*matchingv1.CompletionAck{
			{Seq: 9, Errors: []*matchingv1.ItemError{{}, {Code: 9, Message: "stale lease"}}, FailureErrors: []*matchingv1.ItemError{{Code: 5}}},
		}},
		"dispatch ended":   &matchingv1.WorkerStreamResponse{DispatchEnded: true},
		"accepts failures": &matchingv1.WorkerStreamResponse{AcceptsFailures: true},
	}
}
