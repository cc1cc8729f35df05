package matching

import (
	"context"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// PollStream is Poll for a worker stream (WorkerStream): the stream polls again and again
// with its credits as max_tasks, so it must tell an empty answer that ends its dispatch
// from one that only ran out of time. ended is true when the worker called ShutdownWorker
// (its polls would return empty at once for a while) or the engine is closing.
func (e *Engine) PollStream(ctx context.Context, req *matchingv1.PollTasksRequest) (tasks []*matchingv1.Task, ended bool, err error) {
	tasks, err = e.Poll(ctx, req)
	if err != nil || len(tasks) > 0 {
		return tasks, false, err
	}
	select {
	case <-e.closing:
		return nil, true, nil
	default:
	}
	owner := Owner{Principal: principalFrom(ctx), Identity: req.GetWorkerIdentity()}
	return nil, e.workerStopped(req.GetNamespace(), req.GetQueue(), owner), nil
}

// workerStopped reports whether the worker called ShutdownWorker within the shutdown window.
func (e *Engine) workerStopped(ns, queue string, owner Owner) bool {
	q := e.loadedQueue(ns, queue)
	if q == nil {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.pollers[owner.Identity]
	return w != nil && w.stoppedFor(owner, e.now().UnixNano())
}

// ReturnUndelivered hands back attempts a stream started but could not send to its worker,
// as for a poll whose caller went away: they do not count as attempts.
func (e *Engine) ReturnUndelivered(tasks []*matchingv1.Task) {
	e.releaseStarted(tasks, e.now())
}
