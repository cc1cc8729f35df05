package matching

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// heartbeatWatch reports the outcome of every HeartbeatTask call a client makes.
type heartbeatWatch struct {
	ok     chan time.Time
	failed chan error
}

func (h *heartbeatWatch) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if method == matchingv1.MatchingService_HeartbeatTask_FullMethodName {
		if err == nil {
			select {
			case h.ok <- time.Now():
			default:
			}
		} else {
			select {
			case h.failed <- err:
			default:
			}
		}
	}
	return err
}

// TestHeartbeatRidesOutServiceRestart: a task with a 4s heartbeat timeout is heartbeated
// every 2s by an SDK worker. The service process is killed just before a heartbeat is
// due and restarted at once, so that heartbeat fails (the test repeats the restart until
// one did). The worker must retry it promptly: the attempt keeps its lease, the handler is
// not cancelled, and the task completes in attempt 1.
func TestHeartbeatRidesOutServiceRestart(t *testing.T) {
	s := startServer(t, "")
	watch := &heartbeatWatch{ok: make(chan time.Time, 1), failed: make(chan error, 1)}
	wc := s.client(client.WithCallTimeout(5*time.Second), client.WithDialOptions(grpc.WithChainUnaryInterceptor(watch.intercept)))
	defer wc.Close()
	c := s.client(client.WithCallTimeout(5 * time.Second))
	defer c.Close()

	w, err := worker.New(wc, worker.Options{Queue: "hb-restart", Identity: "hb-worker", PollTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	started, finish := make(chan struct{}), make(chan struct{})
	cause := make(chan error, 1)
	w.Register("hold", func(ctx context.Context, tk *worker.Task) ([]byte, error) {
		close(started)
		select {
		case <-finish:
			cause <- nil
			return []byte("done"), nil
		case <-ctx.Done():
			cause <- context.Cause(ctx)
			return nil, ctx.Err()
		}
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	}()
	// Automatic heartbeats every 2s; the restart must fit in the other half of the timeout,
	// which a loaded machine needs (a restart took over 1s at load 15).
	const heartbeatTimeout = 4 * time.Second
	if _, err := c.AddTask(context.Background(), client.Task{
		ID: "hb-1", Queue: "hb-restart", Type: "hold", HeartbeatTimeout: heartbeatTimeout, StartToCloseTimeout: time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("task not started")
	}

	hit := false
	for round := 0; round < 5 && !hit; round++ {
		var last time.Time
		select {
		case last = <-watch.ok:
		case <-time.After(5 * time.Second):
			t.Fatal("no successful heartbeat")
		}
		// The next heartbeat is due at last+2s: kill the service just before it.
		kill := time.NewTimer(time.Until(last.Add(heartbeatTimeout/2 - 30*time.Millisecond)))
		<-kill.C
		select {
		case <-watch.failed: // drain a failure from before this round
		default:
		}
		s.kill()
		s.restart()
		select {
		case err := <-watch.failed:
			hit = true
			t.Logf("round %d: heartbeat failed during the restart: %v", round, err)
		default:
		}
	}
	if !hit {
		t.Fatal("no heartbeat fell into a restart in 5 rounds; the scenario did not happen")
	}
	// Two heartbeats accepted after the restart: the attempt is still ours.
	for i := 0; i < 2; i++ {
		select {
		case <-watch.ok:
		case err := <-cause:
			t.Fatalf("handler ended during the restart with cause %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("no heartbeat accepted after the restart")
		}
	}
	close(finish)
	if err := <-cause; err != nil {
		t.Fatalf("handler cancelled with %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	info, err := c.WaitForResult(ctx, "hb-1")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != client.StateCompleted || info.Attempt != 1 {
		var f string
		if info.Failure != nil {
			f = info.Failure.ErrorType + ": " + info.Failure.Message
		}
		t.Fatalf("task ended %s in attempt %d (last failure %q); want Completed in attempt 1", info.State, info.Attempt, f)
	}
}
