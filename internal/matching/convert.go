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

// toWorkerTask is the started attempt as handed to a worker. Call with the shard locked.
func (t *task) toWorkerTask() *matchingv1.Task {
	out := &matchingv1.Task{
		Namespace: t.ns, Queue: t.queue, Kind: kindProto(t.kind), TaskId: t.id, TaskType: t.taskType,
		Payload: t.payload, Priority: int32(t.priority), Attempt: t.attempt, LeaseId: leaseString(t.lease),
		HeartbeatDetails: t.hbDetails, ScheduledTime: ts(t.scheduledAt), StartedTime: ts(t.startedAt),
		Headers: t.headers, LastFailure: t.failure.proto(),
	}
	if t.startToClose > 0 {
		out.StartToCloseTimeout = durationpb.New(t.startToClose)
	}
	if t.heartbeat > 0 {
		out.HeartbeatTimeout = durationpb.New(t.heartbeat)
	}
	return out
}

// info is the task's state for GetTask. Call with the shard locked.
func (t *task) info() *matchingv1.TaskInfo {
	return &matchingv1.TaskInfo{
		Namespace: t.ns, Queue: t.queue, Kind: kindProto(t.kind), TaskId: t.id, TaskType: t.taskType,
		State: matchingv1.TaskState(t.state), Priority: int32(t.priority), Attempt: t.attempt,
		Result: t.result, Failure: t.failure.proto(), HeartbeatDetails: t.hbDetails, CancelRequested: t.cancelRequested,
		ScheduledTime: ts(t.scheduledAt), StartedTime: ts(t.startedAt), ClosedTime: ts(t.closedAt),
	}
}
