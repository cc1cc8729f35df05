package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

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
