package matching

import (
	"context"
	"fmt"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
)

// A service restarted with its clock set back (or the same clock reading, as a fake clock
// gives) must not reuse the sequences of the tasks it already holds: their backlog entries
// would be overwritten by new ones and the old tasks would never be dispatched.
func TestSequencesStayUniqueWhenTheClockStepsBackAcrossARestart(t *testing.T) {
	dir := t.TempDir()
	at := time.Unix(1_800_000_000, 0)
	const n = 50
	batch := func(prefix string) []*matchingv1.TaskSpec {
		specs := make([]*matchingv1.TaskSpec, n)
		for i := range specs {
			specs[i] = tspec(fmt.Sprintf("%s-%02d", prefix, i))
		}
		return specs
	}

	v := open(t, dir, Options{Clock: clock.NewFake(at)})
	add(t, v.e, batch("before")...)
	v.close()

	// The same clock reading after the restart: an unguarded clock-based sequence repeats.
	v = open(t, dir, Options{Clock: clock.NewFake(at)})
	add(t, v.e, batch("after")...)
	v.close()

	// What the store holds decides: read it back once more.
	v = open(t, dir, Options{Clock: clock.NewFake(at.Add(time.Hour))})
	var got []*matchingv1.Task
	for len(got) < 2*n {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		page, err := v.e.Poll(ctx, &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: "w", MaxTasks: 2 * n})
		cancel()
		if len(page) == 0 || err != nil {
			break
		}
		got = append(got, page...)
	}
	if len(got) != 2*n {
		t.Fatalf("polled %d tasks after the restarts, want %d (backlog entries were overwritten)", len(got), 2*n)
	}
	// FIFO holds across the restart: every task added before it comes first.
	for i, task := range got[:n] {
		if want := fmt.Sprintf("before-%02d", i); task.TaskId != want {
			t.Fatalf("task %d is %s, want %s", i, task.TaskId, want)
		}
	}
}
