package server

import (
	"fmt"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// Limits bound what a request may carry. Zero fields take the defaults of DefaultLimits.
type Limits struct {
	// MaxPayloadBytes bounds a task's payload and a result, heartbeat or failure details.
	MaxPayloadBytes int
	// MaxNameLength bounds task ids, task types, worker identities, pools, versions and
	// lease ids (queue names are at most 253 by protocol, namespaces 63).
	MaxNameLength int
	// MaxHeaderBytes bounds the total size of a task's header keys and values.
	MaxHeaderBytes int
	// MaxBatch bounds AddTasks and CompleteTasks.
	MaxBatch int
}

// DefaultLimits are the limits of a server with no flags.
func DefaultLimits() Limits {
	return Limits{MaxPayloadBytes: 2 << 20, MaxNameLength: 256, MaxHeaderBytes: 16 << 10, MaxBatch: 1000}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxPayloadBytes <= 0 {
		l.MaxPayloadBytes = d.MaxPayloadBytes
	}
	if l.MaxNameLength <= 0 {
		l.MaxNameLength = d.MaxNameLength
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxBatch <= 0 {
		l.MaxBatch = d.MaxBatch
	}
	return l
}

const (
	maxQueueName     = 253
	maxNamespaceName = 63
	maxReasonLength  = 1024
	maxMessageLength = 32 << 10
)

func invalid(field, format string, args ...any) error {
	return status.Error(codes.InvalidArgument, field+": "+fmt.Sprintf(format, args...))
}

// checkNamespace: a Kubernetes namespace name (DNS-1123 label).
func checkNamespace(field, s string) error {
	if len(s) == 0 || len(s) > maxNamespaceName {
		return invalid(field, "must be 1..%d characters, got %d", maxNamespaceName, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') || (c == '-' && (i == 0 || i == len(s)-1)) {
			return invalid(field, "must be a DNS label (lowercase letters, digits, '-'), got %q", s)
		}
	}
	return nil
}

// checkQueue: 1..253 characters of [A-Za-z0-9._-].
func checkQueue(field, s string) error {
	if len(s) == 0 || len(s) > maxQueueName {
		return invalid(field, "must be 1..%d characters, got %d", maxQueueName, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return invalid(field, "must contain only [A-Za-z0-9._-], got %q at %d", c, i)
		}
	}
	return nil
}

// checkName: valid UTF-8 without control characters, up to max bytes (optional when
// required is false).
func checkName(field, s string, maxLen int, required bool) error {
	if len(s) == 0 {
		if required {
			return invalid(field, "must not be empty")
		}
		return nil
	}
	if len(s) > maxLen {
		return invalid(field, "must be at most %d bytes, got %d", maxLen, len(s))
	}
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return invalid(field, "must not contain control characters")
		}
	}
	return nil
}

func checkBytes(field string, b []byte, maxLen int) error {
	if len(b) > maxLen {
		return invalid(field, "must be at most %d bytes, got %d", maxLen, len(b))
	}
	return nil
}

func checkDuration(field string, d *durationpb.Duration) error {
	if d == nil {
		return nil
	}
	if err := d.CheckValid(); err != nil {
		return invalid(field, "invalid duration: %v", err)
	}
	if d.AsDuration() < 0 {
		return invalid(field, "must not be negative, got %s", d.AsDuration())
	}
	return nil
}

// priorityLevels returns a queue's levels (the handler asks the engine).
type priorityLevels func(ns, queue string) int

// workerFields are the fields by which a worker names itself in polls and heartbeats.
type workerFields interface {
	GetNamespace() string
	GetQueue() string
	GetKind() matchingv1.TaskKind
	GetWorkerIdentity() string
	GetPool() string
	GetVersion() string
}

// checkQueueAndKind validates the namespace, queue and kind a request names.
func checkQueueAndKind(namespace, queue string, kind matchingv1.TaskKind) error {
	if err := checkNamespace("namespace", namespace); err != nil {
		return err
	}
	if err := checkQueue("queue", queue); err != nil {
		return err
	}
	switch kind {
	case matchingv1.TaskKind_TASK_KIND_UNSPECIFIED, matchingv1.TaskKind_TASK_KIND_ACTIVITY, matchingv1.TaskKind_TASK_KIND_WORKFLOW:
		return nil
	default:
		return invalid("kind", "unknown kind %d", kind)
	}
}

func (l Limits) checkWorker(r workerFields) error {
	if err := checkQueueAndKind(r.GetNamespace(), r.GetQueue(), r.GetKind()); err != nil {
		return err
	}
	if err := checkName("worker_identity", r.GetWorkerIdentity(), l.MaxNameLength, true); err != nil {
		return err
	}
	if err := checkName("pool", r.GetPool(), l.MaxNameLength, false); err != nil {
		return err
	}
	return checkName("version", r.GetVersion(), l.MaxNameLength, false)
}

func (l Limits) checkPoll(r *matchingv1.PollTasksRequest, levels priorityLevels) error {
	if err := l.checkWorker(r); err != nil {
		return err
	}
	if m := r.GetMaxTasks(); m < 1 || m > 1000 {
		return invalid("max_tasks", "must be 1..1000, got %d", m)
	}
	if err := checkCapabilities("capabilities", r.GetCapabilities(), maxWorkerCapabilities); err != nil {
		return err
	}
	if len(r.GetTaskTypes()) > 1000 {
		return invalid("task_types", "must list at most 1000 types, got %d", len(r.GetTaskTypes()))
	}
	for i, s := range r.GetTaskTypes() {
		if err := checkName(fmt.Sprintf("task_types[%d]", i), s, l.MaxNameLength, true); err != nil {
			return err
		}
	}
	if len(r.GetPriorities()) > 0 {
		n := levels(r.GetNamespace(), r.GetQueue())
		for i, p := range r.GetPriorities() {
			if p < 1 || int(p) > n {
				return invalid(fmt.Sprintf("priorities[%d]", i), "must be 1..%d, got %d", n, p)
			}
		}
	}
	if tps := r.GetTasksPerSecond(); tps < 0 || tps != tps || tps > 1e9 {
		return invalid("tasks_per_second", "must be 0 (none) or a positive rate, got %v", tps)
	}
	return checkMaxSessions(r.GetMaxSessions())
}

// checkAttempt validates the fields every call about a running attempt carries.
func (l Limits) checkAttempt(ns, taskID, leaseID, identity string) error {
	if err := checkNamespace("namespace", ns); err != nil {
		return err
	}
	if err := checkName("task_id", taskID, l.MaxNameLength, true); err != nil {
		return err
	}
	if err := checkName("lease_id", leaseID, 64, true); err != nil {
		return err
	}
	return checkName("worker_identity", identity, l.MaxNameLength, false)
}

func (l Limits) checkFailure(f *matchingv1.Failure) error {
	if f == nil {
		return nil
	}
	if len(f.GetMessage()) > maxMessageLength {
		return invalid("failure.message", "must be at most %d bytes, got %d", maxMessageLength, len(f.GetMessage()))
	}
	if err := checkName("failure.error_type", f.GetErrorType(), l.MaxNameLength, false); err != nil {
		return err
	}
	return checkBytes("failure.details", f.GetDetails(), l.MaxPayloadBytes)
}
