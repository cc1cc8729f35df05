package matching

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
)

// TestRollingWorkerStopsUnderLoadStrandNoTask: producers add tasks at a bounded rate while
// one of two worker processes is stopped gracefully (SIGTERM) and replaced every
// 50-200ms, as in a rolling update or a scale-down. A poll answer that a stopping worker
// never received must not leave its tasks Started until the start-to-close timeout
// (10 minutes here, the default): every task completes soon after the load ends.
func TestRollingWorkerStopsUnderLoadStrandNoTask(t *testing.T) {
	if testing.Short() {
		t.Skip("load test with worker processes")
	}
	const (
		rate     = 1000 // tasks added per second
		duration = 8 * time.Second
		batch    = 20
	)
	s := startServer(t, "")
	c := s.client(client.WithCallTimeout(10 * time.Second))
	defer c.Close()
	cfg := func(id string) workerConfig {
		return workerConfig{queue: "rolling", types: "echo", slots: 50, shutdown: 5 * time.Second, id: id}
	}
	stable := startWorker(t, s.addr, cfg("rolling-stable"))
	defer stable.terminate(15 * time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var (
		mu  sync.Mutex
		ids []string
		wg  sync.WaitGroup
	)
	var addErrs atomic.Int64
	for p := 0; p < 2; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second * batch * 2 / rate) // two producers
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				tasks := make([]client.Task, batch)
				for i := range tasks {
					tasks[i] = client.Task{ID: fmt.Sprintf("roll-%d-%06d-%02d", p, n, i), Queue: "rolling", Type: "echo"}
				}
				actx, acancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := c.AddTasks(actx, tasks)
				acancel()
				if err != nil {
					addErrs.Add(1)
					continue
				}
				mu.Lock()
				for _, tk := range tasks {
					ids = append(ids, tk.ID)
				}
				mu.Unlock()
			}
		}()
	}

	stops := 0
	for i := 0; ctx.Err() == nil; i++ {
		w := startWorker(t, s.addr, cfg(fmt.Sprintf("rolling-%03d", i)))
		// Let it poll for 50..200ms (a scenario parameter, not a synchronisation).
		live := time.NewTimer(time.Duration(50+(i*37)%151) * time.Millisecond)
		select {
		case <-live.C:
		case <-ctx.Done():
			live.Stop()
		}
		w.terminate(15 * time.Second)
		stops++
	}
	wg.Wait()
	if n := addErrs.Load(); n > 0 {
		t.Logf("%d add batches failed (not counted)", n)
	}
	t.Logf("%d tasks added, %d worker stops", len(ids), stops)
	if len(ids) == 0 || stops < 10 {
		t.Fatalf("load too small: %d tasks, %d stops", len(ids), stops)
	}
	infos := waitAll(t, c, ids, 45*time.Second)
	for id, info := range infos {
		if info.State != client.StateCompleted {
			t.Errorf("task %s ended %s", id, info.State)
		}
	}
}
