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

// TestSessionValidationNamesTheField: bad session requests over gRPC get InvalidArgument
// naming the field; unknown sessions NotFound; a task of a session on another kind or
// requiring another process InvalidArgument naming the field.
func TestSessionValidationNamesTheField(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	ctx := ctxT(t, 20*time.Second)
	wantErr := func(name string, err error, code codes.Code, prefix string) {
		t.Helper()
		if status.Code(err) != code || !strings.HasPrefix(status.Convert(err).Message(), prefix) {
			t.Errorf("%s: %v, want %s starting %q", name, err, code, prefix)
		}
	}
	_, err := c.CreateSession(ctx, &matchingv1.CreateSessionRequest{Namespace: "default", Queue: "a b"})
	wantErr("bad queue", err, codes.InvalidArgument, "queue:")
	_, err = c.CreateSession(ctx, &matchingv1.CreateSessionRequest{Namespace: "default", Queue: "q1", Kind: 9})
	wantErr("bad kind", err, codes.InvalidArgument, "kind:")
	_, err = c.CreateSession(ctx, &matchingv1.CreateSessionRequest{Namespace: "default", Queue: "q1", SessionId: strings.Repeat("s", 300)})
	wantErr("long id", err, codes.InvalidArgument, "session_id:")
	_, err = c.CreateSession(ctx, &matchingv1.CreateSessionRequest{Namespace: "default", Queue: "q1", Requires: []*matchingv1.Capability{{Name: "-x"}}})
	wantErr("bad requirement", err, codes.InvalidArgument, "requires[0].name:")
	_, err = c.GetSession(ctx, &matchingv1.GetSessionRequest{Namespace: "default"})
	wantErr("empty id", err, codes.InvalidArgument, "session_id:")
	_, err = c.CompleteSession(ctx, &matchingv1.CompleteSessionRequest{Namespace: "default", SessionId: "nope"})
	wantErr("unknown id", err, codes.NotFound, "session nope not found")
	_, err = c.PollTasks(ctx, &matchingv1.PollTasksRequest{Namespace: "default", Queue: "q1", WorkerIdentity: "w", MaxTasks: 1, MaxSessions: -1})
	wantErr("negative slots", err, codes.InvalidArgument, "max_sessions:")
	_, err = c.RecordWorkerHeartbeat(ctx, &matchingv1.RecordWorkerHeartbeatRequest{Namespace: "default", Queue: "q1", WorkerIdentity: "w", MaxSessions: 10001})
	wantErr("too many slots", err, codes.InvalidArgument, "max_sessions:")

	_, err = c.CreateSession(ctx, &matchingv1.CreateSessionRequest{Namespace: "default", Queue: "q1"})
	wantErr("no worker", err, codes.ResourceExhausted, "no live worker")
	if _, err := c.RecordWorkerHeartbeat(ctx, &matchingv1.RecordWorkerHeartbeatRequest{Namespace: "default", Queue: "q1", WorkerIdentity: "w",
		MaxSessions: 1, Capabilities: []*matchingv1.Capability{{Name: "taskroute.dev/process", Value: "p1"}}}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.CreateSession(ctx, &matchingv1.CreateSessionRequest{Namespace: "default", Queue: "q1", SessionId: "s1"})
	if err != nil || !resp.GetCreated() || resp.GetSession().GetWorkerProcess() != "p1" {
		t.Fatalf("CreateSession = %v, %v", resp, err)
	}
	again, err := c.CreateSession(ctx, &matchingv1.CreateSessionRequest{Namespace: "default", Queue: "q1", SessionId: "s1"})
	if err != nil || again.GetCreated() || again.GetSession().GetSessionId() != "s1" {
		t.Fatalf("creating s1 again = %v, %v", again, err)
	}
	s := spec("wf")
	s.SessionId, s.Kind = "s1", matchingv1.TaskKind_TASK_KIND_WORKFLOW
	_, err = c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: s})
	wantErr("other kind", err, codes.InvalidArgument, "task.session_id:")
	s = spec("elsewhere")
	s.SessionId, s.Requires = "s1", []*matchingv1.Capability{{Name: "taskroute.dev/process", Value: "p2"}}
	_, err = c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: s})
	wantErr("other process", err, codes.InvalidArgument, "task.requires:")
	s = spec("ok")
	s.SessionId = "s1"
	if _, err := c.AddTask(context.Background(), &matchingv1.AddTaskRequest{Task: s}); err != nil {
		t.Fatalf("a valid session task: %v", err)
	}
}
