package worker

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// executors run delivered tasks on long-lived goroutines, at most one per slot: a task on
// a fresh goroutine paid for the goroutine and for growing (copying) its small stack while
// it made the task's contexts, ~5% of a batched drain's CPU. An executor takes the next
// task once its own is reported; a new one starts only when none is idle.
type executors struct {
	w     *Worker
	queue chan *Task // tasks for executors; each holds a slot, so it never fills
	// idle is the executors waiting on queue minus the tasks in it: above 0, a task sent
	// to queue is taken at once. Below 0, tasks wait for executors that are about to
	// finish (all Slots of them run, and a waiting task holds a slot, so one of them has
	// already handed its task's slot on).
	idle    atomic.Int64
	started atomic.Int64
	stop    chan struct{} // closed by Stop: idle executors end

	mu  sync.Mutex
	all []*executor // every executor started, for Stop to find the running tasks
}

func newExecutors(w *Worker) *executors {
	return &executors{w: w, queue: make(chan *Task, w.opts.Slots), stop: make(chan struct{})}
}

// run executes t, which holds a slot and is counted in taskWG, on an idle executor, on a
// new one while there are fewer than Slots, or else on the next executor to finish.
func (e *executors) run(t *Task) {
	if e.idle.Add(-1) < 0 && e.startOne() {
		e.idle.Add(1) // not queued after all
		go e.newExecutor().loop(t)
		return
	}
	e.queue <- t
}

// startOne counts a new executor unless Slots of them run.
func (e *executors) startOne() bool {
	for {
		n := e.started.Load()
		if n >= int64(e.w.opts.Slots) {
			return false
		}
		if e.started.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// newExecutor registers the state of a new executor goroutine.
func (e *executors) newExecutor() *executor {
	x := &executor{set: e}
	x.timer = time.AfterFunc(math.MaxInt64, x.expire)
	x.timer.Stop()
	e.mu.Lock()
	e.all = append(e.all, x)
	e.mu.Unlock()
	return x
}

// running are the tasks the executors run now.
func (e *executors) running() []*Task {
	e.mu.Lock()
	defer e.mu.Unlock()
	var tasks []*Task
	for _, x := range e.all {
		if t := x.current.Load(); t != nil {
			tasks = append(tasks, t)
		}
	}
	return tasks
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

// close ends the idle executors (and each busy one once its task is reported); no task is
// delivered after it.
func (e *executors) close() { close(e.stop) }
