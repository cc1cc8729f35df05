package server

import (
	"context"

	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// RecordWorkerHeartbeat records that a worker process is alive.
func (s *Server) RecordWorkerHeartbeat(_ context.Context, r *matchingv1.RecordWorkerHeartbeatRequest) (*matchingv1.RecordWorkerHeartbeatResponse, error) {
	if err := s.limits.checkWorkerHeartbeat(r); err != nil {
		return nil, err
	}
	return &matchingv1.RecordWorkerHeartbeatResponse{Interval: durationpb.New(s.e.RecordWorkerHeartbeat(r))}, nil
}

func (l Limits) checkWorkerHeartbeat(r *matchingv1.RecordWorkerHeartbeatRequest) error {
	if err := checkNamespace("namespace", r.GetNamespace()); err != nil {
		return err
	}
	if err := checkQueue("queue", r.GetQueue()); err != nil {
		return err
	}
	switch r.GetKind() {
	case matchingv1.TaskKind_TASK_KIND_UNSPECIFIED, matchingv1.TaskKind_TASK_KIND_ACTIVITY, matchingv1.TaskKind_TASK_KIND_WORKFLOW:
	default:
		return invalid("kind", "unknown kind %d", r.GetKind())
	}
	if err := checkName("worker_identity", r.GetWorkerIdentity(), l.MaxNameLength, true); err != nil {
		return err
	}
	if err := checkName("pool", r.GetPool(), l.MaxNameLength, false); err != nil {
		return err
	}
	if err := checkName("version", r.GetVersion(), l.MaxNameLength, false); err != nil {
		return err
	}
	return checkCapabilities("capabilities", r.GetCapabilities(), maxWorkerCapabilities)
}
