package matching

import (
	"sync"
	"time"

	"github.com/taskroute/taskroute/internal/clock"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/storage"
)

// maxLevels is the most priority levels a queue may have (the CRD's bound).
const maxLevels = 10

// defaultConfig is shared by every queue without a configuration of its own.
var defaultConfig = func() *queueconfig.Config { c := queueconfig.Default(); return &c }()

// queueManager is one queue (both kinds) while it is loaded. It owns its state: the engine
// calls its methods, each of which takes the queue's lock, and never edits its fields. An
// idle queue is a struct and a map entry: no goroutine, no timer; its sub-queues and poller
// table are allocated when first used and dropped when the queue unloads.
type queueManager struct {
	e   *Engine
	key string
	ref storage.QueueRef

	mu   sync.Mutex          // guards the fields below
	cfg  *queueconfig.Config // shared defaultConfig unless the queue is configured; never mutated
	kind [2]*subqueue

	limiter       tokenBucket
	throttleTimer clock.Timer
	throttledAt   int64       // last time dispatch waited for a token
	prefTimer     clock.Timer // ends a held task's preference wait (prefers_match.go)
	prefAt        int64       // when prefTimer fires

	pollers map[string]*pollerInfo
	rates   rateWindow

	lastActive int64
	unloaded   bool
	qm         *queueMetrics // the namespace's series; set at load, never changed
}

func kindIndex(k uint8) int {
	if k == kindWorkflow {
		return 1
	}
	return 0
}

func newQueueManager(e *Engine, ns, name string, cfg *queueconfig.Config, now int64) *queueManager {
	key := ns + "\x00" + name
	// The names are slices of the key: one allocation, and no request memory retained.
	q := &queueManager{e: e, key: key, ref: storage.QueueRef{Namespace: key[:len(ns)], Queue: key[len(ns)+1:]}}
	q.cfg = cfg
	q.limiter.configure(cfg.RateLimit, cfg.Burst, now)
	q.lastActive = now
	q.rates.begin(now)
	q.qm = e.metrics.namespace(q.ref.Namespace)
	return q
}

// lock takes the queue's lock and reports whether the queue is still loaded; an unloaded
// manager is left unlocked, and the caller looks the queue up again.
func (q *queueManager) lock() bool {
	q.mu.Lock()
	if q.unloaded {
		q.mu.Unlock()
		return false
	}
	return true
}

func (q *queueManager) sub(kind uint8) *subqueue {
	i := kindIndex(kind)
	if q.kind[i] == nil {
		q.kind[i] = newSubqueue(q, kind)
	}
	return q.kind[i]
}

// schedule makes a scheduled task (its shard locked by the caller) dispatchable: it goes
// straight to a waiting poll when one serves it and tokens allow (sync match: the attempt
// starts now), otherwise into the backlog with the sequence seq. loaded is false for an
// unloaded manager (nothing done).
func (q *queueManager) schedule(t *task, seq uint64, at time.Time) (loaded, matched bool) {
	if !q.lock() {
		return false, false
	}
	defer q.mu.Unlock()
	now := at.UnixNano()
	q.touchLocked(now)
	q.rates.countAdd(now)
	sq := q.sub(t.kind)
	if p := q.matchLocked(sq, t, now); p != nil && sq.keyTokenLocked(t, now) && q.globalTokenLocked(now) {
		sq.chargeSync(t, now)
		t.owner = p.owner
		q.handLocked(p, gotTask{out: q.e.startLocked(t, at, q)}, now)
		sq.matcher.handed(p)
		return true, true
	}
	t.seq = seq
	b := sq.partitionOf(t)
	b.add(t)
	q.wakeIfFirstLocked(b, t.priority)
	q.dispatchWaitingLocked(t.kind)
	return true, false
}

// handLocked gives p one task, charging the worker's own rate.
func (q *queueManager) handLocked(p *poller, g gotTask, now int64) {
	p.worker.bucket.take(1)
	q.rates.countDispatch(now)
	p.got = append(p.got, g)
}

// claimResult says what came of a claim or park besides the tasks it got.
type claimResult uint8

const (
	claimed  claimResult = iota // tasks, or none to wait for
	unloaded                    // the manager was unloaded: look the queue up again
	stopped                     // the worker is shutting down: return empty at once
)

// claim records the poll's worker and claims up to the poll's allowance of buffered tasks.
// With nothing claimed, rateWait > 0 says the worker is over its own declared rate and may
// poll again after that long.
func (q *queueManager) claim(pr *pollRequest, now int64, dst []gotTask) (got []gotTask, rateWait time.Duration, res claimResult) {
	if !q.lock() {
		return dst, 0, unloaded
	}
	defer q.mu.Unlock()
	q.touchLocked(now)
	w := q.pollers[pr.owner.Identity] // looked up once: pollerLocked records the poll in it
	if w != nil && w.stoppedFor(pr.owner, now) {
		return dst, 0, stopped // a poll sent before ShutdownWorker, or one woken by it
	}
	w = q.pollerLocked(pr, w, now)
	allowed := pr.maxTasks
	if w.tps > 0 {
		allowed = min(allowed, w.bucket.available(now))
	}
	if allowed == 0 {
		return dst, max(w.bucket.wait(now), time.Millisecond), claimed
	}
	sq := q.sub(pr.kind)
	sq.listPartitions() // also for a worker without capabilities: partitions of tasks that only prefer, and of fairness keys, are its too
	ensureLevels(sq.servable(w.caps, w.capsKey), pr.mask, q.cfg.PriorityLevels)
	got = q.takeLocked(sq, pr.mask, allowed, w, dst)
	sq.dropHandedOff()
	return got, 0, claimed
}

// park makes p wait for tasks, unless tasks arrived since its claim: then p gets them at
// once (p.got) and is signalled.
func (q *queueManager) park(p *poller) claimResult {
	if !q.lock() {
		return unloaded
	}
	defer q.mu.Unlock()
	if p.worker = q.pollers[p.owner.Identity]; p.worker == nil {
		p.worker = &pollerInfo{identity: p.owner.Identity}
	}
	if p.worker.stoppedFor(p.owner, q.e.now().UnixNano()) {
		return stopped
	}
	sq := q.sub(p.kind)
	p.got = q.takeLocked(sq, p.mask, p.max, p.worker, p.got)
	sq.dropHandedOff()
	if len(p.got) > 0 {
		p.signal()
		return claimed
	}
	sq.matcher.park(p)
	p.parked = true
	p.worker.openPolls++
	return claimed
}

// unpark ends p's wait and returns what it was given.
func (q *queueManager) unpark(p *poller) []gotTask {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p.parked {
		p.parked = false
		p.worker.openPolls--
		p.worker.lastSeen = q.e.now().UnixNano()
	}
	q.sub(p.kind).matcher.unpark(p)
	got := p.got
	p.got = nil
	return got
}

// giveBack returns tasks claimed from the backlog that their poll could not deliver.
func (q *queueManager) giveBack(t *task) bool {
	if !q.lock() {
		return false
	}
	defer q.mu.Unlock()
	q.sub(t.kind).partitionOf(t).giveBack(t)
	q.dispatchWaitingLocked(t.kind)
	return true
}

// backlogCommitted notes that t's disk-only backlog entry is durable (see backlog.committed).
func (q *queueManager) backlogCommitted(t *task) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if sq := q.kind[kindIndex(t.kind)]; sq != nil {
		sq.partitionOf(t).committed(t)
	}
}

// forget takes a task that left the backlog without a dispatch out of the counts.
func (q *queueManager) forget(t *task) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if sq := q.kind[kindIndex(t.kind)]; sq != nil {
		sq.partitionOf(t).forget(t)
	}
}

// configure applies a new configuration and hands out what the new limits allow.
func (q *queueManager) configure(cfg *queueconfig.Config, now int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.cfg = cfg
	q.limiter.configure(cfg.RateLimit, cfg.Burst, now)
	for k := kindActivity; k <= kindWorkflow; k++ {
		q.dispatchWaitingLocked(k)
	}
}

// wakeAll returns every waiting poll (engine shutdown).
func (q *queueManager) wakeAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, sq := range q.kind {
		if sq != nil {
			sq.matcher.wakeAll()
		}
	}
}

// touchLocked records activity and rolls the rate window.
func (q *queueManager) touchLocked(now int64) {
	q.lastActive = now
	q.rates.roll(now)
}

// globalTokenLocked reports whether the queue's rate limit allows one more dispatch now
// and takes the token if so.
func (q *queueManager) globalTokenLocked(now int64) bool {
	if q.limiter.available(now) < 1 {
		q.throttledAt = now
		return false
	}
	q.limiter.take(1)
	return true
}

// takeLocked claims up to n buffered tasks of sq for worker w (from the partitions its
// capabilities meet) and priorities in mask, honoring the global rate limit and the
// anti-starvation rule. The caller starts them.
func (q *queueManager) takeLocked(sq *subqueue, mask uint16, n int, w *pollerInfo, dst []gotTask) []gotTask {
	bs := sq.servable(w.caps, w.capsKey)
	now := q.e.now().UnixNano()
	var g prefGate
	gate := q.gateLocked(sq, w, now, &g)
	for len(dst) < n {
		l, b := sq.pick(bs, mask, gate, now)
		if l == nil {
			sq.armKeyRateLocked()
			break
		}
		if q.limiter.available(now) < 1 {
			q.throttledAt = now
			q.armThrottleLocked(now)
			break
		}
		t := l.pop()
		if t == nil {
			continue
		}
		sq.charge(b.fair, t.priority, t.fairWeight, now)
		sq.dropIfEmpty(b, now)
		if t.prefers != nil && q.handOffLocked(sq, t, w, now) {
			continue
		}
		q.limiter.take(1)
		w.bucket.take(1)
		sq.dispatched++
		q.rates.countDispatch(now)
		dst = append(dst, gotTask{t: t})
	}
	q.armPreferenceLocked(gate)
	return dst
}

// dispatchWaitingLocked hands buffered tasks to waiting polls (after tasks were buffered
// or paged in, or tokens came back). A poll stays waiting until it is full or wakes and
// removes itself, so one wake-up can carry several tasks.
func (q *queueManager) dispatchWaitingLocked(kind uint8) {
	sq := q.kind[kindIndex(kind)]
	if sq == nil {
		return
	}
	sq.matcher.each(func(p *poller) bool {
		before := len(p.got)
		p.got = q.takeLocked(sq, p.mask, p.max, p.worker, p.got)
		if len(p.got) > before {
			p.signal()
		}
		return q.limiter.rate == 0 || q.limiter.tokens >= 1
	})
	sq.matcher.dropFull()
}

// armThrottleLocked wakes the queue when the next token is due, if polls are waiting.
func (q *queueManager) armThrottleLocked(now int64) {
	if q.throttleTimer != nil {
		return
	}
	d := q.limiter.wait(now)
	if d <= 0 {
		d = time.Millisecond
	}
	q.throttleTimer = q.e.clock.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		q.throttleTimer = nil
		for k := kindActivity; k <= kindWorkflow; k++ {
			q.dispatchWaitingLocked(k)
		}
	})
}

// unloadIfIdle forgets expired pollers and, when the queue is idle, marks it unloaded and
// reports true: nothing buffered, nobody waiting, no page load running, no activity for
// the idle timeout.
func (q *queueManager) unloadIfIdle(now int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expirePollersLocked(now)
	if now-q.lastActive < int64(q.e.opts.IdleQueueTimeout) {
		return false
	}
	for _, sq := range q.kind {
		if sq != nil && (sq.matcher.any() || sq.busy()) {
			return false
		}
	}
	q.unloaded = true
	if q.throttleTimer != nil {
		q.throttleTimer.Stop()
		q.throttleTimer = nil
	}
	q.stopPreferenceTimerLocked()
	return true
}
