package matching

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
)

// TestStreamWorkerKill9KeepsAcknowledgedResults: a worker process on the stream path (the
// SDK's default) is killed with -9 while tasks it was pushed run. Results it had
// acknowledged stay (attempt 1, its result); the tasks it held keep their leases and run
// again on another worker once the start-to-close timeout ends them.
func TestStreamWorkerKill9KeepsAcknowledgedResults(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	ctx := context.Background()
	const timeout = 3 * time.Second
	add := func(id, payload string) {
		t.Helper()
		if _, err := c.AddTask(ctx, client.Task{ID: id, Queue: "kill", Type: "sleep", Payload: []byte(payload), StartToCloseTimeout: timeout}); err != nil {
			t.Fatal(err)
		}
	}
	a := startWorker(t, s.addr, workerConfig{queue: "kill", types: "sleep", slots: 4, id: "stream-a"})
	var short, long []string
	for i := 0; i < 10; i++ {
		short = append(short, fmt.Sprint("short-", i))
		add(short[i], "1ms")
	}
	for _, id := range short {
		waitState(t, c, id, client.StateCompleted, 10*time.Second)
	}
	for i := 0; i < 4; i++ {
		long = append(long, fmt.Sprint("long-", i))
		add(long[i], "10m")
	}
	for _, id := range long {
		waitState(t, c, id, client.StateStarted, 10*time.Second)
	}
	killed := time.Now()
	a.kill()

	t.Setenv("TESTWORKER_FAST", "1")
	b := startWorker(t, s.addr, workerConfig{queue: "kill", types: "sleep", slots: 4, id: "stream-b"})
	defer b.terminate(10 * time.Second)
	for _, id := range long {
		info := waitState(t, c, id, client.StateCompleted, timeout+15*time.Second)
		if info.Attempt != 2 {
			t.Errorf("%s: attempt %d; want 2 (the killed worker's attempt timed out)", id, info.Attempt)
		}
	}
	if d := time.Since(killed); d < timeout*8/10 {
		t.Errorf("held tasks ran again %v after the kill, before their %v lease ran out", d, timeout)
	}
	for _, id := range short {
		info, err := c.GetTask(ctx, id)
		if err != nil || info.State != client.StateCompleted || info.Attempt != 1 || string(info.Result) != "slept" {
			t.Errorf("%s after the kill: %+v %v; want its acknowledged result of attempt 1", id, info, err)
		}
	}
}

// TestStreamSurvivesServiceKill9: the service is killed with -9 and restarted while a
// stream worker drains a backlog. The worker reopens its stream and reports results the
// broken stream had not acknowledged with CompleteTasks; every task ends Completed.
func TestStreamSurvivesServiceKill9(t *testing.T) {
	s := startServer(t, "")
	c := s.client(client.WithCallTimeout(10 * time.Second))
	defer c.Close()
	ctx := context.Background()
	const n = 2000
	var ids []string
	for i := 0; i < n; i += 500 {
		tasks := make([]client.Task, 500)
		for j := range tasks {
			tasks[j] = client.Task{ID: fmt.Sprintf("sk-%05d", i+j), Queue: "restart", Type: "echo", StartToCloseTimeout: 3 * time.Second}
			ids = append(ids, tasks[j].ID)
		}
		if _, err := c.AddTasks(ctx, tasks); err != nil {
			t.Fatal(err)
		}
	}
	w := startWorker(t, s.addr, workerConfig{queue: "restart", types: "echo", slots: 8, id: "stream-restart"})
	defer w.terminate(15 * time.Second)
	waitState(t, c, ids[n/10], client.StateCompleted, 20*time.Second)
	s.kill()
	s.restart()
	for _, id := range ids {
		waitState(t, c, id, client.StateCompleted, 60*time.Second)
	}
}
