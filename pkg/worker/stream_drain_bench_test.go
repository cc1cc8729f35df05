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

// sendCounter counts the messages a worker sends on its WorkerStream.
type sendCounter struct {
	grpc.ClientStream
	sent *atomic.Int64
}

func (s *sendCounter) SendMsg(m any) error {
	s.sent.Add(1)
	if r, ok := m.(*matchingv1.WorkerStreamRequest); ok {
		if r.Credits > 0 {
			streamCounts.credits.Add(1)
		}
		if len(r.Completions) > 0 || len(r.Failures) > 0 {
			streamCounts.outcomes.Add(1)
		}
	}
	return s.ClientStream.SendMsg(m)
}

func (s *sendCounter) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if r, ok := m.(*matchingv1.WorkerStreamResponse); ok && err == nil && len(r.Tasks) > 0 {
		streamCounts.pushes.Add(1)
	}
	return err
}

// streamCounts are the stream messages of the last BenchmarkStreamDrain by content.
var streamCounts struct{ credits, outcomes, pushes atomic.Int64 }

// dialCountingSends dials addr with a client whose streams count the messages they send.
func dialCountingSends(tb testing.TB, addr string, sent *atomic.Int64) *client.Client {
	tb.Helper()
	intercept := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return &sendCounter{ClientStream: cs, sent: sent}, nil
	}
	c, err := client.Dial(context.Background(), addr, client.WithNamespace("default"),
		client.WithCallTimeout(10*time.Second), client.WithDialOptions(grpc.WithStreamInterceptor(intercept)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// addQueued adds n tasks of type "t" to queue in batches, before any worker polls it.
func addQueued(tb testing.TB, c *client.Client, queue string, n int) {
	tb.Helper()
	batch := make([]client.Task, 0, client.MaxBatch)
	for i := 0; i < n; i++ {
		batch = append(batch, client.Task{Queue: queue, Type: "t", Payload: make([]byte, 100)})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := c.AddTasks(context.Background(), batch); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// noopWorker returns a 64-slot worker of queue with a no-op handler for type "t" (not
// started yet), and a wait that returns once it has run n tasks, failing tb after timeout.
func noopWorker(tb testing.TB, c *client.Client, queue, identity string, n int64) (*worker.Worker, func(timeout time.Duration)) {
	tb.Helper()
	var ran atomic.Int64
	done := make(chan struct{})
	w, err := worker.New(c, worker.Options{Queue: queue, Slots: 64, Identity: identity})
	if err != nil {
		tb.Fatal(err)
	}
	w.Register("t", func(context.Context, *worker.Task) ([]byte, error) {
		if ran.Add(1) == n {
			close(done)
		}
		return nil, nil
	})
	return w, func(timeout time.Duration) {
		tb.Helper()
		select {
		case <-done:
		case <-time.After(timeout):
			tb.Fatalf("%d of %d tasks ran", ran.Load(), n)
		}
	}
}

// BenchmarkStreamDrain is the SDK's cost per task on the stream path: b.N tasks wait in
// the backlog, then a 64-slot worker with a no-op handler drains them (real service in this
// process, gRPC on 127.0.0.1; the allocations include the service's). It reports the
// process's CPU time per task (user and system, both sides) and the messages the worker
// sent per task (credits, completions).
//
//	go test -run XXX -bench StreamDrain -benchtime 20000x -benchmem -count 6 ./pkg/worker/
func BenchmarkStreamDrain(b *testing.B) {
	addr, _ := testserver.Start(b, testserver.Options{})
	var sent atomic.Int64
	c := dialCountingSends(b, addr, &sent)
	queue := fmt.Sprint("drain-", b.N)
	addQueued(b, c, queue, b.N)
	streamCounts.credits.Store(0)
	streamCounts.outcomes.Store(0)
	streamCounts.pushes.Store(0)
	w, waitAll := noopWorker(b, c, queue, "drain", int64(b.N))
	b.ReportAllocs()
	cpu0 := worker.ProcessCPU(b)
	b.ResetTimer()
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	waitAll(5 * time.Minute)
	b.StopTimer()
	cpu := worker.ProcessCPU(b) - cpu0
	if err := w.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/task")
	b.ReportMetric(float64(sent.Load())/float64(b.N), "sent/task")
	b.ReportMetric(float64(streamCounts.credits.Load())/float64(b.N), "credit-msgs/task")
	b.ReportMetric(float64(streamCounts.outcomes.Load())/float64(b.N), "outcome-msgs/task")
	b.ReportMetric(float64(streamCounts.pushes.Load())/float64(b.N), "task-msgs/task")
}
