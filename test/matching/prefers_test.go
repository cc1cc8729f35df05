package matching

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
)

// TestPreferredCapabilitiesWithWorkerProcesses: two worker processes meet a task's
// requirement (gpu), one also its preference (zone=eu). While the preferring worker is
// connected, every preferring task runs there: with a long preference wait the other
// worker's polls never get one. Once it is gone, the other worker takes new preferring
// tasks, each only after the queue's preference wait, woken by the service's timer (well
// before its next poll would ask again).
func TestPreferredCapabilitiesWithWorkerProcesses(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	ctx := context.Background()
	setWait := func(d time.Duration) {
		t.Helper()
		if _, err := c.SetQueueConfig(ctx, "prefs", client.QueueConfigUpdate{PreferenceWait: &d}); err != nil {
			t.Fatal(err)
		}
	}
	setWait(time.Minute)
	plain := startWorker(t, s.addr, workerConfig{queue: "prefs", types: "echo", slots: 4, id: "plain", capabilities: "gpu=a100"})
	eu := startWorker(t, s.addr, workerConfig{queue: "prefs", types: "echo", slots: 4, id: "eu", capabilities: "gpu=a100,zone=eu"})
	waitPollerCount(t, c, "prefs", 2)

	preferring := func(prefix string, n int) []string {
		t.Helper()
		var ids []string
		var tasks []client.Task
		for i := range n {
			id := fmt.Sprintf("%s-%02d", prefix, i)
			ids = append(ids, id)
			tasks = append(tasks, client.Task{ID: id, Queue: "prefs", Type: "echo", Payload: []byte(id),
				Requires: client.Capabilities{"gpu": ""}, Prefers: client.Preferences{{Name: "zone", Value: "eu", Weight: 10}}})
		}
		if _, err := c.AddTasks(ctx, tasks); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	first := preferring("first", 40)
	waitAll(t, c, first, 60*time.Second)
	eu.terminate(10 * time.Second)
	ranOnEU := eu.executions()
	for _, id := range first {
		if len(ranOnEU[id]) != 1 {
			t.Errorf("preferring task %s ran %d times on the preferred worker", id, len(ranOnEU[id]))
		}
	}

	const wait = 1500 * time.Millisecond
	setWait(wait)
	second := preferring("second", 10)
	for id, info := range waitAll(t, c, second, 60*time.Second) {
		waited := info.StartedTime.Sub(*info.ScheduledTime)
		if waited < wait || waited > wait+5*time.Second {
			t.Errorf("task %s started %v after it was added, want just after the preference wait %v", id, waited, wait)
		}
	}
	plain.terminate(10 * time.Second)
	ranOnPlain := plain.executions()
	for _, id := range first {
		if len(ranOnPlain[id]) != 0 {
			t.Errorf("task %s ran on the worker meeting no preference while the preferred one was connected", id)
		}
	}
	for _, id := range second {
		if len(ranOnPlain[id]) != 1 {
			t.Errorf("task %s ran %d times on the remaining worker after the wait", id, len(ranOnPlain[id]))
		}
	}
}

// waitPollerCount waits (bounded) until a queue lists n live pollers.
func waitPollerCount(t *testing.T, c *client.Client, queue string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := c.DescribeQueue(context.Background(), queue)
		if err == nil && len(d.Pollers) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s: want %d pollers: %+v, %v", queue, n, d, err)
		}
		time.Sleep(20 * time.Millisecond) // bounded polling of DescribeQueue
	}
}
