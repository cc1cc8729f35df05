package server_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

func failure(tk *matchingv1.Task, lease string) *matchingv1.FailTaskRequest {
	return &matchingv1.FailTaskRequest{Namespace: "default", TaskId: tk.TaskId, LeaseId: lease, WorkerIdentity: "w1",
		Failure: &matchingv1.Failure{Message: "broke", ErrorType: "E"}}
}

// recvAck receives until an acknowledgement comes.
func recvAck(t *testing.T, s matchingv1.MatchingService_WorkerStreamClient) *matchingv1.CompletionAck {
	t.Helper()
	for {
		m, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.GetAcks()) > 0 {
			return m.GetAcks()[0]
		}
	}
}

// TestWorkerStreamRecordsFailures: the service says at once that it takes failures on the
// stream, records them as FailTask does (the task is scheduled for its retry when the ack
// arrives) and acknowledges each by seq, one failure_errors entry per failure: a stale
// lease gets FailedPrecondition there without breaking the stream.
func TestWorkerStreamRecordsFailures(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	ctx := ctxT(t, 20*time.Second)
	s := openStream(t, c, 1)
	m, err := s.Recv()
	if err != nil || !m.GetAcceptsFailures() {
		t.Fatalf("first message %v, %v; want accepts_failures", m, err)
	}
	if _, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec("f")}); err != nil {
		t.Fatal(err)
	}
	tk := recvTasks(t, s, 1)[0]
	msg := &matchingv1.WorkerStreamRequest{Namespace: "default", Seq: 3, Failures: []*matchingv1.FailTaskRequest{failure(tk, tk.LeaseId), failure(tk, "stale")}}
	if err := s.Send(msg); err != nil {
		t.Fatal(err)
	}
	ack := recvAck(t, s)
	fe := ack.GetFailureErrors()
	if ack.GetSeq() != 3 || len(ack.GetErrors()) != 0 || len(fe) != 2 || fe[0].GetCode() != 0 || codes.Code(fe[1].GetCode()) != codes.FailedPrecondition {
		t.Fatalf("ack %v; want seq 3, failure_errors [OK, FailedPrecondition]", ack)
	}
	got, err := c.GetTask(ctx, &matchingv1.GetTaskRequest{Namespace: "default", TaskId: "f"})
	if err != nil {
		t.Fatal(err)
	}
	if st := got.GetTask().GetState(); st != matchingv1.TaskState_TASK_STATE_SCHEDULED || got.GetTask().GetFailure().GetMessage() != "broke" {
		t.Fatalf("task after the ack: %v; want scheduled for a retry, carrying the failure", got.GetTask())
	}
}
