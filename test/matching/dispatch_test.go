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

// waitAll waits (concurrently) for every id to finish and returns the outcomes.
func waitAll(t testing.TB, c *client.Client, ids []string, timeout time.Duration) map[string]*client.TaskInfo {
	return waitAllExplained(t, c, ids, timeout, func(string) string { return "" })
}

// waitAllExplained is waitAll with explain(id) added to the report of unfinished tasks.
func waitAllExplained(t testing.TB, c *client.Client, ids []string, timeout time.Duration, explain func(id string) string) map[string]*client.TaskInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var (
		mu   sync.Mutex
		out  = make(map[string]*client.TaskInfo, len(ids))
		errs atomic.Int64
		next atomic.Int64
		wg   sync.WaitGroup
		last atomic.Value
	)
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				info, err := c.WaitForResult(ctx, ids[i])
				if err != nil {
					errs.Add(1)
					last.Store(fmt.Sprintf("%s: %v", ids[i], err))
					continue
				}
				mu.Lock()
				out[ids[i]] = info
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if n := errs.Load(); n > 0 {
		shown := 0
		for _, id := range ids {
			if _, ok := out[id]; ok || shown >= 5 {
				continue
			}
			shown++
			info, err := c.GetTask(context.Background(), id)
			if err != nil {
				t.Logf("unfinished %s: %v", id, err)
			} else {
				t.Logf("unfinished %s: state %s attempt %d started %v failure %+v %s", id, info.State, info.Attempt, info.StartedTime, info.Failure, explain(id))
			}
		}
		if q := outQueue(c, ids[0]); q != "" {
			t.Logf("queue: %s", q)
		}
		t.Fatalf("%d of %d tasks did not finish within %v; e.g. %v", n, len(ids), timeout, last.Load())
	}
	return out
}

// TestBacklogDispatchedWhenWorkerStarts: tasks added while no worker runs are kept and all
// dispatched once a worker process starts.
func TestBacklogDispatchedWhenWorkerStarts(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	ctx := context.Background()

	const n = 3000
	tasks := make([]client.Task, n)
	ids := make([]string, n)
	for i := range tasks {
		ids[i] = fmt.Sprintf("backlog-%d", i)
		tasks[i] = client.Task{ID: ids[i], Queue: "backlog", Type: "echo", Payload: []byte(ids[i]), Priority: 1 + i%5}
	}
	if _, err := c.AddTasks(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeQueue(ctx, "backlog")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.BacklogCount(); got != n {
		t.Fatalf("backlog before any worker = %d; want %d (%+v)", got, n, d.Backlog)
	}

	w := startWorker(t, s.addr, workerConfig{queue: "backlog", types: "echo", slots: 100})
	outcomes := waitAll(t, c, ids, 60*time.Second)
	for _, id := range ids {
		info := outcomes[id]
		if info.State != client.StateCompleted || string(info.Result) != id {
			t.Fatalf("task %s: state %s result %q", id, info.State, info.Result)
		}
	}
	w.terminate(10 * time.Second)
	execs := w.executions()
	if len(execs) != n {
		t.Errorf("worker ran %d distinct tasks; want %d", len(execs), n)
	}
	d, err = c.DescribeQueue(ctx, "backlog")
	if err != nil {
		t.Fatal(err)
	}
	if got := d.BacklogCount(); got != 0 {
		t.Errorf("backlog after draining = %d", got)
	}
}

// TestKilledWorkerTaskRedispatchedWithDetails: kill -9 of a worker mid-task; the task is
// dispatched again after its heartbeat timeout and carries the last heartbeat details.
func TestKilledWorkerTaskRedispatchedWithDetails(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	ctx := context.Background()

	a := startWorker(t, s.addr, workerConfig{queue: "hb", types: "progress", id: "worker-a"})
	const hbTimeout = time.Second
	res, err := c.AddTask(ctx, client.Task{
		Queue: "hb", Type: "progress", ID: "hb-1",
		HeartbeatTimeout: hbTimeout, StartToCloseTimeout: time.Minute,
		Retry: &client.RetryPolicy{InitialInterval: 50 * time.Millisecond, MaximumAttempts: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the service recorded the third heartbeat.
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := c.GetTask(ctx, res.ID)
		if err == nil && string(info.HeartbeatDetails) == "step-3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("heartbeat details never reached step-3: %+v %v\n%s", info, err, a.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	killed := time.Now()
	a.kill()

	b := startWorker(t, s.addr, workerConfig{queue: "hb", types: "progress", id: "worker-b"})
	info := waitState(t, c, res.ID, client.StateCompleted, 20*time.Second)
	redispatch := time.Since(killed)
	if got := string(info.Result); got != "resumed:step-3" {
		t.Errorf("result %q; want resumed:step-3 (the retry must carry the last heartbeat details)", got)
	}
	if info.Attempt != 2 {
		t.Errorf("attempt %d; want 2", info.Attempt)
	}
	if redispatch < hbTimeout*8/10 {
		t.Errorf("re-dispatched %v after the kill; not before the %v heartbeat timeout", redispatch, hbTimeout)
	}
	b.terminate(10 * time.Second) // flushes its execution log
	if got := b.executions()[res.ID]; len(got) != 1 || got[0] != "2" {
		t.Errorf("worker-b executions of the task: %v; want attempt 2 once", got)
	}
	t.Logf("re-dispatched and completed %v after kill -9 (heartbeat timeout %v)", redispatch.Round(time.Millisecond), hbTimeout)
}

// TestGracefulShutdownReleasesRunningTasks: SIGTERM lets short tasks finish, hands the
// others back at the end of the grace period, and another worker completes them at once.
func TestGracefulShutdownReleasesRunningTasks(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	ctx := context.Background()

	a := startWorker(t, s.addr, workerConfig{queue: "drain", types: "sleep", slots: 10, shutdown: 700 * time.Millisecond, id: "worker-a"})
	var long, short []string
	for i := 0; i < 4; i++ {
		long = append(long, fmt.Sprintf("long-%d", i))
		short = append(short, fmt.Sprintf("short-%d", i))
	}
	add := func(id, payload string) {
		if _, err := c.AddTask(ctx, client.Task{ID: id, Queue: "drain", Type: "sleep", Payload: []byte(payload), StartToCloseTimeout: 5 * time.Minute}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range long {
		add(long[i], "10m")
		add(short[i], "200ms")
	}
	for _, id := range long {
		waitState(t, c, id, client.StateStarted, 10*time.Second)
	}
	a.terminate(10 * time.Second)

	for _, id := range short {
		info := waitState(t, c, id, client.StateCompleted, 5*time.Second)
		if info.Attempt != 1 {
			t.Errorf("%s finished in the grace period but has attempt %d", id, info.Attempt)
		}
	}
	// Released tasks are back in the queue at once, not after their 5 minute timeout.
	for _, id := range long {
		waitState(t, c, id, client.StateScheduled, 3*time.Second)
	}
	b := startWorkerFast(t, s, "drain")
	for _, id := range long {
		waitState(t, c, id, client.StateCompleted, 15*time.Second)
	}
	if got := a.executions(); len(got) != 8 {
		t.Errorf("worker-a ran %d tasks; want 8", len(got))
	}
	b.terminate(10 * time.Second)
	if got := b.executions(); len(got) != len(long) {
		t.Errorf("worker-fast ran %v; want the %d released tasks only", got, len(long))
	}
}

// startWorkerFast starts a worker whose sleep handler returns at once.
func startWorkerFast(t testing.TB, s *server, queue string) *workerProc {
	t.Setenv("TESTWORKER_FAST", "1")
	return startWorker(t, s.addr, workerConfig{queue: queue, types: "sleep", slots: 10, id: "worker-fast"})
}

// TestUnknownTaskTypeIsRetried: a worker that does not know a task's type fails it
// retryably; a worker that knows it completes it later.
func TestUnknownTaskTypeIsRetried(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	ctx := context.Background()

	a := startWorker(t, s.addr, workerConfig{queue: "mixed", types: "echo", id: "worker-echo"})
	res, err := c.AddTask(ctx, client.Task{
		Queue: "mixed", Type: "sleep", ID: "rare-1", Payload: []byte("10ms"),
		Retry: &client.RetryPolicy{InitialInterval: 2 * time.Second, MaximumAttempts: 10},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var info *client.TaskInfo
	for {
		info, err = c.GetTask(ctx, res.ID)
		if err == nil && info.Failure != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failure recorded: %+v %v\n%s", info, err, a.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if info.State != client.StateScheduled || info.Failure.ErrorType != "UnknownTaskType" || info.Failure.NonRetryable {
		t.Fatalf("after the unknown type: state %s failure %+v; want Scheduled with a retryable UnknownTaskType", info.State, info.Failure)
	}
	a.terminate(10 * time.Second)
	b := startWorker(t, s.addr, workerConfig{queue: "mixed", types: "sleep,echo", id: "worker-sleep"})
	info = waitState(t, c, res.ID, client.StateCompleted, 15*time.Second)
	if info.Attempt < 2 || string(info.Result) != "slept" {
		t.Errorf("attempt %d result %q; want a retry (>= 2) that slept", info.Attempt, info.Result)
	}
	b.terminate(10 * time.Second)
	if got := b.executions()[res.ID]; len(got) != 1 {
		t.Errorf("worker-sleep ran the task %d times; want 1", len(got))
	}
}

// outQueue describes the queue of task id, for failure reports.
func outQueue(c *client.Client, id string) string {
	info, err := c.GetTask(context.Background(), id)
	if err != nil {
		return ""
	}
	d, err := c.DescribeQueue(context.Background(), info.Queue)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("backlog %+v, %d pollers, dispatch %.1f/s", d.Backlog, len(d.Pollers), d.DispatchRate)
}
