package matching

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
)

// TestPriorityPools: two pools of one queue, one serving priorities 4-5 and one 1-3, as a
// WorkerPool's spec.priorities sets them (TASKROUTE_PRIORITIES). Each worker runs only its
// levels and every task runs once, although the higher levels were added first.
func TestPriorityPools(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	ctx := context.Background()
	const perLevel = 60
	var ids []string
	var tasks []client.Task
	for p := 5; p >= 1; p-- { // the high levels first
		for i := range perLevel {
			id := fmt.Sprintf("p%d-%03d", p, i)
			ids = append(ids, id)
			tasks = append(tasks, client.Task{ID: id, Queue: "tiers", Type: "echo", Priority: p})
		}
	}
	if _, err := c.AddTasks(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	high := startWorker(t, s.addr, workerConfig{queue: "tiers", types: "echo", slots: 4, id: "high", priorities: "4,5"})
	low := startWorker(t, s.addr, workerConfig{queue: "tiers", types: "echo", slots: 4, id: "low", priorities: "1,2,3"})
	waitAll(t, c, ids, 60*time.Second)
	high.terminate(10 * time.Second)
	low.terminate(10 * time.Second)

	ran := map[string]int{}
	for _, w := range []*workerProc{high, low} {
		for id, attempts := range w.executions() {
			ran[id] += len(attempts)
			level, _ := strconv.Atoi(strings.TrimPrefix(strings.Split(id, "-")[0], "p"))
			if serves := (w.id == "high") == (level >= 4); !serves {
				t.Errorf("%s (priority %d) ran on the %s pool", id, level, w.id)
			}
		}
	}
	for _, id := range ids {
		if ran[id] != 1 {
			t.Errorf("%s ran %d times", id, ran[id])
		}
	}
}
