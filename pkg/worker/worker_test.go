package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
)

// newTestWorker makes a worker on the fake server, which serves the unary poll path only
// (the stream path is tested against the real service in stream_test.go).
func newTestWorker(t *testing.T, c *client.Client, opts Options) *Worker {
	t.Helper()
	opts.Queue = "q"
	opts.Dispatch = DispatchPoll
	if opts.PollTimeout == 0 {
		opts.PollTimeout = 2 * time.Second
	}
	w, err := New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	})
	return w
}

func TestSlotsBoundConcurrencyAndPollSize(t *testing.T) {
	f, c := startFake(t)
	w := newTestWorker(t, c, Options{Slots: 3, Pollers: 2})
	var running, peak atomic.Int32
	gate := make(chan struct{})
	w.Register("t", func(ctx context.Context, task *Task) ([]byte, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-gate
		running.Add(-1)
		return []byte("ok"), nil
	})
	for i := 0; i < 10; i++ {
		f.add(fmt.Sprint(i), "t", 0)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, 2*time.Second, "3 tasks taken", func() bool { return len(f.leases) == 3 })
	time.Sleep(100 * time.Millisecond) // a worker with no free slot must not poll again
	f.mu.Lock()
	if len(f.leases) != 3 || len(f.queue) != 7 {
		t.Errorf("with 3 slots busy: %d leased, %d queued; want 3 and 7", len(f.leases), len(f.queue))
	}
	f.mu.Unlock()
	close(gate)
	f.waitFor(t, 3*time.Second, "all completed", func() bool { return len(f.completed) == 10 })
	if peak.Load() > 3 {
		t.Errorf("peak concurrency %d > 3 slots", peak.Load())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.maxAsked > 3 || f.maxAsked < 1 {
		t.Errorf("a poll asked for %d tasks; want 1..3", f.maxAsked)
	}
	p := f.polls[0]
	if p.GetWorkerIdentity() != w.Identity() || len(p.GetTaskTypes()) != 1 || p.GetTaskTypes()[0] != "t" || p.GetNamespace() != "ns" {
		t.Errorf("poll request = %v", p)
	}
}

func TestUnknownTaskTypeFailsRetryably(t *testing.T) {
	f, c := startFake(t)
	w := newTestWorker(t, c, Options{})
	w.Register("known", func(context.Context, *Task) ([]byte, error) { return nil, nil })
	f.add("x", "mystery", 0)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, 2*time.Second, "failure", func() bool { return len(f.failures["x"]) == 1 })
	fl := f.failures["x"][0]
	if fl.GetErrorType() != ErrorTypeUnknownTaskType || fl.GetNonRetryable() {
		t.Errorf("failure = %v; want retryable %s", fl, ErrorTypeUnknownTaskType)
	}
}

func TestErrorsAndPanicsBecomeFailures(t *testing.T) {
	f, c := startFake(t)
	w := newTestWorker(t, c, Options{Slots: 4})
	w.Register("plain", func(context.Context, *Task) ([]byte, error) { return nil, errors.New("boom") })
	w.Register("final", func(context.Context, *Task) ([]byte, error) {
		return nil, NonRetryable(NewError("BadInput", "payload %q is not an image", "x"))
	})
	w.Register("panics", func(context.Context, *Task) ([]byte, error) { panic("oops") })
	f.add("a", "plain", 0)
	f.add("b", "final", 0)
	f.add("c", "panics", 0)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, 2*time.Second, "3 failures", func() bool { return len(f.failures) == 3 })
	check := func(id, typ string, nonRetryable bool) {
		fl := f.failures[id][0]
		if fl.GetErrorType() != typ || fl.GetNonRetryable() != nonRetryable || fl.GetMessage() == "" {
			t.Errorf("%s: failure = %v; want type %s nonRetryable=%v", id, fl, typ, nonRetryable)
		}
	}
	check("a", ErrorTypeGeneric, false)
	check("b", "BadInput", true)
	check("c", ErrorTypePanic, false)
}

func TestCompletionsAreBatchedUnderLoad(t *testing.T) {
	f, c := startFake(t)
	w := newTestWorker(t, c, Options{Slots: 200, Pollers: 2, MaxTasksPerPoll: 200})
	w.Register("t", func(_ context.Context, task *Task) ([]byte, error) { return []byte(task.ID), nil })
	const n = 2000
	for i := 0; i < n; i++ {
		f.add(fmt.Sprint(i), "t", 0)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, 10*time.Second, "all completed", func() bool { return len(f.completed) == n })
	f.mu.Lock()
	defer f.mu.Unlock()
	calls := len(f.batchSizes) + f.singleCalls
	if calls >= n/4 {
		t.Errorf("%d completion calls for %d tasks; want batching to cut calls at least 4x", calls, n)
	}
	for id, r := range f.completed {
		if string(r) != id {
			t.Fatalf("task %s completed with result %q", id, r)
		}
	}
	t.Logf("%d tasks completed in %d calls (%d batched)", n, calls, len(f.batchSizes))
}

func TestLoneCompletionGoesOutPromptly(t *testing.T) {
	f, c := startFake(t)
	w := newTestWorker(t, c, Options{Slots: 10})
	done := make(chan struct{})
	w.Register("t", func(context.Context, *Task) ([]byte, error) { close(done); return nil, nil })
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	f.add("one", "t", 0)
	<-done
	start := time.Now()
	f.waitFor(t, time.Second, "completion", func() bool { return len(f.completed) == 1 })
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("lone completion took %v", d)
	}
}

func TestHeartbeatDetailsAndCancellation(t *testing.T) {
	f, c := startFake(t)
	w := newTestWorker(t, c, Options{})
	var cause atomic.Value
	w.Register("t", func(ctx context.Context, task *Task) ([]byte, error) {
		if err := task.Heartbeat(ctx, []byte("step-1")); err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.cancelReq[task.ID] = true
		f.mu.Unlock()
		// Recorded only (throttled); the automatic heartbeat sends it and learns of the
		// cancellation.
		_ = task.Heartbeat(ctx, []byte("step-2"))
		<-ctx.Done()
		cause.Store(context.Cause(ctx))
		return nil, ctx.Err()
	})
	f.add("x", "t", 200*time.Millisecond)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, 3*time.Second, "canceled report", func() bool { return len(f.failures["x"]) == 1 })
	if got := f.failures["x"][0].GetErrorType(); got != "Canceled" {
		t.Errorf("reported %q; want ReportTaskCanceled", got)
	}
	if got := string(f.heartbeats["x"]); got != "step-2" {
		t.Errorf("last heartbeat details %q; want step-2", got)
	}
	if c, _ := cause.Load().(error); !errors.Is(c, ErrCancelRequested) {
		t.Errorf("context cause %v; want ErrCancelRequested", c)
	}
}

func TestStopFinishesOrReleasesRunningTasks(t *testing.T) {
	f, c := startFake(t)
	w := newTestWorker(t, c, Options{Slots: 2})
	started := make(chan string, 2)
	w.Register("quick", func(ctx context.Context, task *Task) ([]byte, error) {
		started <- task.ID
		time.Sleep(50 * time.Millisecond)
		return []byte("done"), nil
	})
	w.Register("stuck", func(ctx context.Context, task *Task) ([]byte, error) {
		started <- task.ID
		<-ctx.Done()
		return nil, context.Cause(ctx)
	})
	f.add("quick", "quick", 0)
	f.add("stuck", "stuck", 0)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	<-started
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if string(f.completed["quick"]) != "done" {
		t.Errorf("quick task not completed during the grace period: %v", f.completed)
	}
	if len(f.released) != 1 || f.released[0] != "stuck" {
		t.Errorf("released %v; want [stuck]", f.released)
	}
	if len(f.failures["stuck"]) != 0 {
		t.Errorf("a released task must not also be failed: %v", f.failures["stuck"])
	}
}

func TestTasksPerSecondHolds(t *testing.T) {
	f, c := startFake(t)
	const rate = 40.0
	w := newTestWorker(t, c, Options{Slots: 50, TasksPerSecond: rate, Pollers: 3})
	var mu sync.Mutex
	var starts []time.Time
	w.Register("t", func(context.Context, *Task) ([]byte, error) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		return nil, nil
	})
	for i := 0; i < 500; i++ {
		f.add(fmt.Sprint(i), "t", 0)
	}
	begin := time.Now()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = w.Stop(ctx)
	elapsed := time.Since(begin).Seconds()
	mu.Lock()
	n := len(starts)
	mu.Unlock()
	limit := int(rate*elapsed) + int(newBucket(rate, time.Now()).burst) + 1
	if n > limit || n < int(rate*elapsed*0.6) {
		t.Errorf("started %d tasks in %.2fs at %v/s; want about %d and at most %d", n, elapsed, rate, int(rate*elapsed), limit)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := f.polls[0].GetTasksPerSecond(); got != rate {
		t.Errorf("poll declared %v tasks/s; want %v", got, rate)
	}
}

func TestChildTasksInheritQueue(t *testing.T) {
	_, c := startFake(t)
	w := newTestWorker(t, c, Options{})
	task := newTask(w, &matchingv1.Task{Namespace: "ns", Queue: "parent-q", TaskId: "p1"})
	child := task.Client()
	if child.DefaultQueue() != "parent-q" || child.Namespace() != "ns" {
		t.Errorf("child client queue %q namespace %q", child.DefaultQueue(), child.Namespace())
	}
}

func TestBucket(t *testing.T) {
	now := time.Unix(0, 0)
	b := newBucket(100, now) // burst 10, starts with 1
	if got, _ := b.take(5, now); got != 1 {
		t.Fatalf("first take = %d; want 1", got)
	}
	if got, wait := b.take(5, now); got != 0 || wait != 10*time.Millisecond {
		t.Fatalf("empty take = %d, %v; want 0, 10ms", got, wait)
	}
	now = now.Add(time.Second)
	if got, _ := b.take(50, now); got != 10 {
		t.Fatalf("take after 1s = %d; want burst 10", got)
	}
	b.giveBack(4)
	if got, _ := b.take(50, now); got != 4 {
		t.Fatalf("take after give back = %d; want 4", got)
	}
}
