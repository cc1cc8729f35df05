package client

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// BenchmarkCheckUTF8Batch is the walk of an AddTasks call of 1000 valid tasks, which every
// AddTasks paid before the call went out until the interceptor left the check to the codec
// (it now runs only after the codec refused a request, to name the field).
func BenchmarkCheckUTF8Batch(b *testing.B) {
	req := &matchingv1.AddTasksRequest{}
	for i := 0; i < 1000; i++ {
		req.Tasks = append(req.Tasks, &matchingv1.TaskSpec{
			Namespace: "bench", Queue: "q", TaskId: fmt.Sprint("t-", i), TaskType: "t",
			Payload: make([]byte, 100), Headers: map[string]string{"k": "v"},
			StartToCloseTimeout: durationpb.New(0),
		})
	}
	b.Run("reflect", func(b *testing.B) {
		m := req.ProtoReflect()
		b.ReportAllocs()
		for b.Loop() {
			if f := invalidUTF8Path(m); f != "" {
				b.Fatal(f)
			}
		}
	})
}

// TestInvalidUTF8PathNamesTheField: the allocation-free check and the path walk agree on
// every place a string can be (top level, nested message, list element, map key, map value).
func TestInvalidUTF8PathNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		req  *matchingv1.AddTasksRequest
		want string
	}{
		{&matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{{TaskId: "ok", Headers: map[string]string{"k": "v"}}}}, ""},
		{&matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{{}, {TaskType: "bad\xff"}}}, "tasks[1].task_type"},
		{&matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{{Headers: map[string]string{"k": "\xc3"}}}}, "tasks[0].headers[k]"},
		{&matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{{Headers: map[string]string{"\xc3": "v"}}}}, "tasks[0].headers (a key)"},
		{&matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{{Requires: []*matchingv1.Capability{{Name: "gpu", Value: "\xfe"}}}}}, "tasks[0].requires[0].value"},
	} {
		if got := invalidUTF8Path(tc.req.ProtoReflect()); got != tc.want {
			t.Errorf("invalidUTF8Path = %q; want %q", got, tc.want)
		}
	}
}

// TestUTF8CheckAllocations guards the path-free check: a batch of valid tasks costs at
// most 12 allocations per task (building a path per field cost 24).
func TestUTF8CheckAllocations(t *testing.T) {
	req := &matchingv1.AddTasksRequest{}
	for i := 0; i < 100; i++ {
		req.Tasks = append(req.Tasks, &matchingv1.TaskSpec{
			Namespace: "bench", Queue: "q", TaskId: fmt.Sprint("t-", i), TaskType: "t",
			Payload: make([]byte, 100), Headers: map[string]string{"k": "v"},
			StartToCloseTimeout: durationpb.New(0),
		})
	}
	m := req.ProtoReflect()
	if perTask := testing.AllocsPerRun(10, func() { invalidUTF8Path(m) }) / 100; perTask > 12 {
		t.Fatalf("%.1f allocations per task", perTask)
	}
}
