package server

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

func validSpec() *matchingv1.TaskSpec {
	return &matchingv1.TaskSpec{
		Namespace: "default", Queue: "q", TaskId: "id-1", TaskType: "send-email", Payload: make([]byte, 100),
		Priority: 2, FairnessKey: "tenant-a", StartToCloseTimeout: durationpb.New(1e9),
		RetryPolicy: &matchingv1.RetryPolicy{InitialInterval: durationpb.New(1e9), MaximumAttempts: 3, NonRetryableErrorTypes: []string{"Fatal"}},
		Headers:     map[string]string{"trace": "abc"},
	}
}

// A valid task of a batch is checked without allocating: field names are built only for
// the field that fails.
func TestCheckTaskValidDoesNotAllocate(t *testing.T) {
	l := DefaultLimits()
	spec := validSpec()
	allocs := testing.AllocsPerRun(100, func() {
		if err := l.checkTask(tasksField, 7, spec, fiveLevels); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("checking a valid task allocated %.0f times, want 0", allocs)
	}
}

func TestCheckTaskNamesTheFailingField(t *testing.T) {
	l := DefaultLimits()
	cases := []struct {
		name  func(int) string
		edit  func(*matchingv1.TaskSpec)
		field string
	}{
		{tasksField, func(s *matchingv1.TaskSpec) { s.Queue = "a b" }, "tasks[3].queue: "},
		{taskField, func(s *matchingv1.TaskSpec) { s.TaskType = "" }, "task.task_type: "},
		{tasksField, func(s *matchingv1.TaskSpec) { s.FairnessWeight = -1 }, "tasks[3].fairness_weight: "},
		{tasksField, func(s *matchingv1.TaskSpec) { s.Priority = 9 }, "tasks[3].priority: "},
		{tasksField, func(s *matchingv1.TaskSpec) { s.HeartbeatTimeout = durationpb.New(-1) }, "tasks[3].heartbeat_timeout: "},
		{tasksField, func(s *matchingv1.TaskSpec) { s.RetryPolicy.NonRetryableErrorTypes = []string{"ok", "bad\x01"} },
			"tasks[3].retry_policy.non_retryable_error_types[1]: must not contain control characters"},
		{tasksField, func(s *matchingv1.TaskSpec) { s.Headers = map[string]string{"": "v"} }, "tasks[3].headers: "},
	}
	for _, c := range cases {
		spec := validSpec()
		c.edit(spec)
		err := l.checkTask(c.name, 3, spec, fiveLevels)
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), c.field) {
			t.Errorf("want InvalidArgument %q..., got %v", c.field, err)
		}
	}
	if err := l.checkTask(tasksField, 4, nil, fiveLevels); status.Convert(err).Message() != "tasks[4]: must be set" {
		t.Errorf("nil task: got %v", err)
	}
}

// BenchmarkCheckTaskBatch: the checks of one full AddTasks batch of valid tasks.
func BenchmarkCheckTaskBatch(b *testing.B) {
	l := DefaultLimits()
	specs := make([]*matchingv1.TaskSpec, 1000)
	for i := range specs {
		specs[i] = validSpec()
	}
	b.ReportAllocs()
	for b.Loop() {
		for i, s := range specs {
			if err := l.checkTask(tasksField, i, s, fiveLevels); err != nil {
				b.Fatal(err)
			}
		}
	}
}
