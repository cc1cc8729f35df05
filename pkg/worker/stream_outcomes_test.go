package worker

import (
	"fmt"
	"testing"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// TestSplitOutcomesKeepsOrderInTwoAllocations: a message's completions and failures keep
// the batch's order (their acknowledgements follow it), and splitting a full batch costs
// at most one allocation per kind (appending one by one cost one per doubling: 5 here).
func TestSplitOutcomesKeepsOrderInTwoAllocations(t *testing.T) {
	var batch []*completion
	for i := range 67 {
		id := fmt.Sprint("t", i)
		if i%20 == 5 {
			batch = append(batch, &completion{failure: &matchingv1.FailTaskRequest{TaskId: id}})
		} else {
			batch = append(batch, &completion{reqMsg: matchingv1.CompleteTaskRequest{TaskId: id}})
		}
	}
	reqs, fails := splitOutcomes(batch)
	var got []string
	for _, r := range reqs {
		got = append(got, r.GetTaskId())
	}
	for _, f := range fails {
		got = append(got, f.GetTaskId())
	}
	var want []string
	for _, item := range batch {
		if item.failure == nil {
			want = append(want, item.taskID())
		}
	}
	for _, item := range batch {
		if item.failure != nil {
			want = append(want, item.taskID())
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(fails) != 4 {
		t.Fatalf("split %v; want %v (4 failures)", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { splitOutcomes(batch) }); n > 2 {
		t.Errorf("splitting %d outcomes: %.0f allocations; want at most 2", len(batch), n)
	}
	if n := testing.AllocsPerRun(100, func() { splitOutcomes(batch[:5]) }); n > 1 {
		t.Errorf("splitting completions only: %.0f allocations; want at most 1", n)
	}
}
