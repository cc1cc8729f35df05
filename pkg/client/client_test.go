package client

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

// fake answers GetTask from a script and records AddTask(s) calls.
type fake struct {
	matchingv1.UnimplementedMatchingServiceServer
	mu      sync.Mutex
	script  []func(*matchingv1.GetTaskRequest) (*matchingv1.GetTaskResponse, error)
	waits   []time.Duration
	batches []int
	specs   []*matchingv1.TaskSpec
}

func (f *fake) GetTask(_ context.Context, r *matchingv1.GetTaskRequest) (*matchingv1.GetTaskResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waits = append(f.waits, r.GetWait().AsDuration())
	step := f.script[0]
	if len(f.script) > 1 {
		f.script = f.script[1:]
	}
	return step(r)
}

func (f *fake) AddTask(_ context.Context, r *matchingv1.AddTaskRequest) (*matchingv1.AddTaskResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.specs = append(f.specs, r.GetTask())
	return &matchingv1.AddTaskResponse{TaskId: r.GetTask().GetTaskId(), Created: true}, nil
}

func (f *fake) AddTasks(_ context.Context, r *matchingv1.AddTasksRequest) (*matchingv1.AddTasksResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, len(r.GetTasks()))
	resp := &matchingv1.AddTasksResponse{}
	for _, t := range r.GetTasks() {
		resp.Results = append(resp.Results, &matchingv1.AddTaskResponse{TaskId: t.GetTaskId(), Created: true})
	}
	return resp, nil
}

func startFake(t *testing.T, f *fake, opts ...Option) *Client {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	matchingv1.RegisterMatchingServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	c, err := Dial(context.Background(), lis.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(); srv.Stop() })
	return c
}

func state(s matchingv1.TaskState) func(*matchingv1.GetTaskRequest) (*matchingv1.GetTaskResponse, error) {
	return func(r *matchingv1.GetTaskRequest) (*matchingv1.GetTaskResponse, error) {
		return &matchingv1.GetTaskResponse{Task: &matchingv1.TaskInfo{TaskId: r.GetTaskId(), State: s, Result: []byte("r")}}, nil
	}
}

func TestWaitForResultRidesThroughUnavailableAndLoops(t *testing.T) {
	unavailable := func(*matchingv1.GetTaskRequest) (*matchingv1.GetTaskResponse, error) {
		return nil, status.Error(codes.Unavailable, "restarting")
	}
	f := &fake{script: []func(*matchingv1.GetTaskRequest) (*matchingv1.GetTaskResponse, error){
		unavailable, unavailable, state(matchingv1.TaskState_TASK_STATE_STARTED), state(matchingv1.TaskState_TASK_STATE_COMPLETED),
	}}
	c := startFake(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := c.WaitForResult(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != StateCompleted || string(info.Result) != "r" || info.ID != "x" {
		t.Errorf("info = %+v", info)
	}
	if len(f.waits) != 4 {
		t.Errorf("%d GetTask calls; want 4", len(f.waits))
	}
	for _, w := range f.waits {
		if w <= 0 || w > 5*time.Second {
			t.Errorf("wait %v; want bounded by the ctx deadline and positive", w)
		}
	}
}

func TestWaitForResultKeepsNonTransientCodes(t *testing.T) {
	f := &fake{script: []func(*matchingv1.GetTaskRequest) (*matchingv1.GetTaskResponse, error){
		func(*matchingv1.GetTaskRequest) (*matchingv1.GetTaskResponse, error) {
			return nil, status.Error(codes.NotFound, "task_id: no task \"x\"")
		},
	}}
	c := startFake(t, f)
	_, err := c.WaitForResult(context.Background(), "x")
	if status.Code(err) != codes.NotFound {
		t.Errorf("err = %v; want NotFound", err)
	}
	if _, err := c.GetTask(context.Background(), ""); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty id: %v", err)
	}
}

func TestNamespaceDefaultsAndDerivedClients(t *testing.T) {
	t.Setenv(workerenv.Namespace, "from-env")
	f := &fake{}
	c := startFake(t, f)
	if c.Namespace() != "from-env" {
		t.Errorf("namespace %q; want from-env", c.Namespace())
	}
	child := c.WithQueue("parent-q", map[string]string{"parent": "p1"})
	if _, err := child.AddTask(context.Background(), Task{Type: "t", Headers: map[string]string{"own": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddTask(context.Background(), Task{Type: "t"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("add without queue on a plain client: %v; want InvalidArgument", err)
	}
	s := f.specs[0]
	if s.GetQueue() != "parent-q" || s.GetNamespace() != "from-env" || s.GetHeaders()["parent"] != "p1" || s.GetHeaders()["own"] != "1" {
		t.Errorf("child spec = %v", s)
	}
	if s.GetKind() != matchingv1.TaskKind_TASK_KIND_ACTIVITY {
		t.Errorf("kind %v", s.GetKind())
	}
	if err := child.Close(); err != nil {
		t.Fatal(err)
	}
	// The parent's connection still works after closing a derived client.
	if _, err := c.AddTask(context.Background(), Task{Queue: "q", Type: "t"}); err != nil {
		t.Fatal(err)
	}
}

func TestAddTasksSplitsIntoBatches(t *testing.T) {
	f := &fake{}
	c := startFake(t, f, WithNamespace("ns"))
	tasks := make([]Task, 2500)
	for i := range tasks {
		tasks[i] = Task{Queue: "q", Type: "t"}
	}
	res, err := c.AddTasks(context.Background(), tasks)
	if err != nil || len(res) != 2500 {
		t.Fatalf("%d results, %v", len(res), err)
	}
	if len(f.batches) != 3 || f.batches[0] != 1000 || f.batches[2] != 500 {
		t.Errorf("batches %v; want 1000,1000,500", f.batches)
	}
	tasks[1700].Type = ""
	_, err = c.AddTasks(context.Background(), tasks)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "tasks[1700].task_type") {
		t.Errorf("err = %v; want InvalidArgument naming tasks[1700].task_type", err)
	}
}
