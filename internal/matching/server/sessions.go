package server

import (
	"context"
	"fmt"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// maxSessionsPerWorker bounds PollTasksRequest.max_sessions.
const maxSessionsPerWorker = 10000

func (s *Server) CreateSession(_ context.Context, r *matchingv1.CreateSessionRequest) (*matchingv1.CreateSessionResponse, error) {
	if err := s.limits.checkCreateSession(r); err != nil {
		return nil, err
	}
	info, created, err := s.e.CreateSession(r)
	if err != nil {
		return nil, err
	}
	return &matchingv1.CreateSessionResponse{Session: info, Created: created}, nil
}

func (s *Server) CompleteSession(_ context.Context, r *matchingv1.CompleteSessionRequest) (*matchingv1.CompleteSessionResponse, error) {
	if err := s.limits.checkSessionRef(r.GetNamespace(), r.GetSessionId()); err != nil {
		return nil, err
	}
	info, err := s.e.CompleteSession(r.GetNamespace(), r.GetSessionId())
	if err != nil {
		return nil, err
	}
	return &matchingv1.CompleteSessionResponse{Session: info}, nil
}

func (s *Server) GetSession(_ context.Context, r *matchingv1.GetSessionRequest) (*matchingv1.GetSessionResponse, error) {
	if err := s.limits.checkSessionRef(r.GetNamespace(), r.GetSessionId()); err != nil {
		return nil, err
	}
	info, err := s.e.GetSession(r.GetNamespace(), r.GetSessionId())
	if err != nil {
		return nil, err
	}
	return &matchingv1.GetSessionResponse{Session: info}, nil
}

func (l Limits) checkCreateSession(r *matchingv1.CreateSessionRequest) error {
	if err := checkQueueAndKind(r.GetNamespace(), r.GetQueue(), r.GetKind()); err != nil {
		return err
	}
	if err := checkName("session_id", r.GetSessionId(), l.MaxNameLength, false); err != nil {
		return err
	}
	return checkCapabilities("requires", r.GetRequires(), maxRequirements)
}

func (l Limits) checkSessionRef(ns, id string) error {
	if err := checkNamespace("namespace", ns); err != nil {
		return err
	}
	return checkName("session_id", id, l.MaxNameLength, true)
}

// checkMaxSessions validates the session slots a worker declares.
func checkMaxSessions(n int32) error {
	if n < 0 || n > maxSessionsPerWorker {
		return invalid("max_sessions", "must be 0..%d, got %d", maxSessionsPerWorker, n)
	}
	return nil
}

// checkSessionTasks checks the session of every task that names one (see
// Engine.CheckSessionTask), before admission, so errors name the task's field.
func (s *Server) checkSessionTasks(fields func(int) string, specs []*matchingv1.TaskSpec) error {
	for i, t := range specs {
		if t.GetSessionId() == "" {
			continue
		}
		if err := checkName(fields(i)+".session_id", t.GetSessionId(), s.limits.MaxNameLength, true); err != nil {
			return err
		}
		if _, err := s.e.CheckSessionTask(fields(i), t); err != nil {
			return err
		}
	}
	return nil
}

func taskField(int) string { return "task" }

func tasksField(i int) string { return fmt.Sprintf("tasks[%d]", i) }
