package matching

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/storage"
)

// backlog is one partition of the backlog of one kind of a loaded queue: the tasks with
// one set of requirements (none for the plain partition). It has one level per priority,
// each a buffer of tasks in memory over the durable backlog index. Guarded by its queue's
// lock.
type backlog struct {
	q        *queueManager
	kind     uint8
	fairSlot int32            // its slot in the subqueue's fairness index (fairness_index.go), 0 none
	ref      storage.QueueRef // the queue and partition in storage
	requires []capability
	prefers  []preference          // of the tasks of a preferring partition (prefers_match.go)
	levels   [maxLevels + 1]*level // index = priority
	loadedAt int64                 // when the partition was loaded: lost.go spares it a liveness timeout
	onDisk   bool                  // a partition other than the plain one that had entries on disk at load (listPartitions)
	fresh    bool                  // created after listPartitions: nothing of it waits on disk only
	fair     *fairKey              // its fairness key's scheduling state
}

// level is the backlog of one kind and priority: a buffer of tasks in memory, ordered by
// backlog sequence, over the durable index. Tasks that do not fit (or arrive while newer
// ones still wait on disk) stay on disk only and are paged in by sequence number.
type level struct {
	buf      []*task
	head     int32  // < BufferSize plus a page: fits, and keeps a level at 64 bytes
	rewinds  uint16 // bumped when the cursor moves back, so a page load in flight keeps it there
	diskTail bool   // entries with seq > cursor may exist on disk only
	loading  bool
	count    int64  // tasks waiting: buffered plus on disk only
	cursor   uint64 // every backlog entry with seq <= cursor is buffered or gone
	tailGen  uint64 // bumped on each disk-only add, so a page load knows it missed one
	oldest   uint64 // seq of the oldest entry on disk at load, for the age when unbuffered
}

// level returns the level of prio, creating it: a new level assumes the disk may hold tasks
// for it (diskTail), counts them and pages the first ones in.
func (b *backlog) level(prio uint8) *level {
	l := b.levels[prio]
	if l == nil {
		// Counting under the queue lock is exact (no add of this level can be in flight) and
		// costs one seek for an empty level; a level with a large backlog pays a key-only
		// scan once, when the queue is first touched after a restart or an unload.
		q := b.q
		if b.fresh && !b.onDisk {
			// Entries of a partition created after the listing belong to tasks that left
			// (deletes in flight): counting them would make phantom tasks.
			l = &level{}
			b.levels[prio] = l
			return l
		}
		l = &level{diskTail: true}
		n, oldest, err := q.e.store.CountBacklog(b.ref, b.kind, prio)
		if err != nil {
			q.e.log.Error(err, "Failed to count backlog", "queue", q.key, "priority", prio)
		}
		l.count, l.oldest = n, oldest
		if n == 0 && err == nil {
			l.diskTail = false
		}
		b.levels[prio] = l
		b.startPageLoad(prio, l)
	}
	return l
}

// add puts a scheduled task (t.seq set, its backlog entry being written) into the backlog:
// in memory, in sequence order, when the buffer has room and no older entry waits on disk
// only; otherwise on disk only, to be paged in.
func (b *backlog) add(t *task) {
	l := b.level(t.priority)
	l.count++
	if (!l.diskTail || t.seq <= l.cursor) && l.len() < b.q.e.opts.BufferSize {
		t.inq.Store(inqBuffer)
		l.insert(t)
		b.offered(t.priority)
		if !l.diskTail {
			l.cursor = max(l.cursor, t.seq)
		}
		return
	}
	l.markDiskOnly(t.seq)
}

// giveBack returns a claimed task that its poll could not deliver to its place.
func (b *backlog) giveBack(t *task) {
	if t.inq.CompareAndSwap(inqClaimed, inqBuffer) {
		l := b.level(t.priority)
		l.count++
		l.insert(t)
		b.offered(t.priority)
	}
}

// offered tells the subqueue's fairness index that level prio may have an older head or
// have become live (a task was buffered); partitions outside the index need nothing.
func (b *backlog) offered(prio uint8) {
	if b.fairSlot != 0 {
		b.q.sub(b.kind).fairIdx.offer(b, prio)
	}
}

// committed notes that t's disk-only backlog entry became durable: a page load that ran
// before the commit could not see it, so the level's tail is marked again. A page load in
// flight may have begun its scan before the entry was durable and still move the cursor
// past it (to a newer entry that was durable sooner): it must leave the cursor alone.
// The level is made if b has none: such a load may have reset a keyed level's count, so
// its partition was dropped when empty (dropIfEmpty) and b is the key's partition made
// again, whose new level would not look at the disk.
func (b *backlog) committed(t *task) {
	l := b.level(t.priority)
	l.diskTail = true
	l.tailGen++
	if l.loading {
		l.rewinds++
	}
	l.rewind(t.seq)
	b.maybePage(t.priority, l)
}

// forget takes a task that left the backlog without a dispatch (canceled, timed out) out of
// the count; a buffered one is dropped from the buffer lazily (live, pop).
func (b *backlog) forget(t *task) {
	if l := b.levels[t.priority]; l != nil && l.count > 0 {
		l.count--
	}
}

// busy reports whether the backlog holds tasks in memory or is paging: such a queue stays
// loaded.
func (b *backlog) busy() bool {
	for _, l := range b.levels {
		if l != nil && (l.len() > 0 || l.loading) {
			return true
		}
	}
	return false
}

// total is the number of waiting tasks over all levels.
func (b *backlog) total() int64 {
	var n int64
	for _, l := range b.levels {
		if l != nil {
			n += l.count
		}
	}
	return n
}

// stats appends a BacklogStats for every non-empty level. Levels up to configured are
// created (and so counted from disk) if they are not loaded yet.
func (b *backlog) stats(now int64, configured int, dst []*matchingv1.BacklogStats) []*matchingv1.BacklogStats {
	for p := 1; p <= maxLevels; p++ {
		if b.levels[p] == nil && (p > configured || b.ref.Partition != "" && !b.onDisk) {
			continue // see ensureLevels
		}
		l := b.level(uint8(p))
		if l.count == 0 {
			continue
		}
		dst = append(dst, &matchingv1.BacklogStats{Kind: kindProto(b.kind), Priority: int32(p), Count: l.count,
			OldestAge: durationpb.New(l.age(now)), Requires: capabilitiesProto(b.requires),
			Prefers: preferencesProto(b.prefers), FairnessKey: b.fair.name})
	}
	return dst
}

// age is how long the level's oldest waiting task has waited.
func (l *level) age(now int64) time.Duration {
	l.live()
	return ageOf(l.headSeq(), now)
}

// ageOf is how long ago a backlog sequence was taken (sequences are wall-clock nanos); 0 for
// none.
func ageOf(seq uint64, now int64) time.Duration {
	if seq != 0 && int64(seq) < now {
		return time.Duration(now - int64(seq))
	}
	return 0
}

func (l *level) len() int { return len(l.buf) - int(l.head) }

// insert adds t to the buffer in sequence order. New tasks have the highest sequence and
// are appended; a retried or given-back task keeps its original sequence and goes to its
// place among the older ones.
func (l *level) insert(t *task) {
	if l.head > 64 && int(l.head) > len(l.buf)/2 {
		n := copy(l.buf, l.buf[l.head:])
		clear(l.buf[n:])
		l.buf, l.head = l.buf[:n], 0
	}
	n := len(l.buf)
	if n == int(l.head) || l.buf[n-1].seq <= t.seq {
		l.buf = append(l.buf, t)
		return
	}
	i := int(l.head)
	for lo, hi := int(l.head), n; lo < hi; {
		mid := int(uint(lo+hi) >> 1)
		if l.buf[mid].seq <= t.seq {
			lo = mid + 1
		} else {
			hi = mid
		}
		i = lo
	}
	l.buf = append(l.buf, nil)
	copy(l.buf[i+1:], l.buf[i:n])
	l.buf[i] = t
}

// markDiskOnly records a backlog entry with sequence seq that is on disk and not in the
// buffer: the next page load must start at or before it.
func (l *level) markDiskOnly(seq uint64) {
	if !l.diskTail {
		l.cursor = seq - 1 // nothing on disk only yet, and no page load in flight
	}
	l.diskTail = true
	l.tailGen++
	l.rewind(seq)
}

// rewind moves the cursor back before seq, if it is past it: an entry older than the
// cursor (a retry keeps its first sequence) is on disk only and must be paged in.
func (l *level) rewind(seq uint64) {
	if seq <= l.cursor {
		l.cursor = seq - 1
		l.rewinds++
	}
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
			if l.count > 0 { // a page load that missed a commit may have reset it (pageIn)
				l.count--
			}
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

// maybePage starts a page load when the buffer runs low and tasks wait on disk. Heads
// canceled meanwhile are dropped first: they do not hold a page off, or a level whose
// buffer was canceled would leave the fairness index dead and unpaged.
func (b *backlog) maybePage(prio uint8, l *level) {
	l.live()
	if l.diskTail && !l.loading && l.len() < b.q.e.opts.BufferSize/2 {
		b.startPageLoad(prio, l)
	}
}

// startPageLoad loads the next page of a level from disk in the background. The goroutine
// exists only while a page loads.
func (b *backlog) startPageLoad(prio uint8, l *level) {
	if l.loading || !l.diskTail || !b.q.e.background.start() {
		return
	}
	l.loading = true
	go func() {
		defer b.q.e.background.done()
		b.pageIn(prio, l)
	}()
}

// pageIn reads the next page of a level from disk into its buffer and hands what it found
// to waiting polls. It takes the queue's lock itself (shard locks before it, as everywhere).
func (b *backlog) pageIn(prio uint8, l *level) {
	q, e := b.q, b.q.e
	q.mu.Lock()
	cursor, gen, rewinds := l.cursor, l.tailGen, l.rewinds
	limit := max(e.opts.BufferSize-l.len(), 1)
	q.mu.Unlock()

	// The record copy in a backlog entry is current for a task that is not in memory and was
	// not evicted since before the scan began: every write of a task happens while it is in
	// memory and it stays there until the write is durable, so such a task's durable state
	// is what the scan sees (its entry and record are written in one batch). Otherwise the
	// record is read again.
	evictions := e.tasks.evictionCounts()
	seen := 0
	var key []byte // of the entry at hand, in one buffer for the page
	err := e.store.ScanBacklog(b.ref, b.kind, prio, cursor, limit, func(ent storage.BacklogEntry) bool {
		seen++
		key = appendTaskKey(key[:0], q.ref.Namespace, ent.TaskID)
		s, si := e.tasks.shardOfBytes(key)
		s.mu.Lock()
		t, err := e.tasks.loadForScan(s, key, q.ref.Namespace, ent, evictions[si])
		q.mu.Lock()
		if ent.Seq > l.cursor && l.rewinds == rewinds {
			l.cursor = ent.Seq // unless the cursor moved back meanwhile: then the next load starts there
		}
		if err == nil && t.state == stateScheduled && t.seq == ent.Seq && t.retryAt == 0 && t.inq.CompareAndSwap(inqNone, inqBuffer) {
			l.insert(t)
			b.offered(prio)
		}
		q.mu.Unlock()
		if err == nil {
			s.evict(t.key, t)
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
	if l.diskTail && b.fairSlot != 0 && !l.live() {
		q.sub(b.kind).fairIdx.pagingStopped(b, prio)
	}
	q.dispatchWaitingLocked(b.kind)
	q.mu.Unlock()
}
