package client

import (
	"fmt"
	"testing"
)

// BenchmarkAddTasksRequest is building the request of an AddTasks call of 1,000 tasks.
//
//	go test -run XXX -bench AddTasksRequest -benchmem -count 6 ./pkg/client/
func BenchmarkAddTasksRequest(b *testing.B) {
	c := New(nil)
	tasks := make([]Task, 1000)
	for i := range tasks {
		tasks[i] = Task{ID: fmt.Sprint("t", i), Queue: "q", Type: "t", Payload: make([]byte, 100)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.addTasksRequest(tasks, 0, len(tasks)); err != nil {
			b.Fatal(err)
		}
	}
}
