package matching

import "time"

// shutdownPollWindow is how long after ShutdownWorker the polls of that worker identity
// return empty at once: a poll the stopping worker sent before it called ShutdownWorker
// may arrive after it, and must neither wait nor take tasks. Identities carry a
// per-process nonce, so a restarted worker is not affected.
const shutdownPollWindow = 10 * time.Second

// ShutdownWorker returns the waiting polls of worker identity on queue ns/queue (both
// kinds) at once, each with the tasks it already holds, and makes that identity's polls
// return empty without waiting or taking tasks for shutdownPollWindow. The worker is gone
// for liveness from now on. Only polls that by owns are affected (with authentication,
// by's principal must be the polls'). It returns how many waiting polls were returned.
func (e *Engine) ShutdownWorker(ns, queue, identity string, by Owner) int {
	q := e.loadedQueue(ns, queue)
	if q == nil {
		return 0 // nothing loaded: no poll waits there
	}
	return q.shutdownWorker(identity, by, e.now())
}

func (q *queueManager) shutdownWorker(identity string, by Owner, now time.Time) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if w := q.pollers[identity]; w != nil && w.owner().permits(by) {
		w.stoppedUntil = now.Add(shutdownPollWindow).UnixNano()
		w.stoppedBy = by
		w.gone = true
	}
	n := 0
	for _, sq := range q.kind {
		if sq == nil {
			continue
		}
		sq.matcher.each(func(p *poller) bool {
			if p.owner.Identity == identity && p.owner.permits(by) {
				p.signal()
				n++
			}
			return true
		})
	}
	return n
}

// stoppedFor reports whether a poll by owner falls in the shutdown window of its identity.
func (w *pollerInfo) stoppedFor(owner Owner, now int64) bool {
	return now < w.stoppedUntil && w.stoppedBy.permits(owner)
}
