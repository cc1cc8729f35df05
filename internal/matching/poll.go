package matching

import (
	"context"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// pollReturnMargin is how long before the call's deadline an empty poll returns, so the
// empty answer reaches the worker before its deadline; jitter spreads the re-polls.
const (
	pollReturnMargin = time.Second
	pollJitter       = 100 * time.Millisecond
)

// pollWait is how long a poll may wait given its context deadline.
func (e *Engine) pollWait(ctx context.Context) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return e.opts.MaxPollWait
	}
	left := time.Until(dl)
	w := left - pollReturnMargin - time.Duration(rand.Int64N(int64(pollJitter)))
	if w < left/2 {
		// Short deadlines (tests, impatient clients) keep half of their time as margin.
		w = left / 2
	}
	return min(w, e.opts.MaxPollWait)
}

// Poll long-polls a validated request for up to MaxTasks tasks. It returns an empty list
// shortly before the deadline, and an error only when the caller went away or the engine
// stopped serving (then the list is empty too).
func (e *Engine) Poll(ctx context.Context, req *matchingv1.PollTasksRequest) ([]*matchingv1.Task, error) {
	kind := kindActivity
	if req.GetKind() == matchingv1.TaskKind_TASK_KIND_WORKFLOW {
		kind = kindWorkflow
	}
	var mask uint16
	for _, p := range req.GetPriorities() {
		mask |= 1 << uint(p)
	}
	if mask == 0 {
		mask = 0xffff
	}
	var q *queueManager
	owner := Owner{Principal: principalFrom(ctx), Identity: req.GetWorkerIdentity()}
	timer := time.NewTimer(e.pollWait(ctx))
	defer timer.Stop()

	var out []*matchingv1.Task
	var got []gotTask
	for {
		now := e.now()
		nowNs := now.UnixNano()
		q = e.lockQueue(req.GetNamespace(), req.GetQueue())
		q.touchLocked(nowNs)
		w := q.pollerLocked(req, kind, nowNs)
		if w.stoppedFor(owner, nowNs) {
			// The worker is shutting down (ShutdownWorker): a poll it sent before, or a
			// waiting one that was woken, returns without taking tasks.
			q.mu.Unlock()
			return nil, nil
		}
		allowed := int(req.GetMaxTasks())
		if w.tps > 0 {
			allowed = min(allowed, w.bucket.available(nowNs))
		}
		if allowed == 0 {
			// The worker is over its own declared rate: hold the poll until a token is due.
			wait := w.bucket.wait(nowNs)
			q.mu.Unlock()
			tw := time.NewTimer(wait)
			select {
			case <-tw.C:
				continue
			case <-timer.C:
				tw.Stop()
				return nil, nil
			case <-ctx.Done():
				tw.Stop()
				return nil, status.FromContextError(ctx.Err()).Err()
			case <-e.closing:
				tw.Stop()
				return nil, nil
			}
		}
		sq := q.sub(kind)
		// Make sure the levels exist (and their disk backlog is counted and paged in).
		for p := 1; p <= maxLevels; p++ {
			if mask&(1<<p) != 0 && sq.levels[p] == nil && p <= max(q.cfg.PriorityLevels, 1) {
				q.levelLocked(sq, kind, uint8(p))
			}
		}
		got = q.takeLocked(kind, mask, allowed, w, got[:0])
		if len(got) == 0 {
			p := &poller{kind: kind, mask: mask, max: allowed, done: make(chan struct{}), worker: w, waiting: true, owner: owner}
			sq.waiting = append(sq.waiting, p)
			q.mu.Unlock()
			var expired, canceled bool
			select {
			case <-p.done:
			case <-timer.C:
				expired = true
			case <-ctx.Done():
				canceled = true
			case <-e.closing:
				expired = true
			}
			q.mu.Lock()
			q.removeWaitingLocked(p)
			got = append(got[:0], p.got...)
			p.got = nil
			q.mu.Unlock()
			if canceled {
				e.requeue(got)
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			if len(got) == 0 {
				if expired {
					return nil, nil
				}
				continue
			}
		} else {
			q.mu.Unlock()
		}
		if ctx.Err() != nil {
			// The caller went away while the tasks were being handed over (a wake-up can
			// race the deadline, and a poll that found tasks at once never looked): the
			// answer would be dropped and the tasks would wait for their start-to-close
			// timeout, so they go back to the queue now.
			e.requeue(got)
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		out = e.startClaimed(got, now, q, owner, out[:0])
		if len(out) > 0 {
			if ctx.Err() != nil {
				// Same, for a caller that went away while the attempts were being started.
				e.releaseStarted(out, e.now())
				return nil, status.FromContextError(ctx.Err()).Err()
			}
			return out, nil
		}
	}
}

// releaseStarted hands back attempts a poll started but cannot deliver.
func (e *Engine) releaseStarted(out []*matchingv1.Task, now time.Time) {
	for _, t := range out {
		lease, _ := parseLease(t.LeaseId)
		_ = e.release(t.Namespace, t.TaskId, lease, now)
	}
}

// startClaimed starts the tasks a poll claimed from the backlog (tasks the adder already
// started are passed through). The start is written without waiting: if it is lost in a
// crash, the task is still in the durable backlog and runs again (at least once).
func (e *Engine) startClaimed(got []gotTask, now time.Time, q *queueManager, owner Owner, out []*matchingv1.Task) []*matchingv1.Task {
	for _, g := range got {
		if g.out != nil {
			out = append(out, g.out)
			continue
		}
		t := g.t
		key := taskKey(t.ns, t.id)
		s := e.shardOf(key)
		s.mu.Lock()
		if t.state != stateScheduled || !t.inq.CompareAndSwap(inqClaimed, inqNone) {
			t.inq.CompareAndSwap(inqClaimed, inqNone)
			s.evict(key, t)
			s.mu.Unlock()
			continue
		}
		seq := t.seq
		t.seq = 0
		t.owner = owner
		out = append(out, e.startLocked(t, now, q))
		o := e.prepare(t)
		o.delBacklog = seq
		e.commitAsync(o)
		s.mu.Unlock()
	}
	return out
}

// requeue gives tasks handed to a poll that went away back to the queue. Started ones are
// released as if the worker called ReleaseTask.
func (e *Engine) requeue(got []gotTask) {
	now := e.now()
	for _, g := range got {
		if g.out == nil {
			t := g.t
			q := e.lockQueue(t.ns, t.queue)
			if t.inq.CompareAndSwap(inqClaimed, inqBuffer) {
				l := q.levelLocked(q.sub(t.kind), t.kind, t.priority)
				l.count++
				l.push(t)
				q.dispatchWaitingLocked(t.kind)
			}
			q.mu.Unlock()
			continue
		}
		e.releaseStarted([]*matchingv1.Task{g.out}, now)
	}
}

// pollerLocked records the poller and returns its per-identity state.
func (q *queueManager) pollerLocked(req *matchingv1.PollTasksRequest, kind uint8, now int64) *pollerInfo {
	if q.pollers == nil {
		q.pollers = map[string]*pollerInfo{}
	}
	id := req.GetWorkerIdentity()
	w := q.pollers[id]
	if w == nil {
		w = &pollerInfo{identity: id}
		q.pollers[id] = w
	}
	w.pool, w.version, w.kind, w.lastAccess = req.GetPool(), req.GetVersion(), kind, now
	if len(req.GetTaskTypes()) != len(w.taskTypes) {
		w.taskTypes = append([]string(nil), req.GetTaskTypes()...)
	}
	if tps := req.GetTasksPerSecond(); tps != w.tps {
		w.tps = tps
		burst := max(1, int(tps/10))
		w.bucket.configure(tps, burst, now)
	}
	return w
}
