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
	w.Register("resize", resize)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := w.Run(ctx); err != nil { // until SIGTERM, then a graceful Stop
		log.Fatal(err)
	}
}

// resize is a handler: it resumes from recorded progress, heartbeats, and schedules a
// follow-up task on its own queue.
func resize(ctx context.Context, t *worker.Task) ([]byte, error) {
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
}

// FromEnvironment with changes to the Options the environment gave.
func ExampleFromEnvironment() {
	w, err := worker.FromEnvironment(func(o *worker.Options) {
		o.Pollers = 4
		o.HeartbeatFraction = 0.25
	})
	if err != nil {
		log.Fatal(err)
	}
	w.Register("resize", resize)
}

// A worker configured in code, sharing a client. A Worker polls one queue: a process
// serving two queues runs two Workers on the same client.
func ExampleNew() {
	c, err := client.Dial(context.Background(), "localhost:7233", client.WithNamespace("team-a"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	images, err := worker.New(c, worker.Options{
		Queue:          "images",
		Slots:          50,  // run up to 50 tasks at once
		TasksPerSecond: 200, // start at most 200 tasks per second
		Pool:           "images-cpu",
		Version:        "v1.4.0",
	})
	if err != nil {
		log.Fatal(err)
	}
	images.Register("thumbnail", func(ctx context.Context, t *worker.Task) ([]byte, error) { return nil, nil })
	videos, err := worker.New(c, worker.Options{Queue: "videos", Slots: 2})
	if err != nil {
		log.Fatal(err)
	}
	videos.Register("transcode", func(ctx context.Context, t *worker.Task) ([]byte, error) { return nil, nil })
	for _, w := range []*worker.Worker{images, videos} {
		if err := w.Start(); err != nil {
			log.Fatal(err)
		}
		defer w.Stop(context.Background())
	}
}
