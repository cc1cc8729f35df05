// Package server is the gRPC face of the matching engine: it validates every request
// (naming the offending field), maps outcomes to gRPC status codes and calls the engine.
package server

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching"
)

// Server implements matchingv1.MatchingServiceServer over an Engine.
type Server struct {
	matchingv1.UnimplementedMatchingServiceServer
	e       *matching.Engine
	limits  Limits
	streams streamCounters
}

// New returns a handler for e with limits (zero fields take defaults).
func New(e *matching.Engine, limits Limits) *Server {
	return &Server{e: e, limits: limits.withDefaults()}
}

// Register registers the service on s.
func (s *Server) Register(g *grpc.Server) { matchingv1.RegisterMatchingServiceServer(g, s) }

// MaxRecvMsgSize is the gRPC message size a server with these limits must accept: a full
// batch of maximal tasks would be larger, but one maximal task plus framing must fit.
func (l Limits) MaxRecvMsgSize() int {
	l = l.withDefaults()
	return max(4<<20, 2*l.MaxPayloadBytes+l.MaxHeaderBytes+64<<10)
}

func (s *Server) levels(ns, queue string) int { return s.e.Config(ns, queue).PriorityLevels }

func (s *Server) AddTask(ctx context.Context, r *matchingv1.AddTaskRequest) (*matchingv1.AddTaskResponse, error) {
	if err := s.limits.checkTask(taskField, 0, r.GetTask(), s.levels); err != nil {
		return nil, err
	}
	if err := s.checkSessionTasks(taskField, []*matchingv1.TaskSpec{r.Task}); err != nil {
		return nil, err
	}
	release, err := s.admit(ctx, []*matchingv1.TaskSpec{r.Task})
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := s.e.AddTasks(ctx, []*matchingv1.TaskSpec{r.Task})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

func (s *Server) AddTasks(ctx context.Context, r *matchingv1.AddTasksRequest) (*matchingv1.AddTasksResponse, error) {
	n := len(r.GetTasks())
	if n == 0 || n > s.limits.MaxBatch {
		return nil, invalid("tasks", "must hold 1..%d tasks, got %d", s.limits.MaxBatch, n)
	}
	for i, t := range r.GetTasks() {
		if err := s.limits.checkTask(tasksField, i, t, s.levels); err != nil {
			return nil, err
		}
	}
	if err := s.checkSessionTasks(tasksField, r.Tasks); err != nil {
		return nil, err
	}
	release, err := s.admit(ctx, r.Tasks)
	if err != nil {
		return nil, err
	}
	defer release()
	res, err := s.e.AddTasks(ctx, r.Tasks)
	if err != nil {
		return nil, err
	}
	return &matchingv1.AddTasksResponse{Results: res}, nil
}

func (s *Server) PollTasks(ctx context.Context, r *matchingv1.PollTasksRequest) (*matchingv1.PollTasksResponse, error) {
	if err := s.limits.checkPoll(r, s.levels); err != nil {
		return nil, err
	}
	tasks, err := s.e.Poll(matching.WithPrincipal(ctx, principal(ctx)), r)
	if err != nil {
		return nil, err
	}
	return &matchingv1.PollTasksResponse{Tasks: tasks}, nil
}

func (s *Server) CompleteTask(ctx context.Context, r *matchingv1.CompleteTaskRequest) (*matchingv1.CompleteTaskResponse, error) {
	if err := s.checkCompletion(r); err != nil {
		return nil, err
	}
	if err := s.e.CompleteAs(r.GetNamespace(), r.GetTaskId(), r.GetLeaseId(), owner(ctx, r.GetWorkerIdentity()), r.GetResult()); err != nil {
		return nil, err
	}
	return &matchingv1.CompleteTaskResponse{}, nil
}

// checkCompletion validates a CompleteTask request; errors name fields relative to it.
func (s *Server) checkCompletion(r *matchingv1.CompleteTaskRequest) error {
	if err := s.limits.checkAttempt(r.GetNamespace(), r.GetTaskId(), r.GetLeaseId(), r.GetWorkerIdentity()); err != nil {
		return err
	}
	return checkBytes("result", r.GetResult(), s.limits.MaxPayloadBytes)
}

// checkCompletions validates the completions of a batch (CompleteTasks, a worker stream's
// message). A completion's name (completions[3]) is built only when it fails: formatting it
// for every completion cost an allocation per task.
func (s *Server) checkCompletions(cs []*matchingv1.CompleteTaskRequest) error {
	for i, c := range cs {
		if c == nil {
			return invalid(completionField(i), "must be set")
		}
		if err := s.checkCompletion(c); err != nil {
			return underField(completionField(i), err)
		}
	}
	return nil
}

func completionField(i int) string { return fmt.Sprintf("completions[%d]", i) }

func (s *Server) CompleteTasks(ctx context.Context, r *matchingv1.CompleteTasksRequest) (*matchingv1.CompleteTasksResponse, error) {
	n := len(r.GetCompletions())
	if n == 0 || n > s.limits.MaxBatch {
		return nil, invalid("completions", "must hold 1..%d completions, got %d", s.limits.MaxBatch, n)
	}
	if err := s.checkCompletions(r.GetCompletions()); err != nil {
		return nil, err
	}
	return &matchingv1.CompleteTasksResponse{Errors: s.e.CompleteManyAs(r.Completions, principal(ctx))}, nil
}

func (s *Server) FailTask(ctx context.Context, r *matchingv1.FailTaskRequest) (*matchingv1.FailTaskResponse, error) {
	if err := s.limits.checkAttempt(r.GetNamespace(), r.GetTaskId(), r.GetLeaseId(), r.GetWorkerIdentity()); err != nil {
		return nil, err
	}
	if err := s.limits.checkFailure(r.GetFailure()); err != nil {
		return nil, err
	}
	return s.e.FailAs(r.GetNamespace(), r.GetTaskId(), r.GetLeaseId(), owner(ctx, r.GetWorkerIdentity()), r.GetFailure())
}

func (s *Server) HeartbeatTask(ctx context.Context, r *matchingv1.HeartbeatTaskRequest) (*matchingv1.HeartbeatTaskResponse, error) {
	if err := s.limits.checkAttempt(r.GetNamespace(), r.GetTaskId(), r.GetLeaseId(), r.GetWorkerIdentity()); err != nil {
		return nil, err
	}
	if err := checkBytes("details", r.GetDetails(), s.limits.MaxPayloadBytes); err != nil {
		return nil, err
	}
	cancel, err := s.e.HeartbeatAs(r.GetNamespace(), r.GetTaskId(), r.GetLeaseId(), owner(ctx, r.GetWorkerIdentity()), r.GetDetails())
	if err != nil {
		return nil, err
	}
	return &matchingv1.HeartbeatTaskResponse{CancelRequested: cancel}, nil
}

func (s *Server) ReportTaskCanceled(ctx context.Context, r *matchingv1.ReportTaskCanceledRequest) (*matchingv1.ReportTaskCanceledResponse, error) {
	if err := s.limits.checkAttempt(r.GetNamespace(), r.GetTaskId(), r.GetLeaseId(), r.GetWorkerIdentity()); err != nil {
		return nil, err
	}
	if err := checkBytes("details", r.GetDetails(), s.limits.MaxPayloadBytes); err != nil {
		return nil, err
	}
	if err := s.e.ReportCanceledAs(r.GetNamespace(), r.GetTaskId(), r.GetLeaseId(), owner(ctx, r.GetWorkerIdentity()), r.GetDetails()); err != nil {
		return nil, err
	}
	return &matchingv1.ReportTaskCanceledResponse{}, nil
}

func (s *Server) ReleaseTask(ctx context.Context, r *matchingv1.ReleaseTaskRequest) (*matchingv1.ReleaseTaskResponse, error) {
	if err := s.limits.checkAttempt(r.GetNamespace(), r.GetTaskId(), r.GetLeaseId(), r.GetWorkerIdentity()); err != nil {
		return nil, err
	}
	if err := s.e.ReleaseAs(r.GetNamespace(), r.GetTaskId(), r.GetLeaseId(), owner(ctx, r.GetWorkerIdentity())); err != nil {
		return nil, err
	}
	return &matchingv1.ReleaseTaskResponse{}, nil
}

func (s *Server) ShutdownWorker(ctx context.Context, r *matchingv1.ShutdownWorkerRequest) (*matchingv1.ShutdownWorkerResponse, error) {
	if err := checkNamespace("namespace", r.GetNamespace()); err != nil {
		return nil, err
	}
	if err := checkQueue("queue", r.GetQueue()); err != nil {
		return nil, err
	}
	if err := checkName("worker_identity", r.GetWorkerIdentity(), s.limits.MaxNameLength, true); err != nil {
		return nil, err
	}
	n := s.e.ShutdownWorker(r.GetNamespace(), r.GetQueue(), r.GetWorkerIdentity(), owner(ctx, r.GetWorkerIdentity()))
	return &matchingv1.ShutdownWorkerResponse{ReturnedPolls: int32(n)}, nil
}

func (s *Server) CancelTask(_ context.Context, r *matchingv1.CancelTaskRequest) (*matchingv1.CancelTaskResponse, error) {
	if err := checkNamespace("namespace", r.GetNamespace()); err != nil {
		return nil, err
	}
	if err := checkName("task_id", r.GetTaskId(), s.limits.MaxNameLength, true); err != nil {
		return nil, err
	}
	if len(r.GetReason()) > maxReasonLength {
		return nil, invalid("reason", "must be at most %d bytes, got %d", maxReasonLength, len(r.GetReason()))
	}
	st, err := s.e.Cancel(r.GetNamespace(), r.GetTaskId(), r.GetReason())
	if err != nil {
		return nil, err
	}
	return &matchingv1.CancelTaskResponse{State: st}, nil
}

func (s *Server) GetTask(ctx context.Context, r *matchingv1.GetTaskRequest) (*matchingv1.GetTaskResponse, error) {
	if err := checkNamespace("namespace", r.GetNamespace()); err != nil {
		return nil, err
	}
	if err := checkName("task_id", r.GetTaskId(), s.limits.MaxNameLength, true); err != nil {
		return nil, err
	}
	if err := checkDuration("wait", r.GetWait()); err != nil {
		return nil, err
	}
	var wait time.Duration
	if r.GetWait() != nil {
		wait = r.GetWait().AsDuration()
		if wait > time.Minute {
			return nil, invalid("wait", "must be at most 1m, got %s", wait)
		}
	}
	info, err := s.e.Get(ctx, r.GetNamespace(), r.GetTaskId(), wait)
	if err != nil {
		return nil, err
	}
	return &matchingv1.GetTaskResponse{Task: info}, nil
}

func (s *Server) DescribeQueue(_ context.Context, r *matchingv1.DescribeQueueRequest) (*matchingv1.DescribeQueueResponse, error) {
	if err := checkNamespace("namespace", r.GetNamespace()); err != nil {
		return nil, err
	}
	if err := checkQueue("queue", r.GetQueue()); err != nil {
		return nil, err
	}
	return s.e.Describe(r.GetNamespace(), r.GetQueue()), nil
}

func (s *Server) ListQueues(_ context.Context, r *matchingv1.ListQueuesRequest) (*matchingv1.ListQueuesResponse, error) {
	if err := checkNamespace("namespace", r.GetNamespace()); err != nil {
		return nil, err
	}
	size := int(r.GetPageSize())
	if size == 0 {
		size = 100
	}
	if size < 1 || size > 1000 {
		return nil, invalid("page_size", "must be 0 (100) or 1..1000, got %d", r.GetPageSize())
	}
	if tok := r.GetPageToken(); tok != "" {
		if err := checkQueue("page_token", tok); err != nil {
			return nil, err
		}
	}
	qs, next, err := s.e.ListQueues(r.GetNamespace(), size, r.GetPageToken())
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &matchingv1.ListQueuesResponse{Queues: qs, NextPageToken: next}, nil
}
