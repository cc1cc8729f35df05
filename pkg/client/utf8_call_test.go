package client

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// TestInvalidUTF8AddIsInvalidArgumentNamingTheField: through a Dial'ed client to the real
// service, an add batch with a header that is not UTF-8 fails with InvalidArgument naming
// it, and none of the batch was sent.
func TestInvalidUTF8AddIsInvalidArgumentNamingTheField(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c, err := Dial(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.AddTasks(t.Context(), []Task{
		{ID: "ok", Queue: "q", Type: "t"},
		{ID: "bad", Queue: "q", Type: "t", Headers: map[string]string{"trace": "\xc3"}},
	})
	if want := "tasks[1].headers[trace]: must be valid UTF-8"; status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != want {
		t.Fatalf("AddTasks: %v; want InvalidArgument %q", err, want)
	}
	if _, err := c.GetTask(t.Context(), "ok"); status.Code(err) != codes.NotFound {
		t.Fatalf("GetTask of the batch's valid task: %v; want NotFound (nothing was sent)", err)
	}
}

// TestCheckUTF8LeavesTheCheckToTheCodec: the interceptor does not walk a request before
// the call (the connection's codec refuses bad UTF-8 when it marshals); it names the field
// only when the call failed with Internal, the code of a marshaling error.
func TestCheckUTF8LeavesTheCheckToTheCodec(t *testing.T) {
	bad := &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{TaskType: "bad\xff"}}
	for _, tc := range []struct {
		invokerErr error
		want       string
	}{
		{nil, ""}, // the interceptor alone does not refuse it
		{status.Error(codes.Internal, "grpc: error while marshaling: string field contains invalid UTF-8"), "InvalidArgument: task.task_type: must be valid UTF-8"},
		{status.Error(codes.Unavailable, "down"), "Unavailable: down"},
	} {
		invoked := 0
		invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
			invoked++
			return tc.invokerErr
		}
		err := checkUTF8(t.Context(), "/m", bad, nil, nil, invoker)
		if invoked != 1 {
			t.Errorf("invoker called %d times; want 1", invoked)
		}
		got := ""
		if err != nil {
			got = status.Code(err).String() + ": " + status.Convert(err).Message()
		}
		if got != tc.want {
			t.Errorf("invoker error %v: %q; want %q", tc.invokerErr, got, tc.want)
		}
	}
}
