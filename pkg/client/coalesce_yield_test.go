package client

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// TestCoalescedAddsOfProducerLoopsShareCalls: producers that add again as soon as they are
// answered (one task per call, like the drain-single benchmark) join the sender's next
// batch instead of going out on their own: the calls carry many tasks each.
func TestCoalescedAddsOfProducerLoopsShareCalls(t *testing.T) {
	const producers, rounds = 16, 25
	addr, _ := testserver.Start(t, testserver.Options{})
	g := newGate()
	close(g.open) // count only
	c, err := Dial(context.Background(), addr, WithNamespace("coalesce"), WithAddSenders(2),
		WithDialOptions(grpc.WithChainUnaryInterceptor(g.intercept)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				if _, err := c.AddTask(ctx, Task{ID: fmt.Sprintf("p%d-%d", p, r), Queue: "q", Type: "t"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	calls := g.calls.Load()
	t.Logf("%d tasks in %d calls (%d AddTasks)", producers*rounds, calls, g.batches.Load())
	// Measured: 52-62 calls; 75-79 when the sender took its next batch before the
	// callers it had just answered could join it (most of them then went out alone).
	if calls > 70 {
		t.Fatalf("%d tasks took %d add calls; want at most 70", producers*rounds, calls)
	}
}
