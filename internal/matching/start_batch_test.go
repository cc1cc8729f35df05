package matching

import (
	"context"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// TestPollStartsAreOneWrite: the starts of the tasks one poll takes from the backlog reach
// storage as one enqueued write, so they are one synced commit (each start was its own
// write, and they spread over several commits).
func TestPollStartsAreOneWrite(t *testing.T) {
	for range 5 {
		v := open(t, t.TempDir(), Options{})
		specs := make([]*matchingv1.TaskSpec, 200)
		for i := range specs {
			specs[i] = &matchingv1.TaskSpec{Namespace: "ns", Queue: "q", TaskType: "t"}
		}
		add(t, v.e, specs...)
		commits, _ := v.e.CommitStats()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		tasks, err := v.e.Poll(ctx, &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: "w", MaxTasks: 200})
		cancel()
		if err != nil || len(tasks) != 200 {
			t.Fatalf("poll: %d tasks, %v", len(tasks), err)
		}
		for deadline := time.Now().Add(10 * time.Second); ; {
			if pendingWrites(v.e, tasks) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the starts were not durable within 10s")
			}
			time.Sleep(time.Millisecond)
		}
		if after, _ := v.e.CommitStats(); after-commits != 1 {
			t.Fatalf("the poll's 200 starts took %d synced commits; want 1", after-commits)
		}
		v.close()
	}
}

// pendingWrites counts the writes of the given started tasks not yet durable.
func pendingWrites(e *Engine, tasks []*matchingv1.Task) int {
	n := 0
	for _, tk := range tasks {
		s, _ := e.tasks.shard(taskKey(tk.Namespace, tk.TaskId))
		s.mu.Lock()
		if t := s.tasks[taskKey(tk.Namespace, tk.TaskId)]; t != nil {
			n += int(t.pending)
		}
		s.mu.Unlock()
	}
	return n
}
