package worker

import "sync/atomic"

// executors run delivered tasks on long-lived goroutines, at most one per slot: a task on
// a fresh goroutine paid for the goroutine and for growing (copying) its small stack while
// it made the task's contexts, ~5% of a batched drain's CPU. An executor takes the next
// task once its own is reported; a new one starts only when none is idle.
type executors struct {
	w     *Worker
	queue chan *Task    // tasks for idle executors; each holds a slot, so it never fills
	idle  atomic.Int64  // executors waiting on queue and not yet claimed by a task
	stop  chan struct{} // closed by Stop: idle executors end
}

func newExecutors(w *Worker) *executors {
	return &executors{w: w, queue: make(chan *Task, w.opts.Slots), stop: make(chan struct{})}
}

// run executes t, which holds a slot and is counted in taskWG, on an idle executor or a
// new one.
func (e *executors) run(t *Task) {
	if e.claimIdle() {
		e.queue <- t
		return
	}
	go e.loop(t)
}

// claimIdle takes one idle executor for a task. An executor counts as idle before it
// frees its slot, so when none is idle every executor holds a slot and starting one more
// keeps them at most Slots.
func (e *executors) claimIdle() bool {
	for {
		n := e.idle.Load()
		if n == 0 {
			return false
		}
		if e.idle.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// loop executes t, then the tasks given to it while idle, until Stop.
func (e *executors) loop(t *Task) {
	for {
		e.w.execute(t)
		e.idle.Add(1)
		e.w.releaseSlots(1)
		e.w.taskWG.Done()
		var ok bool
		if t, ok = e.next(); !ok {
			return
		}
	}
}

// next waits for a task; false once Stop ended the executors and no task is queued.
func (e *executors) next() (*Task, bool) {
	select {
	case t := <-e.queue:
		return t, true
	case <-e.stop:
		select {
		case t := <-e.queue:
			return t, true
		default:
			return nil, false
		}
	}
}

// close ends the idle executors (and each busy one once its task is reported).
func (e *executors) close() { close(e.stop) }
