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

type runningShard struct {
	mu     sync.Mutex
	counts map[string]int64 // namespace \x00 queue -> running attempts; no zero entries
}

func newRunningCounts() *runningCounts { return &runningCounts{seed: maphash.MakeSeed()} }

func (r *runningCounts) shard(key string) *runningShard {
	return &r.shards[maphash.String(r.seed, key)%uint64(len(r.shards))]
}

func (r *runningCounts) add(key string, n int64) {
	s := r.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.counts == nil {
		s.counts = map[string]int64{}
	}
	if v := s.counts[key] + n; v > 0 {
		s.counts[key] = v
	} else {
		delete(s.counts, key)
	}
}

func (r *runningCounts) get(key string) int64 {
	s := r.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[key]
}

// startedRunning counts t's new attempt. Call with t's shard locked, as t becomes Started.
func (e *Engine) startedRunning(t *task) {
	if !t.runningCounted {
		t.runningCounted = true
		e.running.add(t.ns+"\x00"+t.queue, 1)
	}
}

// stoppedRunning uncounts t once it is no longer Started (prepare calls it for every write).
func (e *Engine) stoppedRunning(t *task) {
	if t.runningCounted && t.state != stateStarted {
		t.runningCounted = false
		e.running.add(t.ns+"\x00"+t.queue, -1)
	}
}
