package matching

import (
	"context"
	"time"

	"github.com/taskroute/taskroute/internal/storage"
)

// sweepLoop deletes finished tasks whose retention expired, at most SweepBatch per
// SweepInterval, so a large expiry wave never competes with dispatch for long.
func (e *Engine) sweepLoop() {
	defer e.wg.Done()
	for e.sleep(context.Background(), e.opts.SweepInterval) {
		if _, err := e.SweepExpired(e.opts.SweepBatch); err != nil {
			e.log.Error(err, "Failed to sweep expired tasks")
		}
	}
}

// SweepExpired deletes up to limit finished tasks whose retention ended and returns how
// many it deleted.
func (e *Engine) SweepExpired(limit int) (int, error) {
	var entries []storage.TimerEntry
	if err := e.store.ScanExpiries(e.now(), limit, func(te storage.TimerEntry) bool {
		entries = append(entries, te)
		return true
	}); err != nil {
		return 0, err
	}
	if len(entries) == 0 {
		return 0, nil
	}
	deleted := 0
	var g *storage.Group
	for _, te := range entries {
		key := taskKey(te.Namespace, te.TaskID)
		s, _ := e.tasks.shard(key)
		s.mu.Lock()
		if _, inMemory := s.tasks[key]; inMemory {
			// A task in memory is busy (a write in flight or a waiter); the next sweep gets it.
			s.mu.Unlock()
			continue
		}
		del := false
		rec, err := e.store.GetTask(nil, te.Namespace, te.TaskID)
		if err == nil {
			if t, derr := decodeTask(rec); derr == nil && t.finished() && t.expireAt == te.At.UnixNano() {
				del = true
			}
		}
		g = e.committer.Write(func(b storage.Batch) {
			b.DeleteExpiry(te.At, te.Namespace, te.TaskID)
			if del {
				b.DeleteTask(te.Namespace, te.TaskID)
			}
		})
		if del {
			deleted++
		}
		s.mu.Unlock()
	}
	if g == nil {
		return 0, nil
	}
	return deleted, g.Wait()
}

// idleLoop unloads idle queues and forgets pollers that stopped polling.
func (e *Engine) idleLoop() {
	defer e.wg.Done()
	interval := max(min(e.opts.IdleQueueTimeout/2, 10*time.Second), 10*time.Millisecond)
	for e.sleep(context.Background(), interval) {
		e.UnloadIdle()
	}
}

// UnloadIdle unloads every idle queue and returns how many stay loaded.
func (e *Engine) UnloadIdle() int { return e.unloadIdle(e.now().UnixNano()) }

func (e *Engine) unloadIdle(now int64) int {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	for key, q := range e.queues {
		if q.unloadIfIdle(now) {
			delete(e.queues, key)
		}
	}
	return len(e.queues)
}
