package worker

import (
	"context"
	"testing"
	"time"
)

// TestStreamFallsBackToPollingWithoutWorkerStream: a service that predates WorkerStream
// (the fake serves only the unary calls) answers the stream Unimplemented; a worker left at
// the default dispatch polls instead of retrying the stream forever, and stops cleanly.
func TestStreamFallsBackToPollingWithoutWorkerStream(t *testing.T) {
	f, c := startFake(t)
	w, err := New(c, Options{Queue: "q", Slots: 2, PollTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("t", func(context.Context, *Task) ([]byte, error) { return []byte("ok"), nil })
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	f.add("a", "t", 0)
	f.add("b", "t", 0)
	f.waitFor(t, 5*time.Second, "completions over the unary calls", func() bool { return len(f.completed) == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("Stop ran out its grace period")
	}
}
