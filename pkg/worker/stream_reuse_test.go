package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// TestPushedTasksKeepTheirPayloads: the stream decodes every push into the same message,
// so a Task that shared memory with it would see a later task's payload. Every Task a
// handler got still holds its own payload after all the pushes after it.
func TestPushedTasksKeepTheirPayloads(t *testing.T) {
	const n = 200
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dialTest(t, addr)
	tasks := make([]client.Task, n)
	for i := range tasks {
		tasks[i] = client.Task{Queue: "reuse", Type: "t", ID: fmt.Sprintf("id-%04d", i), Payload: fmt.Appendf(nil, "payload-%04d", i)}
	}
	if _, err := c.AddTasks(context.Background(), tasks); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []*worker.Task
	done := make(chan struct{})
	startWorker(t, c, worker.Options{Queue: "reuse", Slots: 4}, "t", func(_ context.Context, task *worker.Task) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		if got = append(got, task); len(got) == n {
			close(done)
		}
		return nil, nil
	})
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("not every task ran within a minute")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, task := range got {
		if want := "payload-" + strings.TrimPrefix(task.ID, "id-"); string(task.Payload) != want {
			t.Errorf("task %s holds payload %q; want %q", task.ID, task.Payload, want)
		}
	}
}
