package matching

import (
	"context"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// TestTaskLifeAllocations bounds the allocations of a task's life in the engine: added in a
// batch (generated id), started by a poll, completed in a batch. It was 14.6 allocations
// per task when the task-table key was built again at the start, the timer, each write's
// completion and the completion's lookup; 9.6 with the key built once; 8.6 with a poll's
// starts one write (no callback per task); 7.6 since the queue lookup of each add does not
// build its key on the heap; 6.7 since a batch's generated ids take their random bits from
// one read (uuid.NewV7 allocated each UUID).
const maxAllocsPerTaskLife = 7

func TestTaskLifeAllocations(t *testing.T) {
	v := openUnchecked(t, t.TempDir(), Options{})
	specs := make([]*matchingv1.TaskSpec, 100)
	for i := range specs {
		specs[i] = &matchingv1.TaskSpec{Namespace: "ns", Queue: "q", TaskType: "t", Payload: []byte("payload")}
	}
	poll := &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: "w", MaxTasks: 100}
	life := func() {
		add(t, v.e, specs...)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var comps []*matchingv1.CompleteTaskRequest
		for len(comps) < len(specs) {
			tasks, err := v.e.Poll(ctx, poll)
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range tasks {
				comps = append(comps, &matchingv1.CompleteTaskRequest{Namespace: "ns", TaskId: tk.TaskId, LeaseId: tk.LeaseId, WorkerIdentity: "w"})
			}
		}
		for _, e := range v.e.CompleteManyAs(comps, "") {
			if e != nil {
				t.Fatal(e)
			}
		}
	}
	life() // load the queue
	perTask := testing.AllocsPerRun(20, life) / float64(len(specs))
	t.Logf("%.1f allocations per task", perTask)
	if perTask > maxAllocsPerTaskLife {
		t.Fatalf("%.1f allocations per task's life; want at most %d", perTask, maxAllocsPerTaskLife)
	}
}
