package matching

// Running attempts per worker identity, so the operator can tell busy workers from idle
// ones (the pods' deletion cost: idle workers go first on a scale-down). An attempt is
// counted for the identity that polled it (its lease owner), which does not change while
// it runs.

// addWorkerLocked adds n to the running attempts of worker on q. Call with s locked.
func (s *runningShard) addWorkerLocked(q queueName, worker string, n int64) {
	if worker == "" {
		return
	}
	if s.workers == nil {
		s.workers = map[queueName]map[string]int64{}
	}
	m := s.workers[q]
	if m == nil {
		if n <= 0 {
			return
		}
		m = map[string]int64{}
		s.workers[q] = m
	}
	if v := m[worker] + n; v > 0 {
		m[worker] = v
	} else {
		delete(m, worker)
		if len(m) == 0 {
			delete(s.workers, q)
		}
	}
}

// byWorker returns a copy of q's running attempts per worker identity.
func (r *runningCounts) byWorker(q queueName) map[string]int64 {
	s := r.shard(q)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.workers[q]))
	for w, n := range s.workers[q] {
		out[w] = n
	}
	return out
}
