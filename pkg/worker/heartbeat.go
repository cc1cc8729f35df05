package worker

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
)

// Heartbeat records progress details (kept for a retry of this task) and tells the service
// the attempt is alive. When the task has a heartbeat timeout, the worker also heartbeats
// on its own with the latest details, and calls closer together than a fraction of that
// timeout only record the details for the next automatic one. When cancellation was
// requested, Heartbeat cancels the task's context with cause ErrCancelRequested and
// returns that error; when the lease is lost, it cancels with ErrLeaseLost. A transient
// failure (the service unreachable, e.g. restarting) of a task with a heartbeat timeout
// returns nil: the details stay pending and the automatic heartbeat retries them at once,
// with backoff, until the heartbeat deadline.
func (t *Task) Heartbeat(ctx context.Context, details []byte) error {
	t.mu.Lock()
	h := t.ensureExtras()
	h.details = details
	h.detailsPending = true
	throttle := t.w.heartbeatInterval(t) / 2
	if throttle > 0 && time.Since(h.lastSent) < throttle {
		t.mu.Unlock()
		return nil
	}
	t.mu.Unlock()
	err := t.sendHeartbeat(ctx)
	if err != nil && t.w.heartbeatInterval(t) > 0 && client.IsRetryable(err) && ctx.Err() == nil {
		select {
		case t.retryNow <- struct{}{}:
		default:
		}
		return nil
	}
	return err
}

// sendHeartbeat sends the latest details (possibly none). The call is bounded by the call
// timeout and by the heartbeat deadline (at least minHeartbeatCall), so a hanging call
// cannot hold up the retries. A transient failure leaves the details pending.
func (t *Task) sendHeartbeat(ctx context.Context) error {
	t.mu.Lock()
	h := t.ensureExtras()
	details := h.details
	h.detailsPending = false
	h.lastSent = time.Now()
	t.mu.Unlock()

	timeout := min(t.w.callTimeout(), max(time.Until(t.heartbeatDeadline()), minHeartbeatCall))
	if t.HeartbeatTimeout <= 0 {
		timeout = t.w.callTimeout()
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := t.w.rpc.HeartbeatTask(cctx, &matchingv1.HeartbeatTaskRequest{
		Namespace: t.Namespace, TaskId: t.ID, LeaseId: t.LeaseID, Details: details,
		WorkerIdentity: t.w.identity,
	})
	if err != nil {
		if leaseLost(err) {
			t.cancel(ErrLeaseLost)
			return ErrLeaseLost
		}
		t.mu.Lock()
		h.detailsPending = true
		t.mu.Unlock()
		return err
	}
	t.mu.Lock()
	h.lastAcked = time.Now()
	t.mu.Unlock()
	if resp.GetCancelRequested() {
		t.mu.Lock()
		h.cancelRequested = true
		t.mu.Unlock()
		t.cancel(ErrCancelRequested)
		return ErrCancelRequested
	}
	return nil
}

// minHeartbeatCall is the shortest bound of a heartbeat call near or past its deadline.
const minHeartbeatCall = 200 * time.Millisecond

// heartbeatDeadline is when the service times the attempt out unless a heartbeat arrives.
func (t *Task) heartbeatDeadline() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ensureExtras().lastAcked.Add(t.HeartbeatTimeout)
}

// autoHeartbeat heartbeats every interval until ctx ends. A heartbeat that fails
// transiently is retried at once with a short backoff (at most a fifth of the interval)
// until it gets through or the heartbeat deadline passes, so a brief outage of the service
// (a restart) does not cost the attempt.
func (t *Task) autoHeartbeat(ctx context.Context, interval time.Duration) {
	timer := time.NewTimer(interval)
	defer timer.Stop()
	retry := newHeartbeatBackoff(interval)
	retrying := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-t.retryNow:
			retrying = true
		}
		t.mu.Lock()
		h := t.ensureExtras()
		due := retrying || time.Since(h.lastSent) >= interval || h.detailsPending
		t.mu.Unlock()
		next := interval
		if due {
			err := t.sendHeartbeat(ctx)
			retrying = false
			switch {
			case err == nil:
				retry.reset()
			case ctx.Err() != nil || errors.Is(err, ErrLeaseLost) || errors.Is(err, ErrCancelRequested):
				return
			default:
				if d := retry.next(); time.Now().Add(d).Before(t.heartbeatDeadline()) {
					next, retrying = d, true
					t.w.log.V(1).Info("Heartbeat failed; retrying", "taskID", t.ID, "error", err.Error(), "retryIn", d)
				} else {
					t.w.log.Info("Heartbeat failed until its deadline; the attempt may time out", "taskID", t.ID, "error", err.Error())
				}
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// heartbeatBackoff doubles from 25ms up to a fifth of the heartbeat interval, with jitter.
type heartbeatBackoff struct {
	b   *backoff
	max time.Duration
}

func newHeartbeatBackoff(interval time.Duration) *heartbeatBackoff {
	return &heartbeatBackoff{b: &backoff{d: 25 * time.Millisecond}, max: max(interval/5, 25*time.Millisecond)}
}

func (h *heartbeatBackoff) next() time.Duration { return min(h.b.next(), h.max) }

func (h *heartbeatBackoff) reset() { h.b.d = 25 * time.Millisecond }

// leaseLost tells whether the service refused a call because this attempt is no longer
// ours: its lease is stale (FailedPrecondition: it timed out, was released or re-leased),
// the task is gone (NotFound), or the current lease is held by another principal
// (PermissionDenied). Any later report about the attempt would be refused the same way.
func leaseLost(err error) bool {
	switch status.Code(err) {
	case codes.FailedPrecondition, codes.NotFound, codes.PermissionDenied:
		return true
	}
	return false
}
