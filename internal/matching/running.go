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
	counts map[queueName]int64 // running attempts; no zero entries
	// workers counts them per worker identity (running_workers.go); no zero entries.
	workers map[queueName]map[string]int64
}

func newRunningCounts() *runningCounts { return &runningCounts{seed: maphash.MakeSeed()} }

func (r *runningCounts) shard(q queueName) *runningShard {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(q.ns)
	h.WriteByte(0)
	h.WriteString(q.queue)
	return &r.shards[h.Sum64()%uint64(len(r.shards))]
}

func (r *runningCounts) add(q queueName, worker string, n int64) {
	s := r.shard(q)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = map[queueName]int64{}
	}
	if v := s.counts[q] + n; v > 0 {
		s.counts[q] = v
	} else {
		delete(s.counts, q)
	}
	s.addWorkerLocked(q, worker, n)
}

func (r *runningCounts) get(q queueName) int64 {
	s := r.shard(q)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[q]
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
