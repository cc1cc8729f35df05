package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

func openStream(t *testing.T, c matchingv1.MatchingServiceClient, credits int32) matchingv1.MatchingService_WorkerStreamClient {
	t.Helper()
	s, err := c.WorkerStream(ctxT(t, 20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	open := &matchingv1.PollTasksRequest{Namespace: "default", Queue: "q1", WorkerIdentity: "w1", MaxTasks: credits}
	if err := s.Send(&matchingv1.WorkerStreamRequest{Namespace: "default", Open: open}); err != nil {
		t.Fatal(err)
	}
	return s
}

// recvTasks receives until n tasks came; acks and other messages before them fail the test.
func recvTasks(t *testing.T, s matchingv1.MatchingService_WorkerStreamClient, n int) []*matchingv1.Task {
	t.Helper()
	var got []*matchingv1.Task
	for len(got) < n {
		m, err := s.Recv()
		if err != nil {
			t.Fatalf("after %d of %d tasks: %v", len(got), n, err)
		}
		got = append(got, m.GetTasks()...)
	}
	if len(got) != n {
		t.Fatalf("got %d tasks; want %d (more than the credits)", len(got), n)
	}
	return got
}

func complete(tasks []*matchingv1.Task) []*matchingv1.CompleteTaskRequest {
	out := make([]*matchingv1.CompleteTaskRequest, len(tasks))
	for i, tk := range tasks {
		out[i] = &matchingv1.CompleteTaskRequest{Namespace: "default", TaskId: tk.TaskId, LeaseId: tk.LeaseId, WorkerIdentity: "w1", Result: []byte("r")}
	}
	return out
}

// TestWorkerStreamPushesUpToCreditsAndAcksDurableCompletions: the service pushes no more
// tasks than the credits granted, more as credits come, and acknowledges completions by
// seq once they are durable (GetTask shows them completed when the ack arrives).
func TestWorkerStreamPushesUpToCreditsAndAcksDurableCompletions(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	ctx := ctxT(t, 20*time.Second)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		if _, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec(id)}); err != nil {
			t.Fatal(err)
		}
	}
	s := openStream(t, c, 2)
	first := recvTasks(t, s, 2)
	if err := s.Send(&matchingv1.WorkerStreamRequest{Namespace: "default", Credits: 1, Seq: 7, Completions: complete(first)}); err != nil {
		t.Fatal(err)
	}
	var acks []*matchingv1.CompletionAck
	var third []*matchingv1.Task
	for len(acks) == 0 || len(third) == 0 {
		m, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, m.GetAcks()...)
		third = append(third, m.GetTasks()...)
	}
	if len(third) != 1 || len(acks) != 1 || acks[0].GetSeq() != 7 || len(acks[0].GetErrors()) != 2 {
		t.Fatalf("after 1 credit and 2 completions: tasks %d, acks %v", len(third), acks)
	}
	for i, e := range acks[0].GetErrors() {
		if e.GetCode() != 0 {
			t.Errorf("completion %d: %v", i, e)
		}
		info, err := c.GetTask(ctx, &matchingv1.GetTaskRequest{Namespace: "default", TaskId: first[i].TaskId})
		if err != nil || info.Task.State != matchingv1.TaskState_TASK_STATE_COMPLETED {
			t.Errorf("%s after its ack: %v %v", first[i].TaskId, info, err)
		}
	}
	// Three credits were granted and used: the other two tasks wait in the backlog.
	d, err := c.DescribeQueue(ctx, &matchingv1.DescribeQueueRequest{Namespace: "default", Queue: "q1"})
	if err != nil {
		t.Fatal(err)
	}
	var backlog int64
	for _, b := range d.GetBacklog() {
		backlog += b.GetCount()
	}
	if backlog != 2 {
		t.Errorf("backlog %d; want 2 (the stream may hold only its credits)", backlog)
	}
	// A completion sent again after its ack is refused as stale, not recorded twice.
	_, err = c.CompleteTask(ctx, complete(first[:1])[0])
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("repeated completion: %v; want FailedPrecondition", err)
	}
}

// TestWorkerStreamShutdownEndsDispatchButKeepsAcking: ShutdownWorker ends the stream's
// dispatch (dispatch_ended) while completions of running tasks are still acknowledged.
func TestWorkerStreamShutdownEndsDispatchButKeepsAcking(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	ctx := ctxT(t, 20*time.Second)
	if _, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec("a")}); err != nil {
		t.Fatal(err)
	}
	s := openStream(t, c, 10)
	got := recvTasks(t, s, 1)
	if _, err := c.ShutdownWorker(ctx, &matchingv1.ShutdownWorkerRequest{Namespace: "default", Queue: "q1", WorkerIdentity: "w1"}); err != nil {
		t.Fatal(err)
	}
	m, err := s.Recv()
	if err != nil || !m.GetDispatchEnded() {
		t.Fatalf("after ShutdownWorker: %v %v; want dispatch_ended", m, err)
	}
	if err := s.Send(&matchingv1.WorkerStreamRequest{Namespace: "default", Seq: 1, Completions: complete(got)}); err != nil {
		t.Fatal(err)
	}
	m, err = s.Recv()
	if err != nil || len(m.GetAcks()) != 1 || m.GetAcks()[0].GetErrors()[0].GetCode() != 0 {
		t.Fatalf("ack after dispatch ended: %v %v", m, err)
	}
	if err := s.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Recv(); err == nil {
		t.Fatalf("stream still open after CloseSend: %v", m)
	}
}

// TestWorkerStreamRejectsBadMessages: each malformed message ends the stream with
// InvalidArgument naming the field.
func TestWorkerStreamRejectsBadMessages(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	okOpen := func() *matchingv1.PollTasksRequest {
		return &matchingv1.PollTasksRequest{Namespace: "default", Queue: "q1", WorkerIdentity: "w1", MaxTasks: 1}
	}
	cases := []struct {
		name  string
		msgs  []*matchingv1.WorkerStreamRequest
		field string
	}{
		{"no open", []*matchingv1.WorkerStreamRequest{{Namespace: "default", Credits: 1}}, "open:"},
		{"open invalid", []*matchingv1.WorkerStreamRequest{{Namespace: "default", Open: &matchingv1.PollTasksRequest{Namespace: "default", Queue: "q1", WorkerIdentity: "w1"}}}, "open.max_tasks:"},
		{"namespace differs", []*matchingv1.WorkerStreamRequest{{Namespace: "other", Open: okOpen()}}, "namespace:"},
		{"negative credits", []*matchingv1.WorkerStreamRequest{{Namespace: "default", Open: okOpen()}, {Namespace: "default", Credits: -1}}, "credits:"},
		{"too many credits", []*matchingv1.WorkerStreamRequest{{Namespace: "default", Open: okOpen()}, {Namespace: "default", Credits: 1001}}, "credits:"},
		{"open twice", []*matchingv1.WorkerStreamRequest{{Namespace: "default", Open: okOpen()}, {Namespace: "default", Open: okOpen()}}, "open:"},
		{"completions without seq", []*matchingv1.WorkerStreamRequest{{Namespace: "default", Open: okOpen()}, {Namespace: "default", Completions: []*matchingv1.CompleteTaskRequest{{Namespace: "default", TaskId: "t", LeaseId: "1", WorkerIdentity: "w1"}}}}, "seq:"},
		{"bad completion", []*matchingv1.WorkerStreamRequest{{Namespace: "default", Open: okOpen()}, {Namespace: "default", Seq: 1, Completions: []*matchingv1.CompleteTaskRequest{{Namespace: "default", WorkerIdentity: "w1"}}}}, "completions[0].task_id:"},
		{"failures without seq", []*matchingv1.WorkerStreamRequest{{Namespace: "default", Open: okOpen()}, {Namespace: "default", Failures: []*matchingv1.FailTaskRequest{{Namespace: "default", TaskId: "t", LeaseId: "1", WorkerIdentity: "w1"}}}}, "seq:"},
		{"bad failure", []*matchingv1.WorkerStreamRequest{{Namespace: "default", Open: okOpen()}, {Namespace: "default", Seq: 1, Failures: []*matchingv1.FailTaskRequest{{Namespace: "default", TaskId: "t", WorkerIdentity: "w1"}}}}, "failures[0].lease_id:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := c.WorkerStream(ctxT(t, 10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range tc.msgs {
				_ = s.Send(m) // the stream may already be ended: Recv tells why
			}
			for err == nil { // past accepts_failures, sent once the stream is open
				_, err = s.Recv()
			}
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.field) {
				t.Fatalf("got %v; want InvalidArgument naming %q", err, tc.field)
			}
		})
	}
}

// TestWorkerStreamBrokenHoldsNoCredit: a stream that goes away returns what it held
// (a pushed task stays with its lease; the rest of the backlog goes to the next worker).
func TestWorkerStreamBrokenHoldsNoCredit(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	ctx := ctxT(t, 20*time.Second)
	sctx, cancel := context.WithCancel(ctx)
	s, err := c.WorkerStream(sctx)
	if err != nil {
		t.Fatal(err)
	}
	open := &matchingv1.PollTasksRequest{Namespace: "default", Queue: "q1", WorkerIdentity: "w1", MaxTasks: 5}
	if err := s.Send(&matchingv1.WorkerStreamRequest{Namespace: "default", Open: open}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec("a")}); err != nil {
		t.Fatal(err)
	}
	pushed := recvTasks(t, s, 1)
	cancel()
	if _, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec("b")}); err != nil {
		t.Fatal(err)
	}
	got := poll(t, c, "q1", 5, 5*time.Second)
	if len(got) != 1 || got[0].TaskId != "b" {
		t.Fatalf("next poll got %v; want b only (a is pushed and leased)", got)
	}
	info, err := c.GetTask(ctx, &matchingv1.GetTaskRequest{Namespace: "default", TaskId: pushed[0].TaskId})
	if err != nil || info.Task.State != matchingv1.TaskState_TASK_STATE_STARTED {
		t.Fatalf("pushed task after the stream broke: %v %v; want Started until its lease runs out", info, err)
	}
}
