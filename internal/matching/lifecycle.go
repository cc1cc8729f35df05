package matching

import (
	"context"
	"errors"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/storage"
)

// Failure error types the engine itself records when an attempt or a task times out.
const (
	ErrorTypeStartToCloseTimeout    = "StartToCloseTimeout"
	ErrorTypeHeartbeatTimeout       = "HeartbeatTimeout"
	ErrorTypeScheduleToStartTimeout = "ScheduleToStartTimeout"
)

func notFound(ns, id string) error {
	return status.Errorf(codes.NotFound, "task_id: task %q not found in namespace %q", id, ns)
}

func internalErr(err error) error {
	if errors.Is(err, storage.ErrClosed) {
		return status.Error(codes.Unavailable, errEngineClosed.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// lookupOrErr is lookup with protocol errors. Call with the shard locked.
func (e *Engine) lookupOrErr(s *shard, key, ns, id string) (*task, error) {
	t, err := e.tasks.lookup(s, key, ns, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, notFound(ns, id)
	}
	if err != nil {
		return nil, internalErr(err)
	}
	return t, nil
}

// attemptLocked returns the running task whose current lease is leaseID and is held by
// `by`. Call with the shard locked.
func (e *Engine) attemptLocked(s *shard, key, ns, id, leaseID string, by Owner) (*task, error) {
	t, err := e.lookupOrErr(s, key, ns, id)
	if err != nil {
		return nil, err
	}
	// The lease decides whether the attempt is still running (FailedPrecondition when not,
	// whoever asks); only a current lease is checked for its owner (PermissionDenied).
	lease, ok := parseLease(leaseID)
	if t.state != stateStarted || !ok || lease != t.lease {
		s.evict(key, t)
		return nil, status.Errorf(codes.FailedPrecondition,
			"lease_id: lease %q is not the current attempt of task %q (state %s, attempt %d)",
			leaseID, id, matchingv1.TaskState(t.state), t.attempt)
	}
	if !t.owner.permits(by) {
		s.evict(key, t)
		return nil, leasedToAnother(id)
	}
	return t, nil
}

// mutate runs fn on one task under its shard lock, commits the op fn returns (if any) and
// waits until it is durable.
func (e *Engine) mutate(ns, id string, fn func(s *shard, key string) (*task, *op, error)) error {
	key := taskKey(ns, id)
	s, _ := e.tasks.shard(key)
	s.mu.Lock()
	t, o, err := fn(s, key)
	if err != nil || o == nil {
		if t != nil {
			s.evict(key, t)
		}
		s.mu.Unlock()
		return err
	}
	st := staged{ops: make([]op, 0, 1)}
	st.add(*o)
	if err := e.commitAndWait(&st, s.mu.Unlock); err != nil {
		return internalErr(err)
	}
	return nil
}

// CompleteAs ends a started attempt successfully; by must own the lease.
func (e *Engine) CompleteAs(ns, id, leaseID string, by Owner, result []byte) error {
	return e.mutate(ns, id, func(s *shard, key string) (*task, *op, error) {
		t, err := e.attemptLocked(s, key, ns, id, leaseID, by)
		if err != nil {
			return nil, nil, err
		}
		t.result = result
		o := e.finish(t, stateCompleted, e.now())
		return t, &o, nil
	})
}

// CompleteManyAs completes a batch in one durable write; each item fails on its own. The
// principal and each item's worker identity must own the item's lease.
func (e *Engine) CompleteManyAs(reqs []*matchingv1.CompleteTaskRequest, principal string) []*matchingv1.ItemError {
	errs, w := e.CompleteManyBegin(reqs, principal)
	w.Wait(errs)
	return errs
}

// CompleteManyBegin is CompleteManyAs without the wait: it stages the completions, enqueues
// their write and returns the items' errors known so far and the write. The caller must
// call Wait once (it releases the tasks); until then the completions are not durable.
func (e *Engine) CompleteManyBegin(reqs []*matchingv1.CompleteTaskRequest, principal string) ([]*matchingv1.ItemError, *PendingWrite) {
	errs := make([]*matchingv1.ItemError, len(reqs))
	keys := completionKeys(reqs)
	var set shardSet
	for _, k := range keys {
		set[e.tasks.index(k)] = true
	}
	e.tasks.lockAll(&set)
	now := e.now()
	st := staged{ops: make([]op, 0, len(reqs)), cause: storage.CauseOutcome}
	for i, r := range reqs {
		s, _ := e.tasks.shard(keys[i])
		t, err := e.attemptLocked(s, keys[i], r.GetNamespace(), r.GetTaskId(), r.GetLeaseId(), Owner{Principal: principal, Identity: r.GetWorkerIdentity()})
		if err != nil {
			errs[i] = itemError(err)
			continue
		}
		t.result = r.GetResult()
		st.add(e.finish(t, stateCompleted, now))
	}
	return errs, e.commitEnqueue(&st, func() { e.tasks.unlockAll(&set) })
}

func itemError(err error) *matchingv1.ItemError {
	st := status.Convert(err)
	return &matchingv1.ItemError{Code: int32(st.Code()), Message: st.Message()}
}

// retryable reports whether a failed or timed-out attempt may be retried.
func retryable(t *task, f *failure) bool {
	if f.nonRetryable || slices.Contains(t.retry.nonRetryable, f.errorType) {
		return false
	}
	if t.retry.maxAttempts > 0 && t.attempt >= t.retry.maxAttempts {
		return false
	}
	return !t.cancelRequested
}

// endAttemptLocked ends the running attempt with f: the task is scheduled for a retry after
// the backoff, or ends in finalState. Call with the shard locked.
func (e *Engine) endAttemptLocked(t *task, f *failure, finalState uint8, now time.Time) op {
	t.failure = f
	if !retryable(t, f) {
		return e.finish(t, finalState, now)
	}
	if e.unknownTypeExhausted(t, f) {
		return e.endUnknownTypeLocked(t, f, now)
	}
	wait := backoff(t.retry, t.attempt)
	if wait <= 0 {
		return e.readyLocked(t, now)
	}
	t.state = stateScheduled
	t.s2cDeadline, t.hbDeadline, t.s2sDeadline = 0, 0, 0
	t.retryAt = now.Add(wait).UnixNano()
	return e.prepare(t)
}

// FailAs ends an attempt with a failure and retries per the task's policy.
func (e *Engine) FailAs(ns, id, leaseID string, by Owner, f *matchingv1.Failure) (*matchingv1.FailTaskResponse, error) {
	resp := &matchingv1.FailTaskResponse{}
	err := e.mutate(ns, id, func(s *shard, key string) (*task, *op, error) {
		t, err := e.attemptLocked(s, key, ns, id, leaseID, by)
		if err != nil {
			return nil, nil, err
		}
		e.metrics.failedAttempt(t, "Failed")
		now := e.now()
		fl := failureFrom(f)
		o := e.endAttemptLocked(t, fl, stateFailed, now)
		if fl.errorType == ErrorTypeUnknownTaskType {
			e.unknownTypes.record(t, by.Identity, t.finished(), now.UnixNano())
		}
		resp.State = matchingv1.TaskState(t.state)
		if t.state == stateScheduled {
			at := t.retryAt
			if at == 0 {
				at = t.readyAt
			}
			resp.NextAttemptTime = timestamppb.New(time.Unix(0, at))
		}
		return t, &o, nil
	})
	return resp, err
}

// HeartbeatAs records details of a running attempt and extends its heartbeat deadline.
func (e *Engine) HeartbeatAs(ns, id, leaseID string, by Owner, details []byte) (cancelRequested bool, err error) {
	err = e.mutate(ns, id, func(s *shard, key string) (*task, *op, error) {
		t, err := e.attemptLocked(s, key, ns, id, leaseID, by)
		if err != nil {
			return nil, nil, err
		}
		if details != nil {
			t.hbDetails = details
		}
		if t.heartbeat > 0 {
			t.hbDeadline = e.now().Add(t.heartbeat).UnixNano()
		}
		cancelRequested = t.cancelRequested
		o := e.prepare(t)
		return t, &o, nil
	})
	return cancelRequested, err
}

// ReportCanceledAs ends a started task whose cancellation was requested.
func (e *Engine) ReportCanceledAs(ns, id, leaseID string, by Owner, details []byte) error {
	return e.mutate(ns, id, func(s *shard, key string) (*task, *op, error) {
		t, err := e.attemptLocked(s, key, ns, id, leaseID, by)
		if err != nil {
			return nil, nil, err
		}
		if !t.cancelRequested {
			return t, nil, status.Errorf(codes.FailedPrecondition, "task_id: cancellation of task %q was not requested", id)
		}
		if details != nil {
			t.hbDetails = details
		}
		o := e.finish(t, stateCanceled, e.now())
		return t, &o, nil
	})
}

// ReleaseAs hands a started task back to the queue; the attempt does not count.
func (e *Engine) ReleaseAs(ns, id, leaseID string, by Owner) error {
	return e.mutate(ns, id, func(s *shard, key string) (*task, *op, error) {
		t, err := e.attemptLocked(s, key, ns, id, leaseID, by)
		if err != nil {
			return nil, nil, err
		}
		t.attempt--
		o := e.readyLocked(t, e.now())
		return t, &o, nil
	})
}

// release is Release by numeric lease (a poll that went away).
func (e *Engine) release(ns, id string, lease uint64, now time.Time) error {
	return e.mutate(ns, id, func(s *shard, key string) (*task, *op, error) {
		t, err := e.lookupOrErr(s, key, ns, id)
		if err != nil {
			return nil, nil, err
		}
		if t.state != stateStarted || t.lease != lease {
			return t, nil, nil
		}
		t.attempt--
		o := e.readyLocked(t, now)
		return t, &o, nil
	})
}

// unbufferLocked takes a scheduled task out of its queue's backlog accounting. Call with
// the shard locked.
func (e *Engine) unbufferLocked(t *task) {
	inBuffer := t.inq.CompareAndSwap(inqBuffer, inqNone)
	if !inBuffer && (t.seq == 0 || t.inq.Load() == inqClaimed) {
		return
	}
	if q := e.loadedQueue(t.ns, t.queue); q != nil {
		q.forget(t)
	}
}

// Cancel requests cancellation: a scheduled task ends Canceled at once, a started one
// learns it from its next heartbeat, a finished one is left alone.
func (e *Engine) Cancel(ns, id, reason string) (matchingv1.TaskState, error) {
	var state matchingv1.TaskState
	err := e.mutate(ns, id, func(s *shard, key string) (*task, *op, error) {
		t, err := e.lookupOrErr(s, key, ns, id)
		if err != nil {
			return nil, nil, err
		}
		switch t.state {
		case stateScheduled:
			e.unbufferLocked(t)
			t.cancelRequested, t.cancelReason = true, reason
			o := e.finish(t, stateCanceled, e.now())
			state = matchingv1.TaskState_TASK_STATE_CANCELED
			return t, &o, nil
		case stateStarted:
			state = matchingv1.TaskState_TASK_STATE_STARTED
			if t.cancelRequested {
				return t, nil, nil
			}
			t.cancelRequested, t.cancelReason = true, reason
			o := e.prepare(t)
			return t, &o, nil
		default:
			state = matchingv1.TaskState(t.state)
			return t, nil, nil
		}
	})
	return state, err
}

// maxGetWait bounds GetTask's wait.
const maxGetWait = time.Minute

// Get returns a task's state; with wait > 0 it first waits (notified, not polling) until
// the task is finished, wait elapses or ctx ends.
func (e *Engine) Get(ctx context.Context, ns, id string, wait time.Duration) (*matchingv1.TaskInfo, error) {
	key := taskKey(ns, id)
	s, _ := e.tasks.shard(key)
	s.mu.Lock()
	t, err := e.lookupOrErr(s, key, ns, id)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if wait <= 0 || t.finished() {
		info := t.info()
		s.evict(key, t)
		s.mu.Unlock()
		return info, nil
	}
	ch := make(chan struct{})
	t.waiters = append(t.waiters, ch)
	s.mu.Unlock()

	timer := e.clock.NewTimer(min(wait, maxGetWait))
	defer timer.Stop()
	select {
	case <-ch:
	case <-timer.C():
	case <-ctx.Done():
	case <-e.closing:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(t.waiters, ch); i >= 0 {
		t.waiters = slices.Delete(t.waiters, i, i+1)
	}
	info := t.info()
	s.evict(key, t)
	if ctx.Err() != nil && !t.finished() {
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return info, nil
}
