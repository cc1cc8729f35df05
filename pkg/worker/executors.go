package worker

import (
	"context"
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

// executor is one executor goroutine's state, reused from task to task.
type executor struct {
	set     *executors
	current atomic.Pointer[Task] // the task it runs, nil between tasks
	// timer enforces the current task's start-to-close deadline: one timer per executor
	// instead of one per task. It is not stopped when a task ends: while it fires no later
	// than the next task's deadline it stays as it is (resetting it per task was ~0.7 µs),
	// and when it fires it re-arms for the current task's deadline, or stays off between
	// tasks.
	timer   *time.Timer
	timerMu sync.Mutex
	armedAt time.Time // when timer fires; zero while it is off
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

// loop executes t, then the tasks given to it, until Stop.
func (x *executor) loop(t *Task) {
	e := x.set
	defer x.stopTimer()
	for {
		slotHandedOn := e.w.execute(x, t)
		e.idle.Add(1)
		if !slotHandedOn {
			e.w.releaseSlots(1)
		}
		e.w.taskWG.Done()
		var ok bool
		if t, ok = e.next(); !ok {
			return
		}
	}
}

// begin makes t the executor's current task and makes sure the timer fires by its
// start-to-close deadline.
func (x *executor) begin(t *Task) {
	if t.StartToCloseTimeout <= 0 {
		x.current.Store(t)
		return
	}
	t.ctx.deadline = time.Now().Add(t.StartToCloseTimeout)
	x.current.Store(t) // after the deadline: expire reads it
	x.timerMu.Lock()
	if x.armedAt.IsZero() || x.armedAt.After(t.ctx.deadline) {
		x.armedAt = t.ctx.deadline
		x.timer.Reset(t.StartToCloseTimeout)
	}
	x.timerMu.Unlock()
}

// end cancels t's context: the task is over. The timer stays as it is (see timer).
func (x *executor) end(t *Task) {
	x.current.Store(nil)
	t.ctx.cancel(context.Canceled, nil)
}

// expire runs when the timer fires: it cancels the current task if its deadline has
// passed, re-arms the timer for it if not (the timer was armed for an earlier task's
// deadline), and leaves the timer off between tasks.
func (x *executor) expire() {
	x.timerMu.Lock()
	x.armedAt = time.Time{}
	t := x.current.Load()
	due := false
	if t != nil && !t.ctx.deadline.IsZero() {
		if left := time.Until(t.ctx.deadline); left > 0 {
			x.armedAt = t.ctx.deadline
			x.timer.Reset(left)
		} else {
			due = true
		}
	}
	x.timerMu.Unlock()
	if due {
		t.ctx.cancel(context.DeadlineExceeded, nil)
	}
}

// stopTimer turns the timer off for good: the executor ends, and no task is current.
func (x *executor) stopTimer() {
	x.timerMu.Lock()
	x.timer.Stop()
	x.armedAt = time.Time{}
	x.timerMu.Unlock()
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
