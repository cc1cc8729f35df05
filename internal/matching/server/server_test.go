package server_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

func dial(t testing.TB, addr string) matchingv1.MatchingServiceClient {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return matchingv1.NewMatchingServiceClient(conn)
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func spec(id string) *matchingv1.TaskSpec {
	return &matchingv1.TaskSpec{Namespace: "default", Queue: "q1", TaskId: id, TaskType: "echo", Payload: []byte("p-" + id)}
}

func poll(t testing.TB, c matchingv1.MatchingServiceClient, queue string, max int32, wait time.Duration) []*matchingv1.Task {
	t.Helper()
	resp, err := c.PollTasks(ctxT(t, wait), &matchingv1.PollTasksRequest{Namespace: "default", Queue: queue, WorkerIdentity: "w1", MaxTasks: max})
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return resp.Tasks
}

func TestAddPollCompleteOverGRPC(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	ctx := ctxT(t, 10*time.Second)

	res, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec("a")})
	if err != nil || !res.Created || res.TaskId != "a" {
		t.Fatalf("add = %v, %v", res, err)
	}
	// Idempotent on the id.
	res, err = c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec("a")})
	if err != nil || res.Created {
		t.Fatalf("second add = %v, %v; want created=false", res, err)
	}
	tasks := poll(t, c, "q1", 10, 3*time.Second)
	if len(tasks) != 1 || tasks[0].TaskId != "a" || string(tasks[0].Payload) != "p-a" || tasks[0].Attempt != 1 || tasks[0].LeaseId == "" {
		t.Fatalf("poll = %v", tasks)
	}
	if _, err := c.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: "default", TaskId: "a", LeaseId: "zzz", Result: []byte("r")}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("complete with a wrong lease: %v, want FailedPrecondition", err)
	}
	if _, err := c.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: "default", TaskId: "a", LeaseId: tasks[0].LeaseId, Result: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: "default", TaskId: "a", LeaseId: tasks[0].LeaseId}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second complete: %v, want FailedPrecondition", err)
	}
	if _, err := c.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: "default", TaskId: "nope", LeaseId: "1"}); status.Code(err) != codes.NotFound {
		t.Fatalf("complete unknown: %v, want NotFound", err)
	}
	got, err := c.GetTask(ctx, &matchingv1.GetTaskRequest{Namespace: "default", TaskId: "a"})
	if err != nil || got.Task.State != matchingv1.TaskState_TASK_STATE_COMPLETED || string(got.Task.Result) != "r" {
		t.Fatalf("get = %v, %v", got, err)
	}
}

// TestSyncMatchAndWait: a waiting poll gets a task added after it started, and a GetTask
// waiting for the task returns when it completes. The engine runs on a fake clock that
// never moves, so its timers count the waits that started: a poll makes its deadline
// timer on entering the engine, and GetTask its timer once it is registered as a waiter.
func TestSyncMatchAndWait(t *testing.T) {
	clk := clock.NewFake(time.Now())
	addr, _ := testserver.Start(t, testserver.Options{Engine: matching.Options{Clock: clk}})
	c := dial(t, addr)
	ctx := ctxT(t, 10*time.Second)
	var wg sync.WaitGroup
	var tasks []*matchingv1.Task
	wg.Add(1)
	before := clk.Timers()
	go func() {
		defer wg.Done()
		tasks = poll(t, c, "q1", 1, 5*time.Second)
	}()
	waitTimers(t, ctx, clk, before+1, "the poll entering the engine")
	if _, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec("s")}); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(tasks) != 1 || tasks[0].TaskId != "s" {
		t.Fatalf("poll = %v", tasks)
	}

	waitDone := make(chan *matchingv1.GetTaskResponse, 1)
	before = clk.Timers()
	go func() {
		r, err := c.GetTask(ctx, &matchingv1.GetTaskRequest{Namespace: "default", TaskId: "s", Wait: durationpb.New(5 * time.Second)})
		if err != nil {
			t.Error(err)
		}
		waitDone <- r
	}()
	waitTimers(t, ctx, clk, before+1, "GetTask waiting")
	select {
	case r := <-waitDone:
		t.Fatalf("GetTask returned before the task completed: %v", r)
	default:
	}
	if _, err := c.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: "default", TaskId: "s", LeaseId: tasks[0].LeaseId, Result: []byte("ok")}); err != nil {
		t.Fatal(err)
	}
	r := <-waitDone
	if r.GetTask().GetState() != matchingv1.TaskState_TASK_STATE_COMPLETED {
		t.Fatalf("wait returned %v", r)
	}
}

// waitTimers waits until clk has n pending timers, or fails when ctx ends.
func waitTimers(t *testing.T, ctx context.Context, clk *clock.Fake, n int, what string) {
	t.Helper()
	if !clk.WaitForTimers(n, ctx.Done()) {
		t.Fatalf("no %s: %d timers, want %d", what, clk.Timers(), n)
	}
}

func TestEmptyPollReturnsBeforeDeadline(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	start := time.Now()
	resp, err := c.PollTasks(ctxT(t, 2*time.Second), &matchingv1.PollTasksRequest{Namespace: "default", Queue: "empty", WorkerIdentity: "w", MaxTasks: 1})
	if err != nil || len(resp.Tasks) != 0 {
		t.Fatalf("poll = %v, %v; want empty, no error", resp, err)
	}
	if el := time.Since(start); el > 2*time.Second || el < 500*time.Millisecond {
		t.Fatalf("empty poll took %s", el)
	}
}

func TestValidationNamesTheField(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	ctx := ctxT(t, 10*time.Second)
	big := make([]byte, 3<<20)
	neg := durationpb.New(-time.Second)
	cases := []struct {
		name  string
		call  func() error
		code  codes.Code
		field string
	}{
		{"empty queue", func() error {
			s := spec("x")
			s.Queue = ""
			_, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: s})
			return err
		}, codes.InvalidArgument, "task.queue"},
		{"long queue", func() error {
			s := spec("x")
			s.Queue = strings.Repeat("a", 254)
			_, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: s})
			return err
		}, codes.InvalidArgument, "task.queue"},
		{"bad namespace", func() error {
			s := spec("x")
			s.Namespace = "Bad_NS"
			_, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: s})
			return err
		}, codes.InvalidArgument, "task.namespace"},
		{"payload", func() error {
			s := spec("x")
			s.Payload = big
			_, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: s})
			return err
		}, codes.InvalidArgument, "task.payload"},
		{"priority", func() error {
			s := spec("x")
			s.Priority = 6
			_, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: s})
			return err
		}, codes.InvalidArgument, "task.priority"},
		{"negative timeout", func() error {
			s := spec("x")
			s.StartToCloseTimeout = neg
			_, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: s})
			return err
		}, codes.InvalidArgument, "task.start_to_close_timeout"},
		{"batch index", func() error {
			bad := spec("y")
			bad.TaskType = ""
			_, err := c.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{spec("x"), bad}})
			return err
		}, codes.InvalidArgument, "tasks[1].task_type"},
		{"max_tasks", func() error {
			_, err := c.PollTasks(ctx, &matchingv1.PollTasksRequest{Namespace: "default", Queue: "q", WorkerIdentity: "w", MaxTasks: 0})
			return err
		}, codes.InvalidArgument, "max_tasks"},
		{"unknown task", func() error {
			_, err := c.HeartbeatTask(ctx, &matchingv1.HeartbeatTaskRequest{Namespace: "default", TaskId: "nope", LeaseId: "1"})
			return err
		}, codes.NotFound, "task_id"},
		{"unknown cancel", func() error {
			_, err := c.CancelTask(ctx, &matchingv1.CancelTaskRequest{Namespace: "default", TaskId: "nope"})
			return err
		}, codes.NotFound, "task_id"},
		{"empty lease", func() error {
			_, err := c.FailTask(ctx, &matchingv1.FailTaskRequest{Namespace: "default", TaskId: "x"})
			return err
		}, codes.InvalidArgument, "lease_id"},
		{"shutdown without queue", func() error {
			_, err := c.ShutdownWorker(ctx, &matchingv1.ShutdownWorkerRequest{Namespace: "default", WorkerIdentity: "w"})
			return err
		}, codes.InvalidArgument, "queue"},
		{"shutdown without identity", func() error {
			_, err := c.ShutdownWorker(ctx, &matchingv1.ShutdownWorkerRequest{Namespace: "default", Queue: "q"})
			return err
		}, codes.InvalidArgument, "worker_identity"},
	}
	for _, tc := range cases {
		err := tc.call()
		st := status.Convert(err)
		if st.Code() != tc.code || !strings.HasPrefix(st.Message(), tc.field+":") {
			t.Errorf("%s: got %v %q, want %v naming %s", tc.name, st.Code(), st.Message(), tc.code, tc.field)
		}
	}
	// Nothing invalid was stored.
	if tasks := poll(t, c, "q1", 10, 1500*time.Millisecond); len(tasks) != 0 {
		t.Fatalf("invalid batch stored tasks: %v", tasks)
	}
}
