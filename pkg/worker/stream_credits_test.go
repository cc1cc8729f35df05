package worker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/worker"
)

// TestStreamCreditsRideWithCompletions: a busy worker grants the slot a task frees in the
// message that carries its completion, not in a credit message of its own: a one-slot
// worker draining a backlog sends about one stream message per task (two before).
func TestStreamCreditsRideWithCompletions(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	var sent atomic.Int64
	c := dialCountingSends(t, addr, &sent)
	const n = 100
	addQueued(t, c, "ride", n)
	ran := make(chan struct{}, n)
	w, err := worker.New(c, worker.Options{Queue: "ride", Slots: 1, Identity: "ride"})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("t", func(context.Context, *worker.Task) ([]byte, error) { ran <- struct{}{}; return nil, nil })
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case <-ran:
		case <-deadline:
			t.Fatalf("%d of %d tasks ran", i, n)
		}
	}
	// The open message, one per task (completion and the credit for the next), and the
	// last completion's message may still be on its way.
	if got := sent.Load(); got > n+1 {
		t.Errorf("the worker sent %d stream messages for %d tasks; want at most %d (credits ride with completions)", got, n, n+1)
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestStreamBatchesOutcomesOfTasksPushedTogether: tasks pushed in one message finish at
// about the same time, and their outcomes (with the credits of their slots) share
// messages: a 64-slot worker draining a backlog sends far fewer messages than tasks
// (~0.05 per task measured; ~1 when each outcome or credit went in a message of its own).
func TestStreamBatchesOutcomesOfTasksPushedTogether(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	var sent atomic.Int64
	c := dialCountingSends(t, addr, &sent)
	const n = 3000
	addQueued(t, c, "batch", n)
	var ran atomic.Int64
	done := make(chan struct{})
	w, err := worker.New(c, worker.Options{Queue: "batch", Slots: 64, Identity: "batch"})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("t", func(context.Context, *worker.Task) ([]byte, error) {
		if ran.Add(1) == n {
			close(done)
		}
		return nil, nil
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%d of %d tasks ran", ran.Load(), n)
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if perTask := float64(sent.Load()) / n; perTask > 0.3 {
		t.Errorf("the worker sent %d stream messages for %d tasks (%.2f per task); want at most 0.3 per task", sent.Load(), n, perTask)
	}
}
