package matching

import (
	"sync"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/storage"
)

// maxLevels is the most priority levels a queue may have (the CRD's bound).
const maxLevels = 10

// defaultConfig is shared by every queue without a configuration of its own.
var defaultConfig = func() *queueconfig.Config { c := queueconfig.Default(); return &c }()

// queueManager is one queue (both kinds) while it is loaded. An idle queue is a struct and
// a map entry: no goroutine, no timer; its sub-queues and poller table are allocated when
// first used and dropped when the queue unloads.
type queueManager struct {
	e    *Engine
	key  string
	ref  storage.QueueRef
	mu   sync.Mutex
	cfg  *queueconfig.Config // shared defaultConfig unless the queue is configured; never mutated
	kind [2]*subqueue

	limiter       tokenBucket
	throttleTimer *time.Timer
	throttledAt   int64 // last time dispatch waited for a token

	pollers map[string]*pollerInfo

	lastActive   int64
	rateStart    int64
	adds         int64
	dispatches   int64
	addRate      float64
	dispatchRate float64
	unloaded     bool
	qm           *queueMetrics
}

// subqueue is one kind of a queue: its waiting pollers (the matcher) and its backlog.
type subqueue struct {
	waiting    []*poller
	levels     [maxLevels + 1]*level // index = priority
	dispatched int                   // for the anti-starvation rule
}

// pollerInfo is what DescribeQueue reports about a worker, plus its own rate limit.
type pollerInfo struct {
	identity, pool, version string
	kind                    uint8
	taskTypes               []string
	lastAccess              int64
	tps                     float64
	bucket                  tokenBucket
	// stoppedUntil: the worker called ShutdownWorker; its polls return empty at once
	// until then (unix nanos), if made by stoppedBy.
	stoppedUntil int64
	stoppedBy    Owner
}

// poller is one waiting PollTasks call.
type poller struct {
	kind     uint8
	mask     uint16 // bit p set: serves priority p
	max      int
	got      []gotTask
	done     chan struct{}
	signaled bool
	waiting  bool
	worker   *pollerInfo
	owner    Owner // becomes the owner of the leases this poll gets
}

// gotTask is a task handed to a poller: either already started by the adder (out set) or
// claimed from the backlog for the poller to start (t set).
type gotTask struct {
	t   *task
	out *matchingv1.Task
}

func (p *poller) signal() {
	if !p.signaled {
		p.signaled = true
		close(p.done)
	}
}

func kindIndex(k uint8) int {
	if k == kindWorkflow {
		return 1
	}
	return 0
}

func (q *queueManager) sub(kind uint8) *subqueue {
	i := kindIndex(kind)
	if q.kind[i] == nil {
		q.kind[i] = &subqueue{}
	}
	return q.kind[i]
}

// queue returns the loaded manager of a queue, loading it on demand.
func (e *Engine) queue(ns, name string) *queueManager {
	key := ns + "\x00" + name
	e.qmu.Lock()
	q, ok := e.queues[key]
	if !ok {
		// The names are slices of the key: one allocation, and no request memory retained.
		q = &queueManager{e: e, key: key, ref: storage.QueueRef{Namespace: key[:len(ns)], Queue: key[len(ns)+1:]}}
		q.cfg = defaultConfig
		if c, ok := e.configs[key]; ok {
			q.cfg = &c
		}
		now := e.now().UnixNano()
		q.limiter.configure(q.cfg.RateLimit, q.cfg.Burst, now)
		q.lastActive, q.rateStart = now, now
		e.queues[key] = q
	}
	e.qmu.Unlock()
	return q
}

// lockQueue returns the loaded manager of a queue with its lock held. A manager that was
// unloaded between lookup and lock is skipped, so nothing is ever added to a detached one.
func (e *Engine) lockQueue(ns, name string) *queueManager {
	for {
		q := e.queue(ns, name)
		q.mu.Lock()
		if !q.unloaded {
			return q
		}
		q.mu.Unlock()
	}
}

// loadedQueue returns the manager if the queue is loaded.
func (e *Engine) loadedQueue(ns, name string) *queueManager {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	return e.queues[ns+"\x00"+name]
}

// levelLocked returns a backlog level, creating it; a new level assumes the disk may hold
// tasks for it (diskTail) and counts them in the background.
func (q *queueManager) levelLocked(sq *subqueue, kind, prio uint8) *level {
	l := sq.levels[prio]
	if l == nil {
		// Counting under the queue lock is exact (no add of this level can be in flight) and
		// costs one seek for an empty level; a level with a large backlog pays a key-only
		// scan once, when the queue is first touched after a restart or an unload.
		l = &level{diskTail: true}
		n, oldest, err := q.e.store.CountBacklog(q.ref, kind, prio)
		if err != nil {
			q.e.log.Error(err, "Failed to count backlog", "queue", q.key, "priority", prio)
		}
		l.count, l.oldest = n, oldest
		if n == 0 && err == nil {
			l.diskTail = false
		}
		sq.levels[prio] = l
		q.startPageLoad(kind, prio, l)
	}
	return l
}

// touchLocked records activity and rolls the rate window.
func (q *queueManager) touchLocked(now int64) {
	q.lastActive = now
	if el := now - q.rateStart; el >= int64(10*time.Second) {
		sec := float64(el) / 1e9
		q.addRate, q.dispatchRate = float64(q.adds)/sec, float64(q.dispatches)/sec
		q.adds, q.dispatches, q.rateStart = 0, 0, now
	}
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

// offerLocked hands t (locked by the caller's shard lock, state scheduled) to a waiting
// poller if one serves its priority and tokens allow, starting it with start; otherwise
// it leaves t for the backlog and returns false.
func (q *queueManager) offerLocked(t *task, now int64, start func(*task) *matchingv1.Task) bool {
	q.touchLocked(now)
	q.adds++
	sq := q.sub(t.kind)
	for i, p := range sq.waiting {
		if p.mask&(1<<t.priority) == 0 {
			continue
		}
		if !q.globalTokenLocked(now) {
			return false
		}
		if p.worker != nil {
			p.worker.bucket.take(1)
		}
		q.dispatches++
		t.owner = p.owner
		p.got = append(p.got, gotTask{out: start(t)})
		if len(p.got) >= p.max {
			p.waiting = false
			sq.waiting = append(sq.waiting[:i], sq.waiting[i+1:]...)
		}
		p.signal()
		return true
	}
	return false
}

// bufferLocked puts a scheduled task (t.seq set, backlog key being written) into the
// backlog: in memory when the level's buffer has room and no older tasks wait on disk,
// otherwise on disk only (paged in later).
func (q *queueManager) bufferLocked(t *task) {
	sq := q.sub(t.kind)
	l := q.levelLocked(sq, t.kind, t.priority)
	l.count++
	if !l.diskTail && l.len() < q.e.opts.BufferSize {
		t.inq.Store(inqBuffer)
		l.push(t)
		l.cursor = max(l.cursor, t.seq)
		q.dispatchWaitingLocked(t.kind)
		return
	}
	if !l.diskTail {
		l.cursor = t.seq - 1
	}
	l.diskTail = true
	l.tailGen++
	if t.seq <= l.cursor {
		l.cursor = t.seq - 1
	}
	q.dispatchWaitingLocked(t.kind)
}

// takeLocked claims up to n buffered tasks of kind for priorities in mask, honoring the
// global rate limit and the anti-starvation rule. The caller starts them.
func (q *queueManager) takeLocked(kind uint8, mask uint16, n int, worker *pollerInfo, dst []gotTask) []gotTask {
	sq := q.kind[kindIndex(kind)]
	if sq == nil {
		return dst
	}
	now := q.e.now().UnixNano()
	for len(dst) < n {
		l := q.pickLevelLocked(sq, kind, mask)
		if l == nil {
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
		q.limiter.take(1)
		if worker != nil {
			worker.bucket.take(1)
		}
		sq.dispatched++
		q.dispatches++
		dst = append(dst, gotTask{t: t})
	}
	return dst
}

// pickLevelLocked chooses the level to dispatch from: the highest non-empty level, except
// that every StarvationInterval-th dispatch takes the level (below the highest) whose head
// task is oldest, so low priorities keep moving under sustained high-priority load.
func (q *queueManager) pickLevelLocked(sq *subqueue, kind uint8, mask uint16) *level {
	var top *level
	topPrio := 0
	for p := maxLevels; p >= 1; p-- {
		if mask&(1<<p) == 0 || sq.levels[p] == nil {
			continue
		}
		l := sq.levels[p]
		q.maybePageLocked(kind, uint8(p), l)
		if l.live() {
			top, topPrio = l, p
			break
		}
	}
	if top == nil {
		return nil
	}
	if (sq.dispatched+1)%q.e.opts.StarvationInterval != 0 {
		return top
	}
	var oldest *level
	for p := topPrio - 1; p >= 1; p-- {
		l := sq.levels[p]
		if mask&(1<<p) == 0 || l == nil {
			continue
		}
		q.maybePageLocked(kind, uint8(p), l)
		if l.live() && (oldest == nil || l.headSeq() < oldest.headSeq()) {
			oldest = l
		}
	}
	if oldest != nil {
		return oldest
	}
	return top
}

// dispatchWaitingLocked hands buffered tasks to waiting pollers (after tasks were buffered
// or paged in, or tokens came back). A poller stays in the list until it is full or wakes
// and removes itself, so one wake-up can carry several tasks.
func (q *queueManager) dispatchWaitingLocked(kind uint8) {
	sq := q.kind[kindIndex(kind)]
	if sq == nil || len(sq.waiting) == 0 {
		return
	}
	out := sq.waiting[:0]
	blocked := false
	for _, p := range sq.waiting {
		if !blocked {
			before := len(p.got)
			p.got = q.takeLocked(kind, p.mask, p.max, p.worker, p.got)
			if len(p.got) > before {
				p.signal()
			}
			blocked = q.limiter.rate != 0 && q.limiter.tokens < 1
		}
		if len(p.got) >= p.max {
			p.waiting = false
			continue
		}
		out = append(out, p)
	}
	for i := len(out); i < len(sq.waiting); i++ {
		sq.waiting[i] = nil
	}
	sq.waiting = out
}

// armThrottleLocked wakes the queue when the next token is due, if pollers are waiting.
func (q *queueManager) armThrottleLocked(now int64) {
	if q.throttleTimer != nil {
		return
	}
	d := q.limiter.wait(now)
	if d <= 0 {
		d = time.Millisecond
	}
	q.throttleTimer = time.AfterFunc(d, func() {
		q.mu.Lock()
		q.throttleTimer = nil
		for k := uint8(1); k <= 2; k++ {
			q.dispatchWaitingLocked(k)
		}
		q.mu.Unlock()
	})
}

// removeWaitingLocked removes p from the waiting list if it is still there.
func (q *queueManager) removeWaitingLocked(p *poller) {
	if !p.waiting {
		return
	}
	p.waiting = false
	sq := q.sub(p.kind)
	for i, w := range sq.waiting {
		if w == p {
			sq.waiting = append(sq.waiting[:i], sq.waiting[i+1:]...)
			return
		}
	}
}

// wakeAll returns every waiting poll (engine shutdown).
func (q *queueManager) wakeAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, sq := range q.kind {
		if sq == nil {
			continue
		}
		for _, p := range sq.waiting {
			p.waiting = false
			p.signal()
		}
		sq.waiting = nil
	}
}

// idleLocked reports whether the queue can be unloaded: nothing buffered, nobody waiting,
// no page load running, no activity for the idle timeout.
func (q *queueManager) idleLocked(now int64) bool {
	if now-q.lastActive < int64(q.e.opts.IdleQueueTimeout) {
		return false
	}
	for _, sq := range q.kind {
		if sq == nil {
			continue
		}
		if len(sq.waiting) > 0 {
			return false
		}
		for _, l := range sq.levels {
			if l != nil && (l.len() > 0 || l.loading) {
				return false
			}
		}
	}
	return true
}
