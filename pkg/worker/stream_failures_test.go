package worker_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// failTaskCounter counts unary FailTask calls.
func failTaskCounter(n *atomic.Int64) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if strings.HasSuffix(method, "/FailTask") {
			n.Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// oldService makes the real service look like one from before failures on the stream: the
// worker's failures never reach it (as a service that does not know the field ignores
// them) and its acknowledgements carry no failure_errors.
type oldService struct{ grpc.ClientStream }

func (s *oldService) SendMsg(m any) error {
	if r, ok := m.(*matchingv1.WorkerStreamRequest); ok && len(r.Failures) > 0 {
		stripped := &matchingv1.WorkerStreamRequest{Namespace: r.Namespace, Open: r.Open, Credits: r.Credits, Seq: r.Seq, Completions: r.Completions}
		return s.ClientStream.SendMsg(stripped)
	}
	return s.ClientStream.SendMsg(m)
}

func (s *oldService) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if r, ok := m.(*matchingv1.WorkerStreamResponse); ok {
		r.AcceptsFailures = false
		for _, a := range r.Acks {
			a.FailureErrors = nil
		}
	}
	return err
}

// runFailingTask runs one task on a stream worker whose handler fails its first attempt
// (retryable) and its second (non-retryable), and returns the task's final state.
func runFailingTask(t *testing.T, opts ...client.Option) *client.TaskInfo {
	t.Helper()
	addr, _ := testserver.Start(t, testserver.Options{})
	c, err := client.Dial(context.Background(), addr, append([]client.Option{client.WithNamespace("default"), client.WithCallTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	w, err := worker.New(c, worker.Options{Queue: "fails", Slots: 2, Identity: "failing"})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("t", func(_ context.Context, tk *worker.Task) ([]byte, error) {
		if tk.Attempt == 1 {
			return nil, errors.New("first attempt broke")
		}
		return nil, &worker.Error{Type: "Fatal", Message: "second attempt broke", NonRetryable: true}
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	task := client.Task{ID: "f-1", Queue: "fails", Type: "t", Retry: &client.RetryPolicy{InitialInterval: 10 * time.Millisecond, MaximumAttempts: 5}}
	if _, err := c.AddTask(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	info, err := c.WaitForResult(ctx, "f-1")
	if err != nil {
		t.Fatalf("task never ended: %+v %v (a failure was lost)", info, err)
	}
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	return info
}

func checkFailedTwice(t *testing.T, info *client.TaskInfo) {
	t.Helper()
	if info.State != client.StateFailed || info.Attempt != 2 || info.Failure == nil || info.Failure.Message != "second attempt broke" {
		t.Fatalf("task: %+v (failure %+v); want Failed by its second attempt", info, info.Failure)
	}
}

// TestStreamReportsFailuresOnTheStream: a stream worker reports failed attempts on its
// stream, like completions, with no FailTask call; the first failure is retried and the
// second, non-retryable, ends the task Failed.
func TestStreamReportsFailuresOnTheStream(t *testing.T) {
	var unary atomic.Int64
	info := runFailingTask(t, client.WithDialOptions(grpc.WithChainUnaryInterceptor(failTaskCounter(&unary))))
	checkFailedTwice(t, info)
	if n := unary.Load(); n != 0 {
		t.Fatalf("%d FailTask calls; want 0 (failures go on the stream)", n)
	}
}

// TestStreamFailuresToOldServiceAreNotLost: against a service from before failures on the
// stream (it does not say it accepts them, ignores them and acknowledges without
// failure_errors), the worker reports each failure with FailTask, so none is lost and the
// task still ends Failed by its second attempt.
func TestStreamFailuresToOldServiceAreNotLost(t *testing.T) {
	var unary atomic.Int64
	old := func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return &oldService{ClientStream: cs}, nil
	}
	info := runFailingTask(t, client.WithDialOptions(grpc.WithChainUnaryInterceptor(failTaskCounter(&unary)), grpc.WithStreamInterceptor(old)))
	checkFailedTwice(t, info)
	if n := unary.Load(); n != 2 {
		t.Fatalf("%d FailTask calls; want 2 (each failure the service ignored)", n)
	}
}
