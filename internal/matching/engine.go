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
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/taskroute/taskroute/internal/clock"
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
	// WorkerLivenessTimeout: a worker with no open poll and no poll or heartbeat for this
	// long is gone (pollers.go); host- and process-routed tasks waiting for gone workers
	// fail with TargetWorkerLost (lost.go). 0 means 10s.
	WorkerLivenessTimeout time.Duration
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
	// Clock is the source of time and timers; nil means the wall clock. Tests pass a
	// clock.Fake and step it.
	Clock clock.Clock
}

func (o *Options) setDefaults() {
	if o.IdleQueueTimeout == 0 {
		o.IdleQueueTimeout = time.Minute
	}
	if o.PollerExpiry == 0 {
		o.PollerExpiry = 2 * time.Minute
	}
	if o.WorkerLivenessTimeout == 0 {
		o.WorkerLivenessTimeout = 10 * time.Second
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
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.UnknownTaskTypeMaxAttempts == 0 {
		o.UnknownTaskTypeMaxAttempts = DefaultUnknownTaskTypeMaxAttempts
	}
}

// Engine is the matching engine. It implements queueconfig.Registry.
type Engine struct {
	opts      Options
	store     storage.Store
	committer *storage.GroupCommitter
	log       logr.Logger
	metrics   *metrics

	clock clock.Clock
	tasks *taskTable

	qmu     sync.Mutex               // guards queues and configs; taken after shard locks, before queue locks
	queues  map[string]*queueManager // key: namespace \x00 queue
	configs map[string]configRecord

	// configWrite serialises configuration writes (Apply, Remove, Update, Reset) from the
	// read of the current record to its persisted and applied successor, so an API write
	// cannot undo a TaskQueue's Apply that landed in between. Taken before any other lock.
	configWrite sync.Mutex

	timers       *timerService
	quotas       *quotaTracker
	unknownTypes unknownTypes
	running      *runningCounts
	backlogWatch queueconfig.BacklogWatch // backlogs that gained tasks while empty (backlog_wakes.go)
	sessions     *sessionTable            // session.go

	lastSeq     atomic.Uint64 // time-ordered sequence for backlog keys and leases (seqfloor.go)
	seqReserved atomic.Uint64 // the stored floor: no sequence above it was handed out
	seqMu       sync.Mutex    // serialises raising the floor

	closing    chan struct{}
	closeOnce  sync.Once
	wg         sync.WaitGroup // the engine's loops
	background background     // page loads (background.go)
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
		clock:     opts.Clock,
		tasks:     newTaskTable(store),
		running:   newRunningCounts(),
		sessions:  newSessionTable(),
		queues:    map[string]*queueManager{},
		configs:   map[string]configRecord{},
		closing:   make(chan struct{}),
	}
	e.metrics = newMetrics(e)
	e.quotas = newQuotaTracker(e, opts.Quotas)
	if err := e.loadSeqFloor(); err != nil {
		e.committer.Close()
		return nil, err
	}
	if err := e.loadConfigs(); err != nil {
		e.committer.Close()
		return nil, err
	}
	if err := e.loadSessions(); err != nil {
		e.committer.Close()
		return nil, err
	}
	e.timers = newTimerService(e)
	if err := e.timers.loadPage(); err != nil {
		e.committer.Close()
		return nil, err
	}
	e.wg.Add(4)
	go e.timers.loop()
	go e.sweepLoop()
	go e.idleLoop()
	go e.lostTargetLoop()
	return e, nil
}

// Close stops the engine: waiting polls return empty, loops stop and pending writes are
// committed. The store is not closed.
func (e *Engine) Close() {
	e.closeOnce.Do(func() {
		close(e.closing)
		for _, q := range e.loadedQueues() {
			q.wakeAll()
		}
		e.wg.Wait()
		e.background.closeAndWait()
		e.committer.Close()
	})
}

// Closing is closed when Close starts.
func (e *Engine) Closing() <-chan struct{} { return e.closing }

// CommitStats returns the synced commits and mutations so far (for benchmarks).
func (e *Engine) CommitStats() (commits, mutations uint64) { return e.committer.Stats() }

// CommitWritten returns the mutations of those commits that reached the store, without
// those superseded within their commit (for benchmarks).
func (e *Engine) CommitWritten() uint64 { return e.committer.Written() }

func (e *Engine) now() time.Time { return e.clock.Now() }

// queue returns the loaded manager of a queue, loading it on demand. Every add and poll
// looks its queue up here, so the lookup's key is built on the stack (a map index with
// string(bytes) does not allocate); only loading a queue allocates its key.
func (e *Engine) queue(ns, name string) *queueManager {
	var buf [128]byte
	k := append(append(append(buf[:0], ns...), 0), name...)
	e.qmu.Lock()
	defer e.qmu.Unlock()
	if q, ok := e.queues[string(k)]; ok {
		return q
	}
	key := string(k)
	cfg := defaultConfig
	if r, ok := e.configs[key]; ok {
		cfg = &r.Config
	}
	q := newQueueManager(e, ns, name, cfg, e.now().UnixNano())
	e.queues[key] = q
	return q
}

// loadedQueues returns the managers loaded now.
func (e *Engine) loadedQueues() []*queueManager {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	qs := make([]*queueManager, 0, len(e.queues))
	for _, q := range e.queues {
		qs = append(qs, q)
	}
	return qs
}

// loadedQueue returns the manager if the queue is loaded.
func (e *Engine) loadedQueue(ns, name string) *queueManager {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	return e.queues[ns+"\x00"+name]
}

// schedule hands a scheduled task (its shard locked) to its queue: to a waiting poll or
// into the backlog under the sequence seq (see queueManager.schedule).
func (e *Engine) schedule(t *task, seq uint64, now time.Time) (q *queueManager, matched bool) {
	for {
		q = e.queue(t.ns, t.queue)
		if loaded, matched := q.schedule(t, seq, now); loaded {
			return q, matched
		}
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
	if r, ok := e.configs[ns+"\x00"+queue]; ok {
		return r.Config
	}
	return queueconfig.Default()
}

// sleep waits d on the engine's clock; it reports false when ctx ends or the engine closes.
func (e *Engine) sleep(ctx context.Context, d time.Duration) bool {
	t := e.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	case <-e.closing:
		return false
	}
}

// CommitsByCauses returns the synced commits so far by the set of causes they carried
// (storage.CauseAdd, CauseStart, CauseOutcome; for benchmarks).
func (e *Engine) CommitsByCauses() [8]uint64 { return e.committer.CommitsByCauses() }
