package matching

import "github.com/taskroute/taskroute/internal/storage"

// level is the backlog of one kind and priority of a loaded queue: a FIFO buffer of tasks
// in memory over the durable backlog index. Tasks that do not fit (or arrive while older
// ones still wait on disk) stay on disk only and are paged in by sequence number.
type level struct {
	buf      []*task
	head     int32 // < BufferSize plus a page: fits, and keeps a level at 64 bytes
	diskTail bool  // entries with seq > cursor may exist on disk only
	loading  bool
	count    int64  // tasks waiting: buffered plus on disk only
	cursor   uint64 // every backlog entry with seq <= cursor is buffered or gone
	tailGen  uint64 // bumped on each disk-only add, so a page load knows it missed one
	oldest   uint64 // seq of the oldest entry on disk at load, for the age when unbuffered
}

func (l *level) len() int { return len(l.buf) - int(l.head) }

func (l *level) push(t *task) {
	if l.head > 64 && int(l.head) > len(l.buf)/2 {
		n := copy(l.buf, l.buf[l.head:])
		for i := n; i < len(l.buf); i++ {
			l.buf[i] = nil
		}
		l.buf, l.head = l.buf[:n], 0
	}
	l.buf = append(l.buf, t)
}

// live drops heads that were taken by a canceler and reports whether a task is buffered.
func (l *level) live() bool {
	for int(l.head) < len(l.buf) && l.buf[l.head].inq.Load() != inqBuffer {
		l.buf[l.head] = nil
		l.head++
	}
	if int(l.head) == len(l.buf) {
		l.buf, l.head = l.buf[:0], 0
		return false
	}
	return true
}

// pop claims the head task, or returns nil if a canceler took it first.
func (l *level) pop() *task {
	for int(l.head) < len(l.buf) {
		t := l.buf[l.head]
		l.buf[l.head] = nil
		l.head++
		if t.inq.CompareAndSwap(inqBuffer, inqClaimed) {
			l.count--
			return t
		}
	}
	return nil
}

func (l *level) headSeq() uint64 {
	if int(l.head) < len(l.buf) {
		return l.buf[l.head].seq
	}
	return l.oldest
}

// maybePageLocked starts a page load when the buffer runs low and tasks wait on disk.
func (q *queueManager) maybePageLocked(kind, prio uint8, l *level) {
	if l.diskTail && !l.loading && l.len() < q.e.opts.BufferSize/2 {
		q.startPageLoad(kind, prio, l)
	}
}

// startPageLoad loads the next page of a level from disk in the background. Call with q.mu
// held. The goroutine exists only while a page loads.
func (q *queueManager) startPageLoad(kind, prio uint8, l *level) {
	if l.loading || !l.diskTail {
		return
	}
	l.loading = true
	go q.pageIn(kind, prio, l)
}

func (q *queueManager) pageIn(kind, prio uint8, l *level) {
	e := q.e
	q.mu.Lock()
	cursor, gen := l.cursor, l.tailGen
	limit := max(e.opts.BufferSize-l.len(), 1)
	q.mu.Unlock()

	// The record copy in a backlog entry is current for a task that is not in memory and was
	// not evicted since before the scan began: every write of a task happens while it is in
	// memory and it stays there until the write is durable, so such a task's durable state
	// is what the scan sees (its entry and record are written in one batch). Otherwise the
	// record is read again.
	var evictions [numShards]uint64
	for i := range e.shards {
		evictions[i] = e.shards[i].evictions.Load()
	}
	seen := 0
	err := e.store.ScanBacklog(q.ref, kind, prio, cursor, limit, func(ent storage.BacklogEntry) bool {
		seen++
		key := taskKey(q.ref.Namespace, ent.TaskID)
		si := e.shardIndex(key)
		s := &e.shards[si]
		s.mu.Lock()
		var t *task
		var err error
		if _, inMemory := s.tasks[key]; !inMemory && ent.Record != nil && !s.mayHaveEvicted(key, evictions[si]) {
			if t, err = decodeTask(ent.Record); err == nil {
				s.tasks[key] = t
			}
		} else {
			t, err = e.lookup(s, key, q.ref.Namespace, ent.TaskID)
		}
		q.mu.Lock()
		if ent.Seq > l.cursor {
			l.cursor = ent.Seq
		}
		if err == nil && t.state == stateScheduled && t.seq == ent.Seq && t.retryAt == 0 && t.inq.CompareAndSwap(inqNone, inqBuffer) {
			l.push(t)
		}
		q.mu.Unlock()
		if err == nil {
			s.evict(key, t)
		}
		s.mu.Unlock()
		return true
	})
	q.mu.Lock()
	l.loading = false
	if err != nil {
		e.log.Error(err, "Failed to page in backlog", "queue", q.key, "priority", prio)
	} else if seen < limit && l.tailGen == gen {
		l.diskTail = false
		if l.len() == 0 {
			l.count = 0
		}
	}
	q.dispatchWaitingLocked(kind)
	q.mu.Unlock()
}
