package worker

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
)

// fakeServer is a tiny in-memory matching service on 127.0.0.1 for unit tests of the
// worker's own mechanics (slots, batching, heartbeats, shutdown). The real service is
// tested end to end in test/matching.
type fakeServer struct {
	matchingv1.UnimplementedMatchingServiceServer

	mu          sync.Mutex
	queue       []*matchingv1.Task
	arrived     chan struct{}
	leases      map[string]string // task id -> live lease
	completed   map[string][]byte
	failures    map[string][]*matchingv1.Failure
	released    []string
	heartbeats  map[string][]byte
	cancelReq   map[string]bool
	maxAsked    int32
	polls       []*matchingv1.PollTasksRequest
	batchSizes  []int
	singleCalls int
	nextLease   int
}

func startFake(t *testing.T) (*fakeServer, *client.Client) {
	t.Helper()
	f := &fakeServer{
		arrived:    make(chan struct{}, 1),
		leases:     map[string]string{},
		completed:  map[string][]byte{},
		failures:   map[string][]*matchingv1.Failure{},
		heartbeats: map[string][]byte{},
		cancelReq:  map[string]bool{},
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	matchingv1.RegisterMatchingServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	c, err := client.Dial(context.Background(), lis.Addr().String(), client.WithNamespace("ns"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Close()
		srv.Stop()
	})
	return f, c
}

func (f *fakeServer) add(id, taskType string, heartbeatTimeout time.Duration) {
	f.mu.Lock()
	f.queue = append(f.queue, &matchingv1.Task{
		Namespace: "ns", Queue: "q", TaskId: id, TaskType: taskType, Attempt: 1,
		HeartbeatTimeout: durationpb.New(heartbeatTimeout),
	})
	f.mu.Unlock()
	select {
	case f.arrived <- struct{}{}:
	default:
	}
}

func (f *fakeServer) PollTasks(ctx context.Context, req *matchingv1.PollTasksRequest) (*matchingv1.PollTasksResponse, error) {
	for {
		f.mu.Lock()
		f.polls = append(f.polls, req)
		f.maxAsked = max(f.maxAsked, req.GetMaxTasks())
		n := min(int(req.GetMaxTasks()), len(f.queue))
		if n > 0 {
			tasks := f.queue[:n]
			f.queue = f.queue[n:]
			for _, t := range tasks {
				f.nextLease++
				t.LeaseId = fmt.Sprint(f.nextLease)
				f.leases[t.TaskId] = t.LeaseId
			}
			f.mu.Unlock()
			return &matchingv1.PollTasksResponse{Tasks: tasks}, nil
		}
		f.mu.Unlock()
		select {
		case <-f.arrived:
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return &matchingv1.PollTasksResponse{}, nil
		}
	}
}

func (f *fakeServer) checkLease(id, lease string) error {
	if f.leases[id] != lease {
		return status.Errorf(codes.FailedPrecondition, "lease_id: stale lease %q for task %q", lease, id)
	}
	return nil
}

func (f *fakeServer) CompleteTask(_ context.Context, req *matchingv1.CompleteTaskRequest) (*matchingv1.CompleteTaskResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.singleCalls++
	if err := f.checkLease(req.GetTaskId(), req.GetLeaseId()); err != nil {
		return nil, err
	}
	delete(f.leases, req.GetTaskId())
	f.completed[req.GetTaskId()] = req.GetResult()
	return &matchingv1.CompleteTaskResponse{}, nil
}

func (f *fakeServer) CompleteTasks(_ context.Context, req *matchingv1.CompleteTasksRequest) (*matchingv1.CompleteTasksResponse, error) {
	// Slow enough that completions pile up behind an in-flight call, like a synced write.
	time.Sleep(2 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batchSizes = append(f.batchSizes, len(req.GetCompletions()))
	resp := &matchingv1.CompleteTasksResponse{Errors: make([]*matchingv1.ItemError, len(req.GetCompletions()))}
	for i, c := range req.GetCompletions() {
		if err := f.checkLease(c.GetTaskId(), c.GetLeaseId()); err != nil {
			resp.Errors[i] = &matchingv1.ItemError{Code: int32(codes.FailedPrecondition), Message: err.Error()}
			continue
		}
		delete(f.leases, c.GetTaskId())
		f.completed[c.GetTaskId()] = c.GetResult()
	}
	return resp, nil
}

func (f *fakeServer) FailTask(_ context.Context, req *matchingv1.FailTaskRequest) (*matchingv1.FailTaskResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkLease(req.GetTaskId(), req.GetLeaseId()); err != nil {
		return nil, err
	}
	delete(f.leases, req.GetTaskId())
	f.failures[req.GetTaskId()] = append(f.failures[req.GetTaskId()], req.GetFailure())
	return &matchingv1.FailTaskResponse{State: matchingv1.TaskState_TASK_STATE_SCHEDULED}, nil
}

func (f *fakeServer) HeartbeatTask(_ context.Context, req *matchingv1.HeartbeatTaskRequest) (*matchingv1.HeartbeatTaskResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkLease(req.GetTaskId(), req.GetLeaseId()); err != nil {
		return nil, err
	}
	f.heartbeats[req.GetTaskId()] = req.GetDetails()
	return &matchingv1.HeartbeatTaskResponse{CancelRequested: f.cancelReq[req.GetTaskId()]}, nil
}

func (f *fakeServer) ReportTaskCanceled(_ context.Context, req *matchingv1.ReportTaskCanceledRequest) (*matchingv1.ReportTaskCanceledResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkLease(req.GetTaskId(), req.GetLeaseId()); err != nil {
		return nil, err
	}
	delete(f.leases, req.GetTaskId())
	f.failures[req.GetTaskId()] = append(f.failures[req.GetTaskId()], &matchingv1.Failure{ErrorType: "Canceled"})
	return &matchingv1.ReportTaskCanceledResponse{}, nil
}

func (f *fakeServer) ReleaseTask(_ context.Context, req *matchingv1.ReleaseTaskRequest) (*matchingv1.ReleaseTaskResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkLease(req.GetTaskId(), req.GetLeaseId()); err != nil {
		return nil, err
	}
	delete(f.leases, req.GetTaskId())
	f.released = append(f.released, req.GetTaskId())
	return &matchingv1.ReleaseTaskResponse{}, nil
}

// waitFor polls cond under the fake's lock until it holds or the timeout passes.
func (f *fakeServer) waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		f.mu.Lock()
		ok := cond()
		f.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
