package matching

import (
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

func leaseString(l uint64) string { return strconv.FormatUint(l, 36) }

func parseLease(s string) (uint64, bool) {
	v, err := strconv.ParseUint(s, 36, 64)
	return v, err == nil && v != 0
}

func ts(ns int64) *timestamppb.Timestamp {
	if ns == 0 {
		return nil
	}
	return timestamppb.New(time.Unix(0, ns))
}

func kindProto(k uint8) matchingv1.TaskKind {
	if k == kindWorkflow {
		return matchingv1.TaskKind_TASK_KIND_WORKFLOW
	}
	return matchingv1.TaskKind_TASK_KIND_ACTIVITY
}

func kindOf(k matchingv1.TaskKind) uint8 {
	if k == matchingv1.TaskKind_TASK_KIND_WORKFLOW {
		return kindWorkflow
	}
	return kindActivity
}

func (f *failure) proto() *matchingv1.Failure {
	if f == nil {
		return nil
	}
	return &matchingv1.Failure{Message: f.message, ErrorType: f.errorType, NonRetryable: f.nonRetryable, Details: f.details}
}

func failureFrom(f *matchingv1.Failure) *failure {
	if f == nil {
		return &failure{}
	}
	return &failure{message: f.GetMessage(), errorType: f.GetErrorType(), nonRetryable: f.GetNonRetryable(), details: f.GetDetails()}
}

// workerTask holds a dispatched task's message and its time fields in one allocation
// (one per dispatch instead of five).
type workerTask struct {
	task                matchingv1.Task
	scheduled, started  timestamppb.Timestamp
	startToClose, heart durationpb.Duration
}

// toWorkerTask is the started attempt as handed to a worker. Call with the shard locked.
func (t *task) toWorkerTask() *matchingv1.Task {
	w := &workerTask{}
	out := &w.task
	out.Namespace, out.Queue, out.Kind, out.TaskId, out.TaskType = t.ns, t.queue, kindProto(t.kind), t.id, t.taskType
	out.Payload, out.Priority, out.Attempt, out.LeaseId = t.payload, int32(t.priority), t.attempt, leaseString(t.lease)
	out.HeartbeatDetails, out.Headers, out.LastFailure = t.hbDetails, t.headers, t.failure.proto()
	out.SessionId = t.session
	out.FairnessKey = t.fairKey
	out.ScheduledTime = setTS(&w.scheduled, t.scheduledAt)
	out.StartedTime = setTS(&w.started, t.startedAt)
	if t.startToClose > 0 {
		out.StartToCloseTimeout = setDuration(&w.startToClose, t.startToClose)
	}
	if t.heartbeat > 0 {
		out.HeartbeatTimeout = setDuration(&w.heart, t.heartbeat)
	}
	return out
}

func setTS(dst *timestamppb.Timestamp, ns int64) *timestamppb.Timestamp {
	if ns == 0 {
		return nil
	}
	dst.Seconds, dst.Nanos = ns/1e9, int32(ns%1e9)
	if dst.Nanos < 0 {
		dst.Seconds, dst.Nanos = dst.Seconds-1, dst.Nanos+1e9
	}
	return dst
}

func setDuration(dst *durationpb.Duration, d time.Duration) *durationpb.Duration {
	dst.Seconds, dst.Nanos = int64(d/time.Second), int32(d%time.Second)
	return dst
}

// info is the task's state for GetTask. Call with the shard locked.
func (t *task) info() *matchingv1.TaskInfo {
	return &matchingv1.TaskInfo{
		Namespace: t.ns, Queue: t.queue, Kind: kindProto(t.kind), TaskId: t.id, TaskType: t.taskType,
		State: matchingv1.TaskState(t.state), Priority: int32(t.priority), Attempt: t.attempt,
		Result: t.result, Failure: t.failure.proto(), HeartbeatDetails: t.hbDetails, CancelRequested: t.cancelRequested,
		ScheduledTime: ts(t.scheduledAt), StartedTime: ts(t.startedAt), ClosedTime: ts(t.closedAt),
		Requires: capabilitiesProto(t.requires), Prefers: preferencesProto(t.prefers), Payload: t.payload, SessionId: t.session,
		FairnessKey: t.fairKey, FairnessWeight: t.fairWeight,
	}
}

// summary is the task's state for ListTasks: info without the bytes (payload, result,
// heartbeat and failure details), so a page of 1000 tasks stays small. Call with the
// shard locked.
func (t *task) summary() *matchingv1.TaskInfo {
	info := t.info()
	info.Payload, info.Result, info.HeartbeatDetails = nil, nil, nil
	if info.Failure != nil {
		info.Failure.Details = nil
	}
	return info
}
