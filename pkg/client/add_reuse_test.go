package client

import (
	"fmt"
	"sync"
	"testing"

	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// TestAddTasksResultsFromReusedAnswers: AddTasks decodes its answers into pooled messages
// (refilled by the next call's answer); through a Dial'ed client to the real service,
// concurrent calls of different sizes (one over MaxBatch: two answers into one message)
// each get their own tasks' results, in order, and keep them after later calls.
func TestAddTasksResultsFromReusedAnswers(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c, err := Dial(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sizes := []int{MaxBatch + 500, 7, 1, 300}
	got := make([][]AddResult, len(sizes))
	errs := make([]error, len(sizes))
	var wg sync.WaitGroup
	for g, n := range sizes {
		wg.Go(func() {
			tasks := make([]Task, n)
			for i := range tasks {
				tasks[i] = Task{ID: fmt.Sprintf("g%d-%d", g, i), Queue: "q", Type: "t"}
			}
			got[g], errs[g] = c.AddTasks(t.Context(), tasks)
		})
	}
	wg.Wait()
	again, err := c.AddTasks(t.Context(), []Task{{ID: "g1-0", Queue: "q", Type: "t"}})
	if err != nil || len(again) != 1 || again[0].Created {
		t.Fatalf("adding g1-0 again: %v, %v; want one result, not created", again, err)
	}
	for g, n := range sizes {
		if errs[g] != nil {
			t.Fatalf("call %d: %v", g, errs[g])
		}
		if len(got[g]) != n {
			t.Fatalf("call %d: %d results for %d tasks", g, len(got[g]), n)
		}
		for i, r := range got[g] {
			if want := fmt.Sprintf("g%d-%d", g, i); r.ID != want || !r.Created {
				t.Fatalf("call %d result %d: %+v; want %s created", g, i, r, want)
			}
		}
	}
}
