package client

import (
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// TestAddTasksRequestAllocations: building an AddTasks request of plain tasks costs three
// allocations, whatever the number of tasks (the request, its slice of spec pointers, the
// specs themselves); a TaskSpec each cost one per task, and formatting each task's index
// for an error that did not happen one more.
func TestAddTasksRequestAllocations(t *testing.T) {
	c := New(nil)
	tasks := make([]Task, 500)
	for i := range tasks {
		tasks[i] = Task{ID: fmt.Sprint("t", i), Queue: "q", Type: "t", Payload: []byte("x")}
	}
	if n := testing.AllocsPerRun(20, func() {
		if _, err := c.addTasksRequest(tasks, 0, len(tasks)); err != nil {
			t.Fatal(err)
		}
	}); n > 3 {
		t.Errorf("%.0f allocations for %d tasks; want at most 3", n, len(tasks))
	}
}

// TestAddTasksNamesTheInvalidTaskByIndex: through a Dial'ed client to the real service, a
// batch with a task that cannot be valid is refused before the call with InvalidArgument
// naming it by its index, and none of the batch is added.
func TestAddTasksNamesTheInvalidTaskByIndex(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c, err := Dial(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.AddTasks(t.Context(), []Task{{ID: "a", Queue: "q", Type: "t"}, {ID: "b", Queue: "q", Type: "t"}, {ID: "c", Queue: "q"}})
	if want := "tasks[2].task_type: must not be empty"; status.Code(err) != codes.InvalidArgument || status.Convert(err).Message() != want {
		t.Fatalf("AddTasks: %v; want InvalidArgument %q", err, want)
	}
	if _, err := c.GetTask(t.Context(), "a"); status.Code(err) != codes.NotFound {
		t.Fatalf("GetTask of the batch's first task: %v; want NotFound", err)
	}
}
