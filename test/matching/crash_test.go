package matching

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/status"

	"github.com/taskroute/taskroute/pkg/client"
)

// TestServerKill9DuringAddsLosesNoAcknowledgedTask: 100,000 adds (batched and single)
// run while worker processes drain the queue; the server process gets SIGKILL in the
// middle, restarts on the same data dir, and the adders repeat what was not acknowledged
// (the ids make that idempotent). Every task must end Completed with its own result, as
// GetTask shows the caller; executions that happened twice are counted and reported.
func TestServerKill9DuringAddsLosesNoAcknowledgedTask(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000-task crash test")
	}
	const (
		total        = 100_000
		batched      = 90_000 // ids below this go in AddTasks batches, the rest one by one
		batchSize    = 100
		batchAdders  = 6
		singleAdder  = 10
		killAfter    = 30_000 // acknowledged adds before the kill
		startToClose = 10 * time.Second
	)
	s := startServer(t, "")
	c := s.client(client.WithCallTimeout(5 * time.Second))
	defer c.Close()
	workers := []*workerProc{
		startWorker(t, s.addr, workerConfig{queue: "crash", types: "echo", slots: 500, id: "crash-w1"}),
		startWorker(t, s.addr, workerConfig{queue: "crash", types: "echo", slots: 500, id: "crash-w2"}),
	}

	ids := make([]string, total)
	for i := range ids {
		ids[i] = fmt.Sprintf("crash-%06d", i)
	}
	task := func(i int) client.Task {
		// A dispatch whose answer died with the server leaves the task Started until its
		// start-to-close timeout re-dispatches it: keep that bounded.
		return client.Task{ID: ids[i], Queue: "crash", Type: "echo", Payload: []byte(ids[i]), StartToCloseTimeout: startToClose}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var (
		acked      atomic.Int64
		failedAdds atomic.Int64
		wg         sync.WaitGroup
	)
	var killed atomic.Bool
	var history sync.Map // id -> what the single adds of it saw, for failure reports
	// addUntilAcked repeats one call until it is acknowledged.
	addUntilAcked := func(call func() error, n int) {
		for ctx.Err() == nil {
			if err := call(); err == nil {
				acked.Add(int64(n))
				return
			}
			failedAdds.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
	}
	for g := 0; g < batchAdders; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := g * batchSize; start < batched; start += batchAdders * batchSize {
				batch := make([]client.Task, 0, batchSize)
				for i := start; i < start+batchSize; i++ {
					batch = append(batch, task(i))
				}
				addUntilAcked(func() error { _, err := c.AddTasks(ctx, batch); return err }, len(batch))
			}
		}()
	}
	for g := 0; g < singleAdder; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := batched + g; i < total; i += singleAdder {
				var seen []string
				addUntilAcked(func() error {
					res, err := c.AddTask(ctx, task(i))
					if err != nil {
						seen = append(seen, fmt.Sprintf("error(killed=%v): %v", killed.Load(), status.Code(err)))
					} else {
						seen = append(seen, fmt.Sprintf("ack(killed=%v) created=%v", killed.Load(), res.Created))
					}
					return err
				}, 1)
				history.Store(ids[i], seen)
			}
		}()
	}

	begin := time.Now()
	for acked.Load() < killAfter && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
	ackedAtKill := acked.Load()
	killed.Store(true)
	s.kill()
	killedAt := time.Since(begin)
	time.Sleep(300 * time.Millisecond) // the outage, part of the scenario (not a synchronisation): adders and workers retry against nothing
	restartBegin := time.Now()
	s.restart()
	restartTook := time.Since(restartBegin)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		t.Fatalf("adders did not finish: %v (acknowledged %d of %d)", err, acked.Load(), total)
	}
	if ackedAtKill >= total {
		t.Fatalf("the kill came after every add was acknowledged; it must hit during the load")
	}
	addsDone := time.Since(begin)

	outcomes := waitAllExplained(t, c, ids, 2*time.Minute, func(id string) string {
		h, _ := history.Load(id)
		var ran []string
		for _, w := range workers {
			if a := w.executions()[id]; len(a) > 0 {
				ran = append(ran, fmt.Sprintf("%s ran attempts %v", w.id, a))
			}
		}
		return fmt.Sprintf("adds: %v; executions: %v", h, ran)
	})
	drained := time.Since(begin)
	for _, id := range ids {
		info := outcomes[id]
		if info.State != client.StateCompleted || string(info.Result) != id {
			t.Fatalf("task %s: state %s result %q; want Completed with its own id", id, info.State, info.Result)
		}
	}

	executions := map[string]int{}
	for _, w := range workers {
		w.terminate(20 * time.Second)
		for id, attempts := range w.executions() {
			executions[id] += len(attempts)
		}
	}
	duplicates := 0
	for id, n := range executions {
		if n > 1 {
			duplicates += n - 1
		}
		if _, ok := outcomes[id]; !ok {
			t.Errorf("a worker ran unknown task %q", id)
		}
	}
	if duplicates > 0 {
		// Say why. Seen so far: a dispatch whose start record was not yet durable at the
		// kill is dispatched again after the restart (same attempt number, new lease); both
		// workers run it, the service accepts one completion and refuses the other with
		// FailedPrecondition, so the caller still sees one outcome.
		for _, w := range workers {
			var refused []string
			for _, line := range strings.Split(w.out.String(), "\n") {
				if strings.Contains(line, "Failed to complete") {
					refused = append(refused, line)
				}
			}
			if len(refused) > 0 {
				t.Logf("%s: %d completions refused, e.g. %s", w.id, len(refused), refused[0])
			}
		}
	}
	missingLogs := 0
	for _, id := range ids {
		if executions[id] == 0 {
			missingLogs++
		}
	}
	if missingLogs > 0 {
		t.Errorf("%d completed tasks have no execution in the workers' logs", missingLogs)
	}
	t.Logf("kill -9 after %v with %d of %d adds acknowledged; restart ready in %v; %d add calls failed and were repeated; "+
		"all adds acknowledged after %v; all %d completed after %v; duplicate executions: %d",
		killedAt.Round(time.Millisecond), ackedAtKill, total, restartTook.Round(time.Millisecond), failedAdds.Load(),
		addsDone.Round(time.Millisecond), total, drained.Round(time.Millisecond), duplicates)
}
