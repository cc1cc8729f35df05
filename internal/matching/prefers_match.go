package matching

import (
	"time"

	"github.com/taskroute/taskroute/internal/clock"
)

// Preferred capabilities in the matcher. A task with preferences waits in a partition of
// its own (its route key names them), like a task with requirements. Among the waiting
// polls that meet its requirements, the one whose met preferences weigh most takes it.
// A poll that meets none of them takes it only once it has been ready for the queue's
// preference wait: until then the task is held for a preferring poll, and a timer on the
// engine clock wakes dispatch when the wait ends.

// addPreferring records a new partition of route key route that holds tasks with
// preferences.
func (sq *subqueue) addPreferring(b *backlog, route string) {
	b.prefers = parsePreferences(route)
	if b.prefers != nil {
		sq.preferring = append(sq.preferring, b)
	}
}

// matchLocked returns the waiting poll that takes t as it is scheduled, or nil.
func (q *queueManager) matchLocked(sq *subqueue, t *task, now int64) *poller {
	if t.prefers == nil {
		return sq.matcher.match(t)
	}
	held := now-t.readyAt < int64(q.cfg.PreferenceWait)
	return sq.matcher.matchPreferred(t, held)
}

// matchPreferred returns, among the waiting polls that may take t, one whose worker's met
// preferences weigh most, the longest-waiting on a tie; when held, only a poll that meets
// at least one preference.
func (m *matcher) matchPreferred(t *task, held bool) *poller {
	groups := m.groups
	if len(t.requires) > 0 {
		groups = m.compatible(t)
	}
	var best *poller
	bestScore := int32(-1)
	for _, g := range groups {
		s := g.caps.score(t.prefers)
		if s < bestScore || s == 0 && held {
			continue
		}
		for _, p := range g.waiting {
			if p.mask&(1<<t.priority) != 0 && !p.full() {
				if s > bestScore || p.seq < best.seq {
					best, bestScore = p, s
				}
				break
			}
		}
	}
	return best
}

// handOffLocked gives t, just claimed from the backlog for worker w, to the waiting poll
// that meets more of its preferences than w does, if there is one, and reports whether it
// did. So a task that waited in the backlog (a rate-limit pause, a page-in) still goes to
// the best-preferred waiting poll, whichever poll's claim or turn in dispatch found it. A
// poll this fills stays in the matcher until dropHandedOff or the end of the dispatch pass.
func (q *queueManager) handOffLocked(sq *subqueue, t *task, w *pollerInfo, now int64) bool {
	best := sq.matcher.matchPreferred(t, now-t.readyAt < int64(q.cfg.PreferenceWait))
	if best == nil || best.worker == w || best.worker.caps.score(t.prefers) <= w.caps.score(t.prefers) {
		return false
	}
	q.limiter.take(1)
	best.worker.bucket.take(1)
	sq.dispatched++
	q.rates.countDispatch(now)
	best.got = append(best.got, gotTask{t: t})
	best.signal()
	sq.handedOff = true
	return true
}

// dropHandedOff takes the polls that handOffLocked filled out of the matcher (outside a
// dispatch pass, which drops full polls when it ends).
func (sq *subqueue) dropHandedOff() {
	if sq.handedOff {
		sq.handedOff = false
		sq.matcher.dropFull()
	}
}

// prefGate holds the young tasks of preferring partitions back from a poll whose worker
// meets none of their preferences.
type prefGate struct {
	caps    capabilitySet
	readyBy int64 // tasks ready after this are still within their preference wait
	wait    int64
	next    int64 // the earliest end of a wait the gate held a task for, 0 none
}

// gateLocked returns the gate for worker w taking from sq now (g, set up), or nil when
// nothing can be held: no preferring partition, or no preference wait.
func (q *queueManager) gateLocked(sq *subqueue, w *pollerInfo, now int64, g *prefGate) *prefGate {
	wait := int64(q.cfg.PreferenceWait)
	if len(sq.preferring) == 0 || wait <= 0 {
		return nil
	}
	*g = prefGate{caps: w.caps, readyBy: now - wait, wait: wait}
	return g
}

// holds reports whether the head of level l (live) of partition b waits for a preferring
// poll, and notes when that wait ends.
func (g *prefGate) holds(b *backlog, l *level) bool {
	if g == nil || b.prefers == nil {
		return false
	}
	ready := l.buf[l.head].readyAt
	if ready <= g.readyBy || g.caps.score(b.prefers) > 0 {
		return false
	}
	if end := ready + g.wait; g.next == 0 || end < g.next {
		g.next = end
	}
	return true
}

// armPreferenceLocked makes sure dispatch runs again when the earliest wait the gate held
// a task for ends, so the polls it turned away take the task then.
func (q *queueManager) armPreferenceLocked(g *prefGate) {
	if g == nil || g.next == 0 || q.prefTimer != nil && q.prefAt <= g.next {
		return
	}
	q.stopPreferenceTimerLocked()
	var tm clock.Timer
	tm = q.e.clock.AfterFunc(time.Duration(g.next-q.e.now().UnixNano()), func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.prefTimer != tm || q.unloaded {
			return // replaced by an earlier one, or the queue went away
		}
		q.prefTimer = nil
		for k := kindActivity; k <= kindWorkflow; k++ {
			q.dispatchWaitingLocked(k)
		}
	})
	q.prefTimer, q.prefAt = tm, g.next
}

// stopPreferenceTimerLocked cancels the pending end of a preference wait.
func (q *queueManager) stopPreferenceTimerLocked() {
	if q.prefTimer != nil {
		q.prefTimer.Stop()
		q.prefTimer = nil
	}
}
