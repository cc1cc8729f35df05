package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// seenContext is what a handler saw of its context once it was canceled, and of the
// contexts it derived from it before.
type seenContext struct {
	started                time.Time
	deadline               time.Time
	hasDeadline            bool
	timeout                time.Duration // the task's StartToCloseTimeout
	err, cause             error
	childErr, childCause   error // context.WithTimeout(ctx, time.Hour)
	cancelChildErr         error // context.WithCancelCause(ctx)
	afterFuncRan, valueNil bool
}

// observingHandler waits for its context to end and sends what it saw.
func observingHandler(started chan<- *worker.Task, seen chan<- seenContext) worker.Handler {
	return func(ctx context.Context, tk *worker.Task) ([]byte, error) {
		s := seenContext{started: time.Now(), timeout: tk.StartToCloseTimeout}
		child, cancelChild := context.WithTimeout(ctx, time.Hour)
		defer cancelChild()
		causeChild, cancelCauseChild := context.WithCancelCause(ctx)
		defer cancelCauseChild(nil)
		ran := make(chan struct{})
		context.AfterFunc(ctx, func() { close(ran) })
		started <- tk
		<-ctx.Done()
		<-child.Done()
		<-causeChild.Done()
		<-ran
		s.deadline, s.hasDeadline = ctx.Deadline()
		s.err, s.cause = ctx.Err(), context.Cause(ctx)
		s.childErr, s.childCause = child.Err(), context.Cause(child)
		s.cancelChildErr = causeChild.Err()
		s.afterFuncRan = true
		s.valueNil = ctx.Value("some key") == nil
		seen <- s
		return nil, ctx.Err()
	}
}

// TestHandlerContextForEachWayATaskEnds: the real service, a real worker; the handler's
// context reports the task's deadline, and ends with the right Err and context.Cause
// (seen through derived contexts and context.AfterFunc too) when the deadline passes,
// cancellation is requested, or the worker stops.
func TestHandlerContextForEachWayATaskEnds(t *testing.T) {
	cases := []struct {
		name      string
		task      client.Task
		end       func(t *testing.T, c *client.Client, w *worker.Worker, tk *worker.Task)
		wantErr   error
		wantCause error
	}{
		{
			name:    "deadline",
			task:    client.Task{StartToCloseTimeout: 300 * time.Millisecond},
			end:     func(*testing.T, *client.Client, *worker.Worker, *worker.Task) {},
			wantErr: context.DeadlineExceeded, wantCause: context.DeadlineExceeded,
		},
		{
			name: "cancel requested",
			task: client.Task{HeartbeatTimeout: 2 * time.Second},
			end: func(t *testing.T, c *client.Client, _ *worker.Worker, tk *worker.Task) {
				if _, err := c.CancelTask(context.Background(), tk.ID, "test"); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: context.Canceled, wantCause: worker.ErrCancelRequested,
		},
		{
			name: "worker stops",
			task: client.Task{StartToCloseTimeout: time.Hour},
			end: func(t *testing.T, _ *client.Client, w *worker.Worker, _ *worker.Task) {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				_ = w.Stop(ctx) // its grace period runs out: the task is handed back
			},
			wantErr: context.Canceled, wantCause: worker.ErrWorkerStopping,
		},
	}
	svc := testserver.StartService(t, testserver.Options{})
	c := dialTest(t, svc.Addr())
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			started := make(chan *worker.Task, 1)
			seen := make(chan seenContext, 1)
			queue := fmt.Sprint("ctx-", i)
			w := startWorker(t, c, worker.Options{Queue: queue, HeartbeatFraction: 0.1}, "observe", observingHandler(started, seen))
			task := tc.task
			task.ID, task.Queue, task.Type = queue, queue, "observe" // ids are unique in a namespace
			if _, err := c.AddTask(context.Background(), task); err != nil {
				t.Fatal(err)
			}
			tk := receive(t, started, "task start")
			tc.end(t, c, w, tk)
			s := receive(t, seen, "handler's context to end")

			if s.hasDeadline != (s.timeout > 0) {
				t.Errorf("Deadline() ok = %v for a start-to-close timeout of %v", s.hasDeadline, s.timeout)
			}
			if s.hasDeadline && (s.deadline.After(s.started.Add(s.timeout)) || s.deadline.Before(s.started.Add(s.timeout-time.Second))) {
				t.Errorf("deadline %v is not the handler's start %v plus its timeout %v", s.deadline, s.started, s.timeout)
			}
			if s.err != tc.wantErr || s.cause != tc.wantCause {
				t.Errorf("Err %v, Cause %v; want %v, %v", s.err, s.cause, tc.wantErr, tc.wantCause)
			}
			if s.childErr != tc.wantErr || s.childCause != tc.wantCause {
				t.Errorf("derived context: Err %v, Cause %v; want %v, %v", s.childErr, s.childCause, tc.wantErr, tc.wantCause)
			}
			if s.cancelChildErr != tc.wantErr {
				t.Errorf("derived WithCancelCause context: Err %v; want %v", s.cancelChildErr, tc.wantErr)
			}
			if !s.valueNil {
				t.Error("the handler's context has a value it was never given")
			}
		})
	}
}

// TestHandlerContextEndsWithTheTask: once a handler returns, its context is canceled
// (Err and Cause context.Canceled), as a context whose task is over.
func TestHandlerContextEndsWithTheTask(t *testing.T) {
	svc := testserver.StartService(t, testserver.Options{})
	c := dialTest(t, svc.Addr())
	kept := make(chan context.Context, 1)
	startWorker(t, c, worker.Options{Queue: "ends"}, "quick", func(ctx context.Context, _ *worker.Task) ([]byte, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		kept <- ctx
		return nil, nil
	})
	if _, err := c.AddTask(context.Background(), client.Task{ID: "x", Queue: "ends", Type: "quick", StartToCloseTimeout: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx := receive(t, kept, "handler")
	receive(t, ctx.Done(), "context to end after the handler returned")
	if ctx.Err() != context.Canceled || context.Cause(ctx) != context.Canceled {
		t.Errorf("Err %v, Cause %v; want context.Canceled", ctx.Err(), context.Cause(ctx))
	}
}

// receive waits up to 10s for a value from ch.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}
