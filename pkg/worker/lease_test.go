package worker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

func dialTest(t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), addr, client.WithNamespace("default"), client.WithCallTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func startWorker(t *testing.T, c *client.Client, opts worker.Options, taskType string, h worker.Handler) *worker.Worker {
	t.Helper()
	w, err := worker.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	w.Register(taskType, h)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	})
	return w
}

// TestReLeasedAttemptCancelsHandlerWithLeaseLost: the real service hands a running
// attempt to another worker (here: released, then polled by another identity); the first
// worker's next automatic heartbeat (every 0.5s) learns that its lease is stale and cancels
// the handler with ErrLeaseLost, while the second attempt is still running.
func TestReLeasedAttemptCancelsHandlerWithLeaseLost(t *testing.T) {
	svc := testserver.StartService(t, testserver.Options{})
	c := dialTest(t, svc.Addr())
	started := make(chan *worker.Task, 1)
	cause := make(chan error, 1)
	startWorker(t, c, worker.Options{Queue: "lease", Identity: "first", HeartbeatFraction: 0.1}, "hold",
		func(ctx context.Context, tk *worker.Task) ([]byte, error) {
			started <- tk
			<-ctx.Done()
			cause <- context.Cause(ctx)
			return nil, ctx.Err()
		})
	if _, err := c.AddTask(context.Background(), client.Task{ID: "x", Queue: "lease", Type: "hold", HeartbeatTimeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	var tk *worker.Task
	select {
	case tk = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("task not started")
	}
	if err := svc.Engine().Release("default", tk.ID, tk.LeaseID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Service().PollTasks(ctx, &matchingv1.PollTasksRequest{Namespace: "default", Queue: "lease", WorkerIdentity: "second", MaxTasks: 1})
	if err != nil || len(resp.GetTasks()) != 1 {
		t.Fatalf("second worker's poll: %v, %v", resp, err)
	}
	select {
	case err := <-cause:
		if !errors.Is(err, worker.ErrLeaseLost) {
			t.Fatalf("handler cancelled with %v, want ErrLeaseLost", err)
		}
	case <-time.After(3 * time.Second): // well before the second attempt's heartbeat timeout
		t.Fatal("handler of the re-leased attempt was not cancelled")
	}
}
