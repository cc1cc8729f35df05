// Package matching is the matching engine of taskroute: durable task queues that workers
// long-poll. Layering: the gRPC handler (internal/matching/server) validates requests and
// calls the Engine; the Engine routes by namespace/queue to a queueManager loaded on demand
// and owns task lifecycle (leases, timeouts, retries, retention); a queueManager holds, per
// kind, a matcher (waiting pollers) and a backlog (per-priority buffers over the durable
// backlog index in storage).
package matching

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/storage"
)

// Options configure an Engine.
type Options struct {
	// IdleQueueTimeout unloads a queue with no buffered tasks and no waiting pollers after
	// this long without activity; 0 means 1 minute.
	IdleQueueTimeout time.Duration
	// PollerExpiry forgets a poller not seen for this long; 0 means 2 minutes.
	PollerExpiry time.Duration
	// BufferSize is how many backlog tasks of one kind and priority a loaded queue keeps in
	// memory; the rest stays on disk and is paged in. 0 means 1024.
	BufferSize int
	// StarvationInterval: every this many dispatches of a kind, the oldest task of the
	// levels below the highest non-empty one is taken instead (anti-starvation). 0 means 10.
	StarvationInterval int
	// SweepInterval and SweepBatch bound the retention sweeper; 0 means 1s and 1000.
	SweepInterval time.Duration
	SweepBatch    int
	// MaxPollWait caps a long poll without a deadline; 0 means 60s.
	MaxPollWait time.Duration
	// Quotas limit each namespace's adds (quota.go); the zero value is unlimited.
	Quotas Quotas
	// UnknownTaskTypeMaxAttempts ends a task Failed when an attempt fails with
	// ErrorTypeUnknownTaskType and the task has made this many attempts, although the
	// failure is retryable (unknowntypes.go); 0 means DefaultUnknownTaskTypeMaxAttempts,
	// a negative value retries such tasks per their retry policy only.
	UnknownTaskTypeMaxAttempts int32
	Logger                     logr.Logger
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.IdleQueueTimeout == 0 {
		o.IdleQueueTimeout = time.Minute
	}
	if o.PollerExpiry == 0 {
		o.PollerExpiry = 2 * time.Minute
	}
	if o.BufferSize == 0 {
		o.BufferSize = 1024
	}
	if o.StarvationInterval == 0 {
		o.StarvationInterval = 10
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = time.Second
	}
	if o.SweepBatch == 0 {
		o.SweepBatch = 1000
	}
	if o.MaxPollWait == 0 {
		o.MaxPollWait = 60 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.UnknownTaskTypeMaxAttempts == 0 {
		o.UnknownTaskTypeMaxAttempts = DefaultUnknownTaskTypeMaxAttempts
	}
}

const numShards = 64

// shard guards the tasks the engine holds in memory: running tasks, buffered backlog tasks,
// tasks with writes in flight or with waiters. Everything else lives only in storage.
type shard struct {
	mu    sync.Mutex
	tasks map[string]*task // key: namespace \x00 id
	// evictions counts tasks dropped from memory and evicted remembers the key hashes of
	// the last ones: a storage read made before locking (AddTasks' existence check, a
	// backlog page's record copies) is current for a task that is not in memory now and
	// was not evicted since (see mayHaveEvicted).
	evictions atomic.Uint64
	evicted   [evictedRing]uint64
}

const evictedRing = 64

var evictSeed = maphash.MakeSeed()

// mayHaveEvicted reports whether key may have been dropped from memory since the shard's
// eviction count was since: true when it is among the evictions remembered since then or
// when more happened than are remembered. Call with the shard locked.
func (s *shard) mayHaveEvicted(key string, since uint64) bool {
	n := s.evictions.Load()
	if n == since {
		return false
	}
	if n-since > evictedRing {
		return true
	}
	h := maphash.String(evictSeed, key)
	for i := since; i < n; i++ {
		if s.evicted[i%evictedRing] == h {
			return true
		}
	}
	return false
}

// Engine is the matching engine. It implements queueconfig.Registry.
type Engine struct {
	opts      Options
	store     storage.Store
	committer *storage.GroupCommitter
	log       logr.Logger
	metrics   *metrics

	seed   maphash.Seed
	shards [numShards]shard

	qmu     sync.Mutex
	queues  map[string]*queueManager // key: namespace \x00 queue
	configs map[string]queueconfig.Config

	timers       *timerService
	quotas       *quotaTracker
	unknownTypes unknownTypes

	lastSeq atomic.Uint64 // time-ordered sequence for backlog keys and leases

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

var _ queueconfig.Registry = (*Engine)(nil)

// New starts an engine over store: it loads queue configurations and the first page of the
// timer index, and starts the timer, retention and idle-queue loops. Backlogs are loaded per
// queue when first touched, so start-up does not scan tasks.
func New(store storage.Store, opts Options) (*Engine, error) {
	opts.setDefaults()
	e := &Engine{
		opts:      opts,
		store:     store,
		committer: storage.NewGroupCommitter(store),
		log:       opts.Logger,
		seed:      maphash.MakeSeed(),
		queues:    map[string]*queueManager{},
		configs:   map[string]queueconfig.Config{},
		closing:   make(chan struct{}),
	}
	e.metrics = newMetrics(e)
	e.quotas = newQuotaTracker(e, opts.Quotas)
	for i := range e.shards {
		e.shards[i].tasks = map[string]*task{}
	}
	if err := e.loadConfigs(); err != nil {
		e.committer.Close()
		return nil, err
	}
	e.timers = newTimerService(e)
	if err := e.timers.loadPage(); err != nil {
		e.committer.Close()
		return nil, err
	}
	e.wg.Add(3)
	go e.timers.loop()
	go e.sweepLoop()
	go e.idleLoop()
	return e, nil
}

// Close stops the engine: waiting polls return empty, loops stop and pending writes are
// committed. The store is not closed.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		close(e.closing)
		e.qmu.Lock()
		qs := make([]*queueManager, 0, len(e.queues))
		for _, q := range e.queues {
			qs = append(qs, q)
		}
		e.qmu.Unlock()
		for _, q := range qs {
			q.wakeAll()
		}
		e.wg.Wait()
		e.committer.Close()
	})
}

// Closing is closed when Close starts.
func (e *Engine) Closing() <-chan struct{} { return e.closing }

// CommitStats returns the synced commits and mutations so far (for benchmarks).
func (e *Engine) CommitStats() (commits, mutations uint64) { return e.committer.Stats() }

func (e *Engine) now() time.Time { return e.opts.Now() }

// nextSeq returns a unique, increasing number close to the wall clock in nanoseconds, so
// backlog sequence numbers also tell a task's age and stay ordered across restarts.
func (e *Engine) nextSeq() uint64 {
	now := uint64(e.now().UnixNano())
	for {
		last := e.lastSeq.Load()
		next := now
		if next <= last {
			next = last + 1
		}
		if e.lastSeq.CompareAndSwap(last, next) {
			return next
		}
	}
}

func taskKey(ns, id string) string { return ns + "\x00" + id }

func (e *Engine) shardOf(key string) *shard { return &e.shards[e.shardIndex(key)] }

func hashString(e *Engine, key string) uint64 { return maphash.String(e.seed, key) }

// lookup returns the task from memory or loads it from storage into memory. Call with
// the shard locked; a task loaded only to be read must be passed to evict afterwards.
func (e *Engine) lookup(s *shard, key, ns, id string) (*task, error) {
	if t, ok := s.tasks[key]; ok {
		return t, nil
	}
	rec, err := e.store.GetTask(nil, ns, id)
	if err != nil {
		return nil, err
	}
	t, err := decodeTask(rec)
	if err != nil {
		return nil, fmt.Errorf("task %s/%s: %w", ns, id, err)
	}
	s.tasks[key] = t
	return t, nil
}

// evict drops a task from memory when nothing needs it there: no write in flight, not in a
// backlog buffer, not running, nobody waiting for it. Call with the shard locked.
func (s *shard) evict(key string, t *task) {
	if t.pending == 0 && t.inq.Load() == inqNone && t.state != stateStarted && len(t.waiters) == 0 {
		if cur, ok := s.tasks[key]; ok && cur == t {
			delete(s.tasks, key)
			s.evicted[s.evictions.Load()%evictedRing] = maphash.String(evictSeed, key)
			s.evictions.Add(1)
		}
	}
}

// op is one task's staged write: its encoded record plus index changes.
type op struct {
	t          *task
	buf        *byteBuf
	oldTimer   int64
	newTimer   int64
	putBacklog uint64 // seq of a backlog entry to add, 0 none
	delBacklog uint64 // seq of a backlog entry to remove, 0 none
	expiry     int64  // retention expiry to add, 0 none
}

// prepare stages the durable record of t, keeping the timer index in step with t's next
// deadline. Call with t's shard locked (the order of prepare+commit under that lock is the
// order writes of t reach storage); release the lock before waiting on the commit.
func (e *Engine) prepare(t *task) op {
	e.trackBacklog(t)
	o := op{t: t, oldTimer: t.timerAt, newTimer: t.nextTimer()}
	t.timerAt = o.newTimer
	t.pending++
	o.buf = getBuf()
	o.buf.b = t.encode(o.buf.b[:0])
	if o.oldTimer != o.newTimer {
		e.timers.set(t, o.newTimer)
	}
	return o
}

func (o *op) apply(b storage.Batch) {
	t := o.t
	b.PutTask(t.ns, t.id, o.buf.b)
	if o.putBacklog != 0 {
		b.PutBacklog(storage.QueueRef{Namespace: t.ns, Queue: t.queue}, storage.BacklogKey{Kind: t.kind, Priority: t.priority, Seq: o.putBacklog}, t.id, o.buf.b)
	}
	putBuf(o.buf)
	o.buf = nil
	if o.oldTimer != o.newTimer {
		if o.oldTimer != 0 {
			b.DeleteTimer(time.Unix(0, o.oldTimer), t.ns, t.id)
		}
		if o.newTimer != 0 {
			b.PutTimer(time.Unix(0, o.newTimer), t.ns, t.id)
		}
	}
	if o.delBacklog != 0 {
		b.DeleteBacklog(storage.QueueRef{Namespace: t.ns, Queue: t.queue}, storage.BacklogKey{Kind: t.kind, Priority: t.priority, Seq: o.delBacklog})
	}
	if o.expiry != 0 {
		b.PutExpiry(time.Unix(0, o.expiry), t.ns, t.id)
	}
}

// commit enqueues staged writes as one batch of the group committer.
func (e *Engine) commit(ops ...op) *storage.Group {
	return e.committer.Write(func(b storage.Batch) {
		for i := range ops {
			ops[i].apply(b)
		}
	})
}

// commitAsync enqueues one staged write without waiting; t is released once durable.
func (e *Engine) commitAsync(o op) {
	t := o.t
	e.committer.WriteThen(o.apply, func(error) { e.writeDone(taskKey(t.ns, t.id), t) })
}

// writeDone marks one write of t as durable and evicts t when it is no longer needed.
func (e *Engine) writeDone(key string, t *task) {
	s := e.shardOf(key)
	s.mu.Lock()
	t.pending--
	if t.state == stateScheduled && t.seq != 0 && t.retryAt == 0 && t.inq.Load() == inqNone {
		// A disk-only backlog entry became durable: a page load that ran before this commit
		// could not see it, so mark the level's tail again.
		e.tailCommitted(t)
	}
	s.evict(key, t)
	s.mu.Unlock()
}

func (e *Engine) tailCommitted(t *task) {
	q := e.loadedQueue(t.ns, t.queue)
	if q == nil {
		return
	}
	q.mu.Lock()
	if sq := q.kind[kindIndex(t.kind)]; sq != nil {
		if l := sq.levels[t.priority]; l != nil {
			l.diskTail = true
			l.tailGen++
			if t.seq <= l.cursor {
				l.cursor = t.seq - 1
			}
			q.maybePageLocked(t.kind, t.priority, l)
		}
	}
	q.mu.Unlock()
}

type byteBuf struct{ b []byte }

var bufPool = sync.Pool{New: func() any { return &byteBuf{b: make([]byte, 0, 512)} }}

func getBuf() *byteBuf { return bufPool.Get().(*byteBuf) }
func putBuf(b *byteBuf) {
	if cap(b.b) <= 64<<10 {
		bufPool.Put(b)
	}
}

// finish moves t to a final state, schedules its retention expiry and wakes waiters.
// Call with the shard locked; commit the returned op.
func (e *Engine) finish(t *task, state uint8, now time.Time) op {
	t.state = state
	t.closedAt = now.UnixNano()
	t.retryAt, t.s2sDeadline, t.s2cDeadline, t.hbDeadline = 0, 0, 0, 0
	t.expireAt = now.Add(e.config(t.ns, t.queue).Retention).UnixNano()
	for _, w := range t.waiters {
		close(w)
	}
	t.waiters = nil
	e.metrics.finished(t, state)
	seq := t.seq
	t.seq = 0
	o := e.prepare(t)
	o.expiry = t.expireAt
	o.delBacklog = seq
	return o
}

// backoff is the wait before retry number attempt (attempt = attempts made so far).
func backoff(p retryPolicy, attempt int32) time.Duration {
	d := float64(p.initial) * math.Pow(p.coefficient, float64(attempt-1))
	if p.maximum > 0 && d > float64(p.maximum) {
		d = float64(p.maximum)
	}
	if d > float64(math.MaxInt64/2) {
		d = float64(math.MaxInt64 / 2)
	}
	return time.Duration(d)
}

var errEngineClosed = errors.New("matching engine is shutting down")

func (e *Engine) config(ns, queue string) queueconfig.Config {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	if c, ok := e.configs[ns+"\x00"+queue]; ok {
		return c
	}
	return queueconfig.Default()
}

// run wraps a background loop with the engine's wait group.
func (e *Engine) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-e.closing:
		return false
	}
}
