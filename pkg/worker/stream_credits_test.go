package worker_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"google.golang.org/grpc"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// TestStreamCreditsRideWithCompletions: a busy worker grants the slot a task frees in the
// message that carries its completion, not in a credit message of its own: a one-slot
// worker draining a backlog sends about one stream message per task (two before).
func TestStreamCreditsRideWithCompletions(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	var sent atomic.Int64
	c := dialCountingSends(t, addr, &sent)
	const n = 100
	addQueued(t, c, "ride", n)
	ran := make(chan struct{}, n)
	w, err := worker.New(c, worker.Options{Queue: "ride", Slots: 1, Identity: "ride"})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("t", func(context.Context, *worker.Task) ([]byte, error) { ran <- struct{}{}; return nil, nil })
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	waitRan(t, ran, n)
	// The open message, one per task (completion and the credit for the next), and the
	// last completion's message may still be on its way.
	if got := sent.Load(); got > n+1 {
		t.Errorf("the worker sent %d stream messages for %d tasks; want at most %d (credits ride with completions)", got, n, n+1)
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestStreamBatchesOutcomesOfTasksPushedTogether: tasks pushed in one message finish at
// about the same time, and their outcomes (with the credits of their slots) share
// messages: a 64-slot worker draining a backlog sends far fewer messages than tasks
// (~0.05 per task measured; ~1 when each outcome or credit went in a message of its own).
func TestStreamBatchesOutcomesOfTasksPushedTogether(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	var sent atomic.Int64
	c := dialCountingSends(t, addr, &sent)
	const n = 3000
	addQueued(t, c, "batch", n)
	w, waitAll := noopWorker(t, c, "batch", "batch", n)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	waitAll(60 * time.Second)
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if perTask := float64(sent.Load()) / n; perTask > 0.3 {
		t.Errorf("the worker sent %d stream messages for %d tasks (%.2f per task); want at most 0.3 per task", sent.Load(), n, perTask)
	}
}

// TestStreamOutcomeQueuedWithoutStreamDoesNotStallTheWorker: an outcome holds its task's
// slot until a stream message grants it again; one queued while no stream runs (the
// handler returned after its stream broke) must not keep the next stream from opening
// for want of a free slot. A one-slot worker whose stream breaks under a running task
// reports that task and runs the next one.
func TestStreamOutcomeQueuedWithoutStreamDoesNotStallTheWorker(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	var mu sync.Mutex
	var breakStream context.CancelFunc // cuts the worker's current stream
	intercept := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		ctx, cancel := context.WithCancel(ctx)
		mu.Lock()
		breakStream = cancel
		mu.Unlock()
		return streamer(ctx, desc, cc, method, opts...)
	}
	c, err := client.Dial(context.Background(), addr, client.WithNamespace("default"),
		client.WithCallTimeout(5*time.Second), client.WithDialOptions(grpc.WithStreamInterceptor(intercept)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	started, release := make(chan string, 2), make(chan struct{})
	streamEnded := make(chan struct{}, 1) // logged once the broken stream's session is over
	logger := funcr.New(func(_, args string) {
		if strings.Contains(args, `"Worker stream`) { // failed, or refused (a cut stream is Canceled)
			select {
			case streamEnded <- struct{}{}:
			default:
			}
		}
	}, funcr.Options{Verbosity: 1})
	w, err := worker.New(c, worker.Options{Queue: "stall", Slots: 1, Identity: "stall", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("t", func(_ context.Context, tk *worker.Task) ([]byte, error) {
		started <- tk.ID
		if tk.ID == "first" {
			<-release
		}
		return []byte("done"), nil
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	var releaseOnce sync.Once
	t.Cleanup(func() {
		releaseOnce.Do(func() { close(release) })
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	})
	if _, err := c.AddTask(context.Background(), client.Task{ID: "first", Queue: "stall", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	<-started
	mu.Lock()
	breakStream()
	mu.Unlock()
	select {
	case <-streamEnded: // the worker waits for its only slot to open the next stream
	case <-time.After(10 * time.Second):
		t.Fatal("the broken stream's session did not end")
	}
	releaseOnce.Do(func() { close(release) }) // first's outcome is queued with no stream to send it
	if _, err := c.AddTask(context.Background(), client.Task{ID: "second", Queue: "stall", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-started:
		if id != "second" {
			t.Fatalf("started %q; want second", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the next task did not start: the worker's only slot stayed with a queued outcome")
	}
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		info, err := c.GetTask(context.Background(), "first")
		if err == nil && info.State == client.StateCompleted {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("first after the break: %+v %v; want Completed", info, err)
		}
	}
}

// waitRan waits, with a bound, until n tasks have signalled ran.
func waitRan(t *testing.T, ran <-chan struct{}, n int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-ran:
		case <-deadline:
			t.Fatalf("%d of %d tasks ran", i, n)
		}
	}
}
