package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskroute/taskroute/pkg/client"
)

// Add a task and wait for its outcome.
func Example() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "localhost:7233", client.WithNamespace("team-a"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	res, err := c.AddTask(ctx, client.Task{
		ID:      "resize-42", // idempotency key: repeating this call schedules nothing new
		Queue:   "images",
		Type:    "resize",
		Payload: []byte(`{"url":"s3://bucket/cat.png","width":640}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	info, err := c.WaitForResult(wctx, res.ID)
	if err != nil {
		log.Fatal(err)
	}
	switch info.State {
	case client.StateCompleted:
		fmt.Printf("result: %s\n", info.Result)
	default:
		fmt.Printf("task ended %s: %+v\n", info.State, info.Failure)
	}
}

// Add many tasks with few durable writes.
func ExampleClient_AddTasks() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "localhost:7233")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	tasks := make([]client.Task, 0, 5000)
	for i := 0; i < 5000; i++ {
		tasks = append(tasks, client.Task{
			ID: fmt.Sprintf("thumb-%d", i), Queue: "images", Type: "thumbnail", Priority: 2,
			Retry: &client.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: []string{"BadInput"}},
		})
	}
	results, err := c.AddTasks(ctx, tasks) // 5 calls of 1000
	if err != nil {
		log.Fatalf("added %d before: %v", len(results), err)
	}
}

// Errors keep their gRPC status code.
func ExampleClient_GetTask() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "localhost:7233")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	info, err := c.GetTask(ctx, "no-such-task")
	switch status.Code(err) {
	case codes.OK:
		fmt.Println(info.State)
	case codes.NotFound:
		fmt.Println("no such task")
	default:
		log.Fatal(err)
	}
}

// Read a queue's live statistics.
func ExampleClient_DescribeQueue() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "localhost:7233")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	d, err := c.DescribeQueue(ctx, "images")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("backlog %d, dispatching %.0f/s, %d pollers, rate limit %s\n",
		d.BacklogCount(), d.DispatchRate, len(d.Pollers), d.RateLimit.State)
}

// Run the steps of one upload on one worker process that the service picks, and start
// over when that worker dies.
func ExampleClient_CreateSession() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "localhost:7233", client.WithNamespace("team-a"))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	s, err := c.CreateSession(ctx, "uploads", client.SessionOptions{ID: "upload-42"})
	if status.Code(err) == codes.ResourceExhausted {
		log.Fatal("no worker has a free session slot: retry later")
	} else if err != nil {
		log.Fatal(err)
	}
	for _, step := range []string{"download", "transcode", "upload"} {
		res, err := c.AddTask(ctx, client.Task{Queue: "uploads", Type: step, SessionID: s.ID})
		if err != nil {
			log.Fatal(err)
		}
		info, err := c.WaitForResult(ctx, res.ID)
		if err != nil {
			log.Fatal(err)
		}
		if info.Failure != nil && info.Failure.ErrorType == client.ErrorTypeSessionFailed {
			fmt.Println("the session's worker is gone: start the upload over in a new session")
			return
		}
	}
	if _, err := c.CompleteSession(ctx, s.ID); err != nil {
		log.Fatal(err)
	}
}
