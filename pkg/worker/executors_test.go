package worker_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// goroutineID is the id of the calling goroutine, from its stack header.
func goroutineID() string {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	return string(bytes.Fields(buf[:n])[1])
}

// executorGoroutines counts the goroutines that are the worker's executors.
func executorGoroutines() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "worker.(*executor).loop")
}

// TestTasksRunOnAtMostSlotsExecutors: a worker runs task after task on long-lived
// goroutines, at most one per slot, also after handlers panicked (each panic is recovered
// for its own task), and they end when the worker stops.
func TestTasksRunOnAtMostSlotsExecutors(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c, err := client.Dial(context.Background(), addr, client.WithNamespace("default"), client.WithCallTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	const slots, n = 4, 200
	var mu sync.Mutex
	goroutines := map[string]bool{}
	record := func() {
		mu.Lock()
		goroutines[goroutineID()] = true
		mu.Unlock()
	}
	ran := make(chan struct{}, n)
	w, err := worker.New(c, worker.Options{Queue: "exec", Slots: slots, Identity: "exec"})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("t", func(context.Context, *worker.Task) ([]byte, error) { record(); ran <- struct{}{}; return nil, nil })
	w.Register("boom", func(context.Context, *worker.Task) ([]byte, error) { record(); panic("boom") })
	tasks := make([]client.Task, 0, n+n/10)
	for i := 0; i < n; i++ {
		tasks = append(tasks, client.Task{ID: fmt.Sprint("e-", i), Queue: "exec", Type: "t"})
		if i%10 == 0 {
			tasks = append(tasks, client.Task{ID: fmt.Sprint("boom-", i), Queue: "exec", Type: "boom",
				Retry: &client.RetryPolicy{MaximumAttempts: 1}})
		}
	}
	if _, err := c.AddTasks(context.Background(), tasks); err != nil {
		t.Fatal(err)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	waitRan(t, ran, n)
	mu.Lock()
	used := len(goroutines)
	mu.Unlock()
	if used > slots {
		t.Errorf("handlers ran on %d goroutines; want at most %d (one executor per slot)", used, slots)
	}
	if n := executorGoroutines(); n == 0 || n > slots {
		t.Errorf("%d executor goroutines before Stop; want 1..%d", n, slots)
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); executorGoroutines() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d executors still running after Stop", executorGoroutines())
		}
	}
	info, err := c.GetTask(context.Background(), "boom-0")
	if err != nil || info.State != client.StateFailed || info.Failure == nil || info.Failure.ErrorType != worker.ErrorTypePanic {
		t.Fatalf("panicking task: %+v %v; want Failed with a panic", info, err)
	}
}
