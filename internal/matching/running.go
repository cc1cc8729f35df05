package matching

import (
	"hash/maphash"
	"sync"
)

// runningCounts counts, per queue, the attempts this process started that are still running.
// It lives outside the queue managers because a queue unloads while its tasks run. Attempts
// started before a restart of the service are not counted (they are not in memory until a
// call or a timer touches them); they end within their start-to-close timeout.
type runningCounts struct {
	seed   maphash.Seed
	shards [16]runningShard
}

// queueName names a queue without building a key string (counted on every start and end).
type queueName struct{ ns, queue string }

type runningShard struct {
	mu     sync.Mutex
	queues map[queueName]*queueRunning // queues with running attempts
}

// queueRunning is one queue's running attempts: one map lookup finds the count and the
// per-worker counts that every start and every end update.
type queueRunning struct {
	count int64
	// workers counts them per worker identity (running_workers.go); no zero entries.
	workers map[string]int64
}

func newRunningCounts() *runningCounts { return &runningCounts{seed: maphash.MakeSeed()} }

// shard picks q's shard from the hashes of its two names (no hash state to set up).
func (r *runningCounts) shard(q queueName) *runningShard {
	h := maphash.String(r.seed, q.ns)*31 + maphash.String(r.seed, q.queue)
	return &r.shards[h%uint64(len(r.shards))]
}

func (r *runningCounts) add(q queueName, worker string, n int64) {
	s := r.shard(q)
	s.mu.Lock()
	defer s.mu.Unlock()
	qr := s.queues[q]
	if qr == nil {
		if n <= 0 {
			return
		}
		if s.queues == nil {
			s.queues = map[queueName]*queueRunning{}
		}
		qr = &queueRunning{}
		s.queues[q] = qr
	}
	qr.count += n
	qr.addWorker(worker, n)
	if qr.count <= 0 && len(qr.workers) == 0 {
		delete(s.queues, q)
	}
}

func (r *runningCounts) get(q queueName) int64 {
	s := r.shard(q)
	s.mu.Lock()
	defer s.mu.Unlock()
	if qr := s.queues[q]; qr != nil && qr.count > 0 {
		return qr.count
	}
	return 0
}

// startedRunning counts t's new attempt. Call with t's shard locked, as t becomes Started.
func (e *Engine) startedRunning(t *task) {
	if !t.runningCounted {
		t.runningCounted = true
		e.running.add(queueName{t.ns, t.queue}, t.owner.Identity, 1)
	}
}

// stoppedRunning uncounts t once it is no longer Started (prepare calls it for every write).
func (e *Engine) stoppedRunning(t *task) {
	if t.runningCounted && t.state != stateStarted {
		t.runningCounted = false
		e.running.add(queueName{t.ns, t.queue}, t.owner.Identity, -1)
	}
}
