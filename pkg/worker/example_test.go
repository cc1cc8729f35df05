package worker_test

import (
	"context"
	"log"
	"os/signal"
	"syscall"

	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// A worker in a WorkerPool pod: configuration comes from the environment the operator
// injects; SIGTERM triggers a graceful shutdown that hands unfinished tasks back.
func Example() {
	w, err := worker.FromEnvironment(nil)
	if err != nil {
		log.Fatal(err)
	}
	w.Register("resize", func(ctx context.Context, t *worker.Task) ([]byte, error) {
		if len(t.Payload) == 0 {
			// Retrying cannot help: end the task at once.
			return nil, worker.NonRetryable(worker.NewError("BadInput", "empty payload"))
		}
		// Resume from the progress recorded by an earlier attempt, if any.
		step := string(t.HeartbeatDetails)
		_ = step
		if err := t.Heartbeat(ctx, []byte("downloaded")); err != nil {
			return nil, err // cancellation was requested, or the lease was lost
		}
		// Schedule a follow-up on the same queue (no queue given).
		if _, err := t.Client().AddTask(ctx, client.Task{Type: "thumbnail", Payload: t.Payload}); err != nil {
			return nil, err
		}
		return []byte("ok"), nil
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := w.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

// A worker configured in code, sharing a client.
func ExampleNew() {
	c, err := client.Dial(context.Background(), "localhost:7233", client.WithNamespace("team-a"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	w, err := worker.New(c, worker.Options{
		Queue:          "images",
		Slots:          50,  // run up to 50 tasks at once
		TasksPerSecond: 200, // start at most 200 tasks per second
		Pool:           "images-cpu",
		Version:        "v1.4.0",
	})
	if err != nil {
		log.Fatal(err)
	}
	w.Register("thumbnail", func(ctx context.Context, t *worker.Task) ([]byte, error) { return nil, nil })
	if err := w.Start(); err != nil {
		log.Fatal(err)
	}
	defer w.Stop(context.Background())
}
