package worker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
)

// HeaderParentTaskID is set on tasks scheduled through Task.Client, naming the task that
// scheduled them.
const HeaderParentTaskID = "taskroute-parent-task-id"

// Causes of a task context's cancellation (context.Cause(ctx)).
var (
	// ErrCancelRequested: a caller asked to cancel the task (seen through a heartbeat).
	// A handler that returns after it ends the task as Canceled.
	ErrCancelRequested = errors.New("task cancellation requested")
	// ErrLeaseLost: the service no longer counts this attempt as running (it timed out and
	// may run elsewhere); its result will be refused.
	ErrLeaseLost = errors.New("task lease lost")
	// ErrWorkerStopping: the worker's graceful shutdown ran out of time and handed the
	// task back to the queue.
	ErrWorkerStopping = errors.New("worker stopping: task handed back")
)

// Task is one started attempt of a task, as a handler sees it.
type Task struct {
	Namespace string
	Queue     string
	Kind      client.Kind
	ID        string
	Type      string
	Payload   []byte
	Priority  int
	// FairnessKey is the task's fairness key ("" the default), e.g. to pass it on to
	// follow-up tasks.
	FairnessKey string
	// Attempt is 1 for the first attempt.
	Attempt int
	// HeartbeatDetails are the latest details recorded by earlier attempts, so a retry can
	// resume where the last one stopped; nil on a first attempt.
	HeartbeatDetails []byte
	// LastFailure is the failure of the previous attempt, if any.
	LastFailure         *client.Failure
	Headers             map[string]string
	ScheduledTime       time.Time
	StartedTime         time.Time
	StartToCloseTimeout time.Duration
	HeartbeatTimeout    time.Duration
	// LeaseID identifies this attempt; the SDK sends it with every call about the task.
	LeaseID string
	// SessionID is the session (client.CreateSession) the task was added to, if any: all
	// tasks of a session run on this worker process.
	SessionID string

	w   *Worker
	ctx taskContext // the handler's context

	// phase moves running -> reporting (the handler returned) or running -> released
	// (Stop handed it back); whoever moves it owns the outcome.
	phase atomic.Int32

	mu       sync.Mutex
	extras   *extras       // nil until the task heartbeats or is stopped (made at start with a heartbeat timeout)
	retryNow chan struct{} // a heartbeat failed transiently: retry it at once (nil without automatic heartbeats)

	// outcome is the completion of this attempt (newCompletion): inside the Task, so that
	// reporting it is no allocation of its own.
	outcome completion
}

// extras is the state only some tasks need (those that heartbeat, and those stopped by a
// cause of their own), kept out of Task so that every Task is smaller: a Task is
// allocated once per task, with its outcome, in the 576-byte size class
// (docs/benchmarks.md, "Allocations per task in the worker's process"). Guarded by the
// Task's mu.
type extras struct {
	details         []byte // latest details recorded in this attempt
	detailsPending  bool   // recorded but not yet sent
	cancelRequested bool
	lastSent        time.Time
	lastAcked       time.Time // start, or the last heartbeat the service accepted
	stopCause       error     // the first cause given to cancel (not the deadline's)
}

// ensureExtras returns the task's extras, making them on first use; t.mu held. A task
// with a heartbeat timeout has them from the start, so that its heartbeat deadline counts
// from then.
func (t *Task) ensureExtras() *extras {
	if t.extras == nil {
		t.extras = &extras{lastAcked: time.Now()}
	}
	return t.extras
}

const (
	phaseRunning int32 = iota
	phaseReporting
	phaseReleased
)

func newTask(w *Worker, p *matchingv1.Task) *Task {
	t := &Task{
		Namespace:        p.GetNamespace(),
		Queue:            p.GetQueue(),
		Kind:             client.KindFromProto(p.GetKind()),
		ID:               p.GetTaskId(),
		Type:             p.GetTaskType(),
		Payload:          p.GetPayload(),
		Priority:         int(p.GetPriority()),
		FairnessKey:      p.GetFairnessKey(),
		Attempt:          int(p.GetAttempt()),
		HeartbeatDetails: p.GetHeartbeatDetails(),
		LastFailure:      client.FailureFromProto(p.GetLastFailure()),
		Headers:          p.GetHeaders(),
		LeaseID:          p.GetLeaseId(),
		SessionID:        p.GetSessionId(),
		w:                w,
	}
	if ts := p.GetScheduledTime(); ts != nil {
		t.ScheduledTime = ts.AsTime()
	}
	if ts := p.GetStartedTime(); ts != nil {
		t.StartedTime = ts.AsTime()
	}
	if d := p.GetStartToCloseTimeout(); d != nil {
		t.StartToCloseTimeout = d.AsDuration()
	}
	if d := p.GetHeartbeatTimeout(); d != nil {
		t.HeartbeatTimeout = d.AsDuration()
	}
	if t.Namespace == "" {
		t.Namespace = w.client.Namespace()
	}
	if t.HeartbeatTimeout > 0 {
		t.ensureExtras() // the heartbeat deadline counts from the start
	}
	if w.heartbeatInterval(t) > 0 {
		t.retryNow = make(chan struct{}, 1) // only automatic heartbeats retry through it
	}
	return t
}

// Client returns a client for scheduling more tasks from inside this one: a task with no
// queue goes to this task's queue, and carries this task's id in the
// HeaderParentTaskID header.
func (t *Task) Client() *client.Client {
	return t.w.client.WithQueue(t.Queue, map[string]string{HeaderParentTaskID: t.ID})
}

// CancelRequested tells whether a heartbeat learned that cancellation was requested.
func (t *Task) CancelRequested() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.extras != nil && t.extras.cancelRequested
}

// cancel cancels the handler's context with cause (one of the Err* causes above); only
// the first cancellation counts.
func (t *Task) cancel(cause error) {
	t.mu.Lock()
	if x := t.ensureExtras(); x.stopCause == nil {
		x.stopCause = cause
	}
	t.mu.Unlock()
	t.ctx.cancel(context.Canceled, cause)
}

// canceledBy is the first cause given to cancel, nil if none: how the task was stopped
// apart from its deadline.
func (t *Task) canceledBy() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.extras == nil {
		return nil
	}
	return t.extras.stopCause
}
