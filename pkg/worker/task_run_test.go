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
func unitWorker(t *testing.T) *Worker {
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
	t.Cleanup(w.executors.close)
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
// completion's request and queue item. Its context and deadline allocate nothing (they
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
	}{{"noop", 3}, {"selects", 4}} {
		p := &matchingv1.Task{TaskId: "id", TaskType: tc.taskType, LeaseId: "lease", StartToCloseTimeout: durationpb.New(time.Hour)}
		if n := testing.AllocsPerRun(200, func() { runOne(w, p) }); n > tc.want {
			t.Errorf("a %s task: %.1f allocations; want at most %.0f", tc.taskType, n, tc.want)
		}
	}
}

// TestDerivedContextsNeedNoGoroutines: contexts a handler derives from its context are
// canceled with it without a goroutine each (the context package starts one per child of
// a foreign context that lacks AfterFunc), and once tasks end no deadline timer is left
// armed.
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
	p := &matchingv1.Task{TaskId: "id", TaskType: "derives", LeaseId: "lease", StartToCloseTimeout: durationpb.New(time.Hour)}
	runOne(w, p)
	if n := <-grew; n >= children/2 {
		t.Errorf("%d derived contexts started %d goroutines", children, n)
	}
	w.taskWG.Wait() // the executor is past its task's end
	w.executors.mu.Lock()
	defer w.executors.mu.Unlock()
	for _, x := range w.executors.all {
		if x.timer.Stop() {
			t.Error("an executor's deadline timer is still armed after its task ended")
		}
	}
}
