package server

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// marker stands for the bad string in a request; withInvalidUTF8 swaps it for as many
// bytes that are not UTF-8, so the lengths on the wire stay right.
const marker = "@@@@"

func withInvalidUTF8(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(b, []byte(marker)) != 1 {
		t.Fatalf("want the marker once in %q", b)
	}
	return bytes.Replace(b, []byte(marker), []byte{0xff, 0xfe, 0xc0, 0x80}, 1)
}

func spec(taskType string, headers map[string]string) *matchingv1.TaskSpec {
	return &matchingv1.TaskSpec{Namespace: "default", Queue: "q", TaskType: taskType, Headers: headers}
}

// TestInvalidUTF8OverGRPC sends requests whose strings are not UTF-8, byte for byte over
// a real connection: the answer is InvalidArgument naming the field, nested and indexed,
// not Internal; the server keeps serving and keeps no record of the refused calls.
func TestInvalidUTF8OverGRPC(t *testing.T) {
	var later atomic.Int32 // calls that reached the interceptors a deployment adds (the auth guard)
	counting := grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		later.Add(1)
		return handler(ctx, req)
	})
	svc, err := Open(Config{Address: "127.0.0.1:0", DataDir: t.TempDir(), ServerOptions: []grpc.ServerOption{counting}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = svc.Start(t.Context()) }()
	t.Cleanup(svc.Stop)
	raw, err := grpc.NewClient(svc.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	cases := []struct {
		method string
		req    proto.Message
		want   string
	}{
		{"AddTask", &matchingv1.AddTaskRequest{Task: spec(marker, nil)}, "task.task_type: must be valid UTF-8"},
		{"AddTasks", &matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{spec("t", map[string]string{"k": "v"}), spec("t", map[string]string{"k": marker})}}, "tasks[1].headers[k]: must be valid UTF-8"},
		{"AddTasks", &matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{spec("t", nil), spec("t", map[string]string{marker: "v"})}}, "tasks[1].headers (a key): must be valid UTF-8"},
		{"PollTasks", &matchingv1.PollTasksRequest{Namespace: "default", Queue: "q", WorkerIdentity: "w", MaxTasks: 1, TaskTypes: []string{"a", "b", marker}}, "task_types[2]: must be valid UTF-8"},
		{"CompleteTasks", &matchingv1.CompleteTasksRequest{Completions: []*matchingv1.CompleteTaskRequest{{Namespace: "default", TaskId: "a", LeaseId: "l"}, {Namespace: "default", TaskId: marker, LeaseId: "l"}}}, "completions[1].task_id: must be valid UTF-8"},
		{"FailTask", &matchingv1.FailTaskRequest{Namespace: "default", TaskId: "a", LeaseId: "l", Failure: &matchingv1.Failure{ErrorType: marker}}, "failure.error_type: must be valid UTF-8"},
	}
	for _, tc := range cases {
		body := withInvalidUTF8(t, tc.req)
		err := invokeRaw(raw, tc.method, body)
		if status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != tc.want {
			t.Errorf("%s: got %v, want InvalidArgument %q", tc.method, err, tc.want)
		}
	}
	err = invokeRaw(raw, "AddTask", []byte("\x0a\xff\xff\xff\xff\x0f"))
	if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), "request: not a valid AddTaskRequest message: ") {
		t.Errorf("garbage: got %v, want InvalidArgument saying the request is not a valid AddTaskRequest", err)
	}
	c := matchingv1.NewMatchingServiceClient(mustDial(t, svc.Addr()))
	if _, err := c.AddTask(context.Background(), &matchingv1.AddTaskRequest{Task: spec("ü", map[string]string{"k": "ö"})}); err != nil {
		t.Fatalf("a valid request after refused ones: %v", err)
	}
	if n := later.Load(); n != 1 {
		t.Errorf("%d calls reached the later interceptors, want only the valid one", n)
	}
	undecodable.Range(func(k, _ any) bool {
		t.Errorf("a refused request is still recorded: %v", k)
		return true
	})
}

func invokeRaw(conn *grpc.ClientConn, method string, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []byte
	return conn.Invoke(ctx, "/"+matchingv1.MatchingService_ServiceDesc.ServiceName+"/"+method, &body, &out)
}
