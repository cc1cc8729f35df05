package worker

import (
	"context"
	"runtime"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
)

// unitWorker is a worker that never reaches a service: its executors run tasks and queue
// their completions for the stream, which the test takes off the queue (runOne).
func unitWorker(t testing.TB) *Worker {
	t.Helper()
	c, err := client.Dial(context.Background(), "127.0.0.1:1") // never called: lazy
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	w, err := New(c, Options{Queue: "q", Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	w.executors = newExecutors(w)
	t.Cleanup(func() {
		select {
		case <-w.executors.stop: // the test closed them
		default:
			w.executors.close()
		}
	})
	w.stream = &streamer{w: w, queue: make(chan *completion, 1), done: make(chan struct{})}
	return w
}

// runOne delivers p to the executors and waits for its outcome on the stream queue.
func runOne(w *Worker, p *matchingv1.Task) *completion {
	w.slots <- struct{}{}
	w.taskWG.Add(1)
	w.executors.run(newTask(w, p))
	item := <-w.stream.queue
	w.stream.freeSlot(item)
	return item
}

// TestTaskRunAllocations bounds what running a delivered task with a start-to-close
// timeout costs the worker, up to its completion queued for the stream: the Task, and the
// completion (its queue item, which holds its request). Its context and deadline allocate nothing (they
// were nine allocations: two nested standard contexts, a timer, a child registration);
// a handler that asks for Done gets one channel, as from a standard context.
func TestTaskRunAllocations(t *testing.T) {
	w := unitWorker(t)
	w.Register("noop", func(context.Context, *Task) ([]byte, error) { return nil, nil })
	w.Register("selects", func(ctx context.Context, _ *Task) ([]byte, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		default:
			return nil, nil
		}
	})
	for _, tc := range []struct {
		taskType string
		want     float64
	}{{"noop", 2}, {"selects", 3}} {
		p := &matchingv1.Task{TaskId: "id", TaskType: tc.taskType, LeaseId: "lease", StartToCloseTimeout: durationpb.New(time.Hour)}
		if n := testing.AllocsPerRun(200, func() { runOne(w, p) }); n > tc.want {
			t.Errorf("a %s task: %.1f allocations; want at most %.0f", tc.taskType, n, tc.want)
		}
	}
}

// TestDerivedContextsNeedNoGoroutines: contexts a handler derives from its context are
// canceled with it without a goroutine each (the context package starts one per child of
// a foreign context that lacks AfterFunc).
func TestDerivedContextsNeedNoGoroutines(t *testing.T) {
	w := unitWorker(t)
	const children = 100
	grew := make(chan int, 1)
	w.Register("derives", func(ctx context.Context, _ *Task) ([]byte, error) {
		before := runtime.NumGoroutine()
		for range children {
			child, cancel := context.WithCancel(ctx)
			defer cancel()
			_ = child.Done()
		}
		grew <- runtime.NumGoroutine() - before
		return nil, nil
	})
	runOne(w, &matchingv1.Task{TaskId: "id", TaskType: "derives", LeaseId: "lease", StartToCloseTimeout: durationpb.New(time.Hour)})
	if n := <-grew; n >= children/2 {
		t.Errorf("%d derived contexts started %d goroutines", children, n)
	}
}

// TestExecutorTimerFollowsEachTasksDeadline: the executor's one timer, left armed by an
// earlier task, still ends each task at its own deadline: a later deadline than the armed
// one (the timer re-arms when it fires), an earlier one (it is reset), and once the
// executors end, the timer is off.
func TestExecutorTimerFollowsEachTasksDeadline(t *testing.T) {
	w := unitWorker(t)
	type end struct {
		deadline, at time.Time
		err          error
	}
	ended := make(chan end, 1)
	w.Register("quick", func(context.Context, *Task) ([]byte, error) { return nil, nil })
	w.Register("waits", func(ctx context.Context, _ *Task) ([]byte, error) {
		<-ctx.Done()
		d, _ := ctx.Deadline()
		ended <- end{deadline: d, at: time.Now(), err: ctx.Err()}
		return nil, ctx.Err()
	})
	task := func(typ string, timeout time.Duration) *matchingv1.Task {
		return &matchingv1.Task{TaskId: "id", TaskType: typ, LeaseId: "lease", StartToCloseTimeout: durationpb.New(timeout)}
	}
	check := func(what string, timeout time.Duration) {
		t.Helper()
		start := time.Now()
		w.slots <- struct{}{}
		w.taskWG.Add(1)
		w.executors.run(newTask(w, task("waits", timeout)))
		var e end
		select {
		case e = <-ended:
		case <-time.After(timeout + 5*time.Second):
			t.Fatalf("%s: not ended %v after it started; its timeout is %v", what, timeout+5*time.Second, timeout)
		}
		item := <-w.stream.queue
		w.stream.freeSlot(item)
		switch {
		case e.err != context.DeadlineExceeded:
			t.Errorf("%s: Err %v; want DeadlineExceeded", what, e.err)
		case e.at.Before(e.deadline):
			t.Errorf("%s: ended %v before its deadline", what, e.deadline.Sub(e.at))
		case e.at.Sub(start) > timeout+time.Second:
			t.Errorf("%s: ended %v after it started; its timeout is %v", what, e.at.Sub(start), timeout)
		}
		if item.failure.GetFailure().GetErrorType() != ErrorTypeTimeout {
			t.Errorf("%s: outcome %v; want a %s failure", what, item.failure, ErrorTypeTimeout)
		}
	}
	runOne(w, task("quick", 50*time.Millisecond)) // leaves the timer armed 50ms out
	check("a deadline after the armed one", 300*time.Millisecond)
	runOne(w, task("quick", time.Hour)) // leaves the timer armed an hour out
	check("a deadline before the armed one", 100*time.Millisecond)

	runOne(w, task("quick", time.Hour))
	w.taskWG.Wait()
	if executorTimersOff(w) {
		t.Fatal("no executor's timer is armed after a task with an hour's deadline")
	}
	w.executors.close()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if executorTimersOff(w) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an executor's deadline timer is still armed after the executors ended")
		}
		runtime.Gosched()
	}
}

// executorTimersOff tells whether every executor's deadline timer is off.
func executorTimersOff(w *Worker) bool {
	w.executors.mu.Lock()
	defer w.executors.mu.Unlock()
	for _, x := range w.executors.all {
		x.timerMu.Lock()
		off := x.armedAt.IsZero()
		x.timerMu.Unlock()
		if !off {
			return false
		}
	}
	return true
}
