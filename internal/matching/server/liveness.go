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
	if err := l.checkWorker(r); err != nil {
		return err
	}
	if err := checkCapabilities("capabilities", r.GetCapabilities(), maxWorkerCapabilities); err != nil {
		return err
	}
	return checkMaxSessions(r.GetMaxSessions())
}
