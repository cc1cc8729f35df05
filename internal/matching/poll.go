package matching

import (
	"context"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
	"github.com/taskroute/taskroute/internal/storage"
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
	left := time.Until(dl) // the deadline is the caller's, on the wall clock
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
//
// A poll is three steps, repeated until it has tasks or time is up: claim buffered tasks
// from the queue; if there are none, park until a task is handed over; deliver what it got
// by starting the attempts, or give the tasks back if the caller is gone.
func (e *Engine) Poll(ctx context.Context, req *matchingv1.PollTasksRequest) ([]*matchingv1.Task, error) {
	pr := newPollRequest(req, Owner{Principal: principalFrom(ctx), Identity: req.GetWorkerIdentity()})
	deadline := e.clock.NewTimer(e.pollWait(ctx))
	defer deadline.Stop()
	var got []gotTask
	var out []*matchingv1.Task
	var rateWait time.Duration
	var res claimResult
	var err error
	for {
		q := e.queue(pr.ns, pr.queue)
		got, rateWait, res = q.claim(pr, e.now().UnixNano(), got[:0])
		switch {
		case res == unloaded:
			continue
		case res == stopped:
			return nil, nil
		case rateWait > 0:
			// The worker is over its own declared rate: hold the poll until a token is due.
			if end := e.waitFor(ctx, rateWait, deadline); end != nil {
				return nil, end.err
			}
			continue
		case len(got) == 0:
			var end *pollEnd
			if got, end = e.park(ctx, q, pr, deadline); end != nil && len(got) == 0 {
				return nil, end.err
			}
			if len(got) == 0 {
				continue // woken without tasks (they went to another poll): claim again
			}
		}
		out, err = e.deliver(ctx, got, q, pr.owner, out[:0])
		if err != nil || len(out) > 0 {
			return out, err
		}
	}
}

// pollEnd says why a poll stops waiting: err is nil when its time is up or the engine
// closes (an empty answer), the context's error when the caller went away.
type pollEnd struct{ err error }

var pollExpired = &pollEnd{}

// waitFor waits d, or less when the poll ends first.
func (e *Engine) waitFor(ctx context.Context, d time.Duration, deadline clock.Timer) *pollEnd {
	t := e.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-deadline.C():
		return pollExpired
	case <-ctx.Done():
		return &pollEnd{status.FromContextError(ctx.Err()).Err()}
	case <-e.closing:
		return pollExpired
	}
}

// park makes the poll wait in q's matcher until tasks are handed to it or the poll ends.
// Tasks handed over while it was ending are returned with the end; the caller gives them
// back if it cannot deliver them.
func (e *Engine) park(ctx context.Context, q *queueManager, pr *pollRequest, deadline clock.Timer) ([]gotTask, *pollEnd) {
	p := &poller{kind: pr.kind, mask: pr.mask, max: pr.maxTasks, done: make(chan struct{}), owner: pr.owner}
	switch q.park(p) {
	case unloaded:
		return nil, nil
	case stopped:
		return nil, pollExpired
	}
	var end *pollEnd
	select {
	case <-p.done:
	case <-deadline.C():
		end = pollExpired
	case <-ctx.Done():
		end = &pollEnd{status.FromContextError(ctx.Err()).Err()}
	case <-e.closing:
		end = pollExpired
	}
	return q.unpark(p), end
}

// deliver starts the attempts of the tasks a poll got, unless the caller is gone: then they
// go back to the queue (the answer would be dropped, and the tasks would wait for their
// start-to-close timeout).
func (e *Engine) deliver(ctx context.Context, got []gotTask, q *queueManager, owner Owner, out []*matchingv1.Task) ([]*matchingv1.Task, error) {
	if ctx.Err() != nil {
		// A wake-up can race the deadline, and a poll that found tasks at once never looked.
		e.giveBack(got)
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	now := e.now()
	out = e.startClaimed(got, now, q, owner, out)
	if len(out) > 0 && ctx.Err() != nil {
		// Same, for a caller that went away while the attempts were being started.
		e.releaseStarted(out, e.now())
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	return out, nil
}

// releaseStarted hands back attempts a poll started but cannot deliver.
func (e *Engine) releaseStarted(out []*matchingv1.Task, now time.Time) {
	for _, t := range out {
		lease, _ := parseLease(t.LeaseId)
		_ = e.release(t.Namespace, t.TaskId, lease, now)
	}
}

// startClaimed starts the tasks a poll claimed from the backlog (tasks the adder already
// started are passed through). The starts are written without waiting, all of the poll's
// in one enqueued write (one pass through the committer's lock, which an add holds while
// it stages its whole batch): if they are lost in a crash, the tasks are still in the
// durable backlog and run again (at least once). The shards of the tasks stay locked until
// the write is enqueued, so no other write of these tasks can overtake their start.
func (e *Engine) startClaimed(got []gotTask, now time.Time, q *queueManager, owner Owner, out []*matchingv1.Task) []*matchingv1.Task {
	var set shardSet
	for _, g := range got {
		if g.out == nil {
			set[e.tasks.index(g.t.key)] = true
		}
	}
	e.tasks.lockAll(&set)
	var ops []op
	for _, g := range got {
		if g.out != nil {
			out = append(out, g.out)
			continue
		}
		if w, o, started := e.startClaimedLocked(g.t, now, q, owner); started {
			out = append(out, w)
			ops = append(ops, o)
		}
	}
	e.commitAllAsync(storage.CauseStart, ops)
	e.tasks.unlockAll(&set)
	return out
}

// startClaimedLocked starts one claimed task unless it changed since the claim (canceled,
// taken back), and returns what the worker gets and the write to enqueue. Call with the
// task's shard locked.
func (e *Engine) startClaimedLocked(t *task, now time.Time, q *queueManager, owner Owner) (*matchingv1.Task, op, bool) {
	s, _ := e.tasks.shard(t.key)
	if t.state != stateScheduled || !t.inq.CompareAndSwap(inqClaimed, inqNone) {
		t.inq.CompareAndSwap(inqClaimed, inqNone)
		s.evict(t.key, t)
		return nil, op{}, false
	}
	seq := t.seq
	t.seq = 0
	t.owner = owner
	w := e.startLocked(t, now, q)
	o := e.prepare(t)
	o.delBacklog = seq
	return w, o, true
}

// giveBack returns tasks handed to a poll that went away to their queue. Started ones are
// released as if the worker called ReleaseTask.
func (e *Engine) giveBack(got []gotTask) {
	now := e.now()
	for _, g := range got {
		if g.out != nil {
			e.releaseStarted([]*matchingv1.Task{g.out}, now)
			continue
		}
		for !e.queue(g.t.ns, g.t.queue).giveBack(g.t) {
		}
	}
}
