package matching

import (
	"sync"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/storage"
)

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
	e.stoppedRunning(t)
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
		b.PutBacklog(storage.QueueRef{Namespace: t.ns, Queue: t.queue, Partition: t.part}, storage.BacklogKey{Kind: t.kind, Priority: t.priority, Seq: o.putBacklog}, t.id, o.buf.b)
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
		b.DeleteBacklog(storage.QueueRef{Namespace: t.ns, Queue: t.queue, Partition: t.part}, storage.BacklogKey{Kind: t.kind, Priority: t.priority, Seq: o.delBacklog})
	}
	if o.expiry != 0 {
		b.PutExpiry(time.Unix(0, o.expiry), t.ns, t.id)
	}
}

// staged collects the writes of one call, staged under the shard locks of their tasks, to
// be committed as one group.
type staged struct {
	ops   []op
	cause storage.Cause // what the writes are, for the commit counts
}

// add stages o.
func (st *staged) add(o op) { st.ops = append(st.ops, o) }

// commitAndWait enqueues the staged writes as one group, runs unlock (the shard locks they
// were staged under: the order of writes of a task is fixed once they are enqueued), waits
// until they are durable and releases their tasks.
func (e *Engine) commitAndWait(st *staged, unlock func()) error {
	return e.commitEnqueue(st, unlock).wait()
}

// commitEnqueue is commitAndWait without the wait: the returned write's wait (or Wait)
// must be called once.
func (e *Engine) commitEnqueue(st *staged, unlock func()) *PendingWrite {
	if len(st.ops) == 0 {
		unlock()
		return nil
	}
	ops := st.ops
	g := e.committer.WriteFor(st.cause, func(b storage.Batch) { applyAll(ops, b) })
	unlock()
	return &PendingWrite{e: e, g: g, ops: ops}
}

// PendingWrite is an enqueued write of staged task changes, not yet known durable. nil is
// a write of nothing (durable at once).
type PendingWrite struct {
	e   *Engine
	g   *storage.Group
	ops []op
}

// Durable tells, without blocking, whether Wait would return at once.
func (w *PendingWrite) Durable() bool { return w == nil || w.g.Done() }

// Wait blocks until the write is durable, releases its tasks and, if it failed, sets every
// nil entry of errs (the items it carried) to the error. Call it once.
func (w *PendingWrite) Wait(errs []*matchingv1.ItemError) {
	if werr := w.wait(); werr != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = itemError(internalErr(werr))
			}
		}
	}
}

func (w *PendingWrite) wait() error {
	if w == nil {
		return nil
	}
	err := w.g.Wait()
	w.e.writesDone(w.ops)
	return err
}

// commitAsync enqueues one staged write without waiting; t is released once durable.
func (e *Engine) commitAsync(o op) { e.commitAllAsync(storage.CauseOther, []op{o}) }

// commitAllAsync enqueues staged writes as one, without waiting; each task is released
// once durable. Call with the tasks' shards locked (see prepare).
func (e *Engine) commitAllAsync(cause storage.Cause, ops []op) {
	if len(ops) == 0 {
		return
	}
	e.committer.WriteThenFor(cause, func(b storage.Batch) { applyAll(ops, b) }, func(error) { e.writesDone(ops) })
}

func applyAll(ops []op, b storage.Batch) {
	for i := range ops {
		ops[i].apply(b)
	}
}

// writesDone marks the writes of ops durable (writeDone of each task).
func (e *Engine) writesDone(ops []op) {
	for i := range ops {
		e.writeDone(ops[i].t)
	}
}

// writeDone marks one write of t as durable and evicts t when it is no longer needed.
func (e *Engine) writeDone(t *task) {
	key := t.key
	s, _ := e.tasks.shard(key)
	s.mu.Lock()
	t.pending--
	if t.state == stateScheduled && t.seq != 0 && t.retryAt == 0 && t.inq.Load() == inqNone {
		// A disk-only backlog entry became durable: a page load that ran before this commit
		// could not see it.
		if q := e.loadedQueue(t.ns, t.queue); q != nil {
			q.backlogCommitted(t)
		}
	}
	s.evict(key, t)
	s.mu.Unlock()
}

type byteBuf struct{ b []byte }

var bufPool = sync.Pool{New: func() any { return &byteBuf{b: make([]byte, 0, 512)} }}

func getBuf() *byteBuf { return bufPool.Get().(*byteBuf) }
func putBuf(b *byteBuf) {
	if cap(b.b) <= 64<<10 {
		bufPool.Put(b)
	}
}
