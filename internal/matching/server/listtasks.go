package server

import (
	"context"
	"encoding/base64"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// Page sizes of ListTasks: 0 asks for the default.
const (
	defaultListTasksPage = 100
	maxListTasksPage     = 1000
)

func (s *Server) ListTasks(_ context.Context, r *matchingv1.ListTasksRequest) (*matchingv1.ListTasksResponse, error) {
	if err := checkNamespace("namespace", r.GetNamespace()); err != nil {
		return nil, err
	}
	if err := checkQueue("queue", r.GetQueue()); err != nil {
		return nil, err
	}
	if _, known := matchingv1.TaskState_name[int32(r.GetState())]; !known {
		return nil, invalid("state", "unknown state %d", r.GetState())
	}
	size := int(r.GetPageSize())
	if size == 0 {
		size = defaultListTasksPage
	}
	if size < 1 || size > maxListTasksPage {
		return nil, invalid("page_size", "must be 0 (%d) or 1..%d, got %d", defaultListTasksPage, maxListTasksPage, r.GetPageSize())
	}
	after, err := s.pageTokenTaskID(r.GetPageToken())
	if err != nil {
		return nil, err
	}
	tasks, next, err := s.e.ListTasks(r.GetNamespace(), r.GetQueue(), r.GetState(), size, after)
	if err != nil {
		return nil, err
	}
	return &matchingv1.ListTasksResponse{Tasks: tasks, NextPageToken: taskPageToken(next)}, nil
}

// A ListTasks page token is the task id to continue after, base64url-encoded so that it
// is one word on a command line whatever the id holds.
func taskPageToken(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(after))
}

func (s *Server) pageTokenTaskID(token string) (string, error) {
	id, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(id) > s.limits.MaxNameLength {
		return "", invalid("page_token", "must be a next_page_token of ListTasks")
	}
	return string(id), nil
}
