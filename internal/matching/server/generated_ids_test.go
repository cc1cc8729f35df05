package server_test

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// Ids the service generates are UUIDv7, ordered by the time of the add, so the records of
// recent tasks sit together in storage (see internal/matching/ids.go).
func TestGeneratedIDsAreTimeOrdered(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c := dial(t, addr)
	ctx := ctxT(t, 10*time.Second)
	var ids []string
	for batch := 0; batch < 3; batch++ {
		tasks := make([]*matchingv1.TaskSpec, 200)
		for i := range tasks {
			tasks[i] = &matchingv1.TaskSpec{Namespace: "default", Queue: "gen", TaskType: "echo", Payload: []byte(fmt.Sprint(i))}
		}
		res, err := c.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: tasks})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.GetResults() {
			ids = append(ids, r.GetTaskId())
		}
	}
	for _, id := range ids {
		if u, err := uuid.Parse(id); err != nil || u.Version() != 7 {
			t.Fatalf("generated id %q: version %v, %v; want a UUIDv7", id, u.Version(), err)
		}
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatalf("generated ids are not in the order of their adds: %v ...", ids[:5])
	}
}
