package worker_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// TestBatchedDrainExecutesEveryTask is a small, bounded `bench -scenarios batched`: real
// service (Pebble on disk, gRPC on 127.0.0.1), concurrent AddTasks batches, two SDK
// workers with many slots draining the queue with short long polls (so polls keep ending
// while tasks arrive), and a service buffer of 16 per level (so most of the backlog is
// paged in from disk while adds commit). Every task must run: one that does not is
// stranded in the backlog (Scheduled) or was handed to a poll that never delivered it
// (Started).
func TestBatchedDrainExecutesEveryTask(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	addr, _ := testserver.Start(t, testserver.Options{Engine: matching.Options{BufferSize: 16}})
	c, err := client.Dial(context.Background(), addr, client.WithNamespace("default"), client.WithCallTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	const adders, batches, perBatch = 4, 20, 250
	const total = adders * batches * perBatch
	var executed atomic.Int64
	seen := make([]atomic.Bool, total)
	allDone := make(chan struct{})
	for i := 0; i < 2; i++ {
		w, err := worker.New(c, worker.Options{
			Queue: "drain", Slots: 400, Pollers: 4, MaxTasksPerPoll: 100, PollTimeout: 1500 * time.Millisecond,
			CompletionSenders: 2, Identity: fmt.Sprint("drain-", i),
		})
		if err != nil {
			t.Fatal(err)
		}
		w.Register("t", func(_ context.Context, tk *worker.Task) ([]byte, error) {
			n, _ := strconv.Atoi(tk.ID[2:])
			if seen[n].CompareAndSwap(false, true) && executed.Add(1) == total {
				close(allDone)
			}
			return nil, nil
		})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = w.Stop(ctx)
		})
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for a := 0; a < adders; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				batch := make([]client.Task, perBatch)
				for i := range batch {
					batch[i] = client.Task{Queue: "drain", Type: "t", ID: "d-" + strconv.Itoa(int(next.Add(1)-1))}
				}
				if _, err := c.AddTasks(context.Background(), batch); err != nil {
					t.Error(err)
					return
				}
				// Pauses let the workers catch up and wait, so adds also sync-match.
				if b%4 == 3 {
					time.Sleep(time.Duration(500+b*37%700) * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-allDone:
		return
	case <-time.After(20 * time.Second):
	}
	states := map[client.State]int{}
	var examples []string
	for n := range seen {
		if seen[n].Load() {
			continue
		}
		info, err := c.GetTask(context.Background(), "d-"+strconv.Itoa(n))
		if err != nil {
			t.Fatalf("get d-%d: %v", n, err)
		}
		states[info.State]++
		if len(examples) < 5 {
			examples = append(examples, fmt.Sprintf("d-%d %s attempt %d", n, info.State, info.Attempt))
		}
	}
	t.Fatalf("%d of %d tasks executed within 20s; the others by state: %v (e.g. %v)", executed.Load(), total, states, examples)
}
