package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// taskContext is the context a handler gets: one per task, held inside the Task so it is
// not an allocation of its own. It replaces a context.WithCancelCause with a
// context.WithTimeout under it (nine allocations, a timer and a child registration per
// task): the deadline is enforced by the executor's reused timer (executor.expire), and
// the Done channel is made only when someone asks for it.
//
// context.Cause finds a cause only in the standard library's own cancel contexts (it
// asks Value for an unexported key), so a cancellation whose cause differs from Err (lease
// lost, worker stopping, cancel requested) makes one canceled context.WithCancelCause and
// answers Value from it. Contexts derived from this one register through AfterFunc, the
// hook the context package uses for foreign parents, instead of a goroutine each.
type taskContext struct {
	deadline time.Time // zero without a start-to-close timeout

	mu         sync.Mutex
	done       atomic.Value // chan struct{}: made by the first Done, closed by cancel
	err        atomic.Value // error: stored once, by the first cancel
	causeCtx   atomic.Value // context.Context holding a cause other than err, stored before err
	afterFuncs []*afterFunc // run by the first cancel; nil after it
}

// afterFunc is one function registered with AfterFunc; a pointer so that stop finds it.
type afterFunc struct{ f func() }

// closedChan is the Done channel of a context canceled before anyone asked for Done.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

var _ context.Context = (*taskContext)(nil)

// Deadline is the task's start-to-close deadline, if it has one.
func (c *taskContext) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

// Done is closed when the task ends or is canceled.
func (c *taskContext) Done() <-chan struct{} {
	if d, _ := c.done.Load().(chan struct{}); d != nil {
		return d
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d, _ := c.done.Load().(chan struct{})
	if d == nil {
		d = make(chan struct{})
		c.done.Store(d)
	}
	return d
}

// Err is nil until the context is canceled, then context.DeadlineExceeded or
// context.Canceled; it is set before Done closes, so code woken by Done finds it.
func (c *taskContext) Err() error {
	if err, _ := c.err.Load().(error); err != nil {
		return err
	}
	return nil
}

// Value has no values of its own (the task context descends from Background); once
// canceled with a distinct cause, it answers from the standard context that holds the
// cause, which is how context.Cause finds it.
func (c *taskContext) Value(key any) any {
	if cc, _ := c.causeCtx.Load().(context.Context); cc != nil {
		return cc.Value(key)
	}
	return nil
}

// String names the context in fmt output, as the standard contexts do.
func (c *taskContext) String() string { return "worker.taskContext" }

// AfterFunc registers f to run once the context is canceled; the context package uses it
// to propagate cancellation to derived contexts without a goroutine per derived context
// (and context.AfterFunc goes through it). f runs at once on its own goroutine if the
// context is already canceled.
func (c *taskContext) AfterFunc(f func()) (stop func() bool) {
	a := &afterFunc{f: f}
	c.mu.Lock()
	if c.err.Load() != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	c.afterFuncs = append(c.afterFuncs, a)
	c.mu.Unlock()
	return func() bool { return c.removeAfterFunc(a) }
}

// removeAfterFunc unregisters a; false if it already ran (or was removed).
func (c *taskContext) removeAfterFunc(a *afterFunc) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, b := range c.afterFuncs {
		if b == a {
			c.afterFuncs = append(c.afterFuncs[:i], c.afterFuncs[i+1:]...)
			return true
		}
	}
	return false
}

// cancel ends the context with err (context.Canceled or context.DeadlineExceeded) and
// cause (nil: err itself); only the first call counts.
func (c *taskContext) cancel(err, cause error) {
	c.mu.Lock()
	if c.err.Load() != nil {
		c.mu.Unlock()
		return
	}
	if cause != nil && cause != err {
		holder, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		c.causeCtx.Store(holder)
	}
	c.err.Store(err) // before Done closes: a waiter woken by the close must find it
	if d, _ := c.done.Load().(chan struct{}); d != nil {
		close(d)
	} else {
		c.done.Store(closedChan)
	}
	funcs := c.afterFuncs
	c.afterFuncs = nil
	c.mu.Unlock()
	// Outside the lock: a derived context's cancel may call back (its stop).
	for _, a := range funcs {
		a.f()
	}
}
