package matching

// Running attempts per worker identity, so the operator can tell busy workers from idle
// ones (the pods' deletion cost: idle workers go first on a scale-down). An attempt is
// counted for the identity that polled it (its lease owner), which does not change while
// it runs.

// addWorker adds n to the running attempts of worker on the queue. Call with its shard
// locked.
func (qr *queueRunning) addWorker(worker string, n int64) {
	if worker == "" {
		return
	}
	if qr.workers == nil {
		if n <= 0 {
			return
		}
		qr.workers = map[string]int64{}
	}
	if v := qr.workers[worker] + n; v > 0 {
		qr.workers[worker] = v
	} else {
		delete(qr.workers, worker)
	}
}

// byWorker returns a copy of q's running attempts per worker identity.
func (r *runningCounts) byWorker(q queueName) map[string]int64 {
	s := r.shard(q)
	s.mu.Lock()
	defer s.mu.Unlock()
	var workers map[string]int64
	if qr := s.queues[q]; qr != nil {
		workers = qr.workers
	}
	out := make(map[string]int64, len(workers))
	for w, n := range workers {
		out[w] = n
	}
	return out
}
