package worker_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// ackDropper hides every completion acknowledgement the service sends on a WorkerStream,
// as a service that is slow to make completions durable would delay them.
type ackDropper struct {
	grpc.ClientStream
	dropped *atomic.Int64
}

func (s *ackDropper) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if r, ok := m.(*matchingv1.WorkerStreamResponse); ok && len(r.Acks) > 0 {
		s.dropped.Add(int64(len(r.Acks)))
		r.Acks = nil
	}
	return err
}

// TestStreamFreesSlotWhenHandlerReturns: on the stream path a slot frees when its handler
// returns, not when the completion is acknowledged: a one-slot worker whose acks never
// arrive still runs task after task. Stop then cuts the stream and reports the
// unacknowledged completions again with CompleteTasks; the service already recorded them
// (the repeat is refused as stale and counts as done), and every task ends Completed with
// its result.
func TestStreamFreesSlotWhenHandlerReturns(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	var dropped atomic.Int64
	intercept := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return &ackDropper{ClientStream: cs, dropped: &dropped}, nil
	}
	c, err := client.Dial(context.Background(), addr, client.WithNamespace("default"),
		client.WithCallTimeout(5*time.Second), client.WithDialOptions(grpc.WithStreamInterceptor(intercept)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	const n = 3
	ran := make(chan string, n)
	w, err := worker.New(c, worker.Options{Queue: "slots", Slots: 1, Identity: "one-slot"})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("t", func(_ context.Context, tk *worker.Task) ([]byte, error) {
		ran <- tk.ID
		return []byte("done-" + tk.ID), nil
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := c.AddTask(context.Background(), client.Task{ID: fmt.Sprint("s-", i), Queue: "slots", Type: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(10 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-ran:
		case <-deadline:
			t.Fatalf("%d of %d tasks ran with acks withheld (%d dropped): the slot waits for the ack", i, n, dropped.Load())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprint("s-", i)
		info, err := c.GetTask(context.Background(), id)
		if err != nil || info.State != client.StateCompleted || string(info.Result) != "done-"+id {
			t.Errorf("%s after Stop: %+v %v; want Completed with its result", id, info, err)
		}
	}
}

// TestStreamStopOfBusyWorkerLetsHandlersFinish: a worker whose slots are all busy holds no
// credit, so its stream is not polling and the service cannot answer ShutdownWorker with
// dispatch_ended; Stop must still see that no task can come and wait for the running
// handler (not cut the stream and release the task when its grace period ends).
func TestStreamStopOfBusyWorkerLetsHandlersFinish(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c, err := client.Dial(context.Background(), addr, client.WithNamespace("default"), client.WithCallTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	started, finish := make(chan struct{}), make(chan struct{})
	var cause atomic.Value
	w, err := worker.New(c, worker.Options{Queue: "busy", Slots: 1, Identity: "busy-1"})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("t", func(ctx context.Context, _ *worker.Task) ([]byte, error) {
		close(started)
		select {
		case <-finish:
			return []byte("finished"), nil
		case <-ctx.Done():
			cause.Store(context.Cause(ctx))
			return nil, ctx.Err()
		}
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddTask(context.Background(), client.Task{ID: "busy", Queue: "busy", Type: "t"}); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(ctx) }()
	// The worker is gone from the pollers list once ShutdownWorker was served.
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := c.DescribeQueue(context.Background(), "busy")
		if err == nil && len(d.Pollers) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker still listed after Stop began: %+v %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(finish)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil || cause.Load() != nil {
		t.Fatalf("Stop ran out its grace period (handler cancelled: %v): it waited for a dispatch end that never comes", cause.Load())
	}
	info, err := c.GetTask(context.Background(), "busy")
	if err != nil || info.State != client.StateCompleted || info.Attempt != 1 {
		t.Fatalf("task after Stop: %+v %v; want Completed by its first attempt", info, err)
	}
}
