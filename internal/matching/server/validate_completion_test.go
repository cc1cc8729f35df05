package server

import (
	"strings"
	"testing"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

func validCompletions(n int) []*matchingv1.CompleteTaskRequest {
	cs := make([]*matchingv1.CompleteTaskRequest, n)
	for i := range cs {
		cs[i] = &matchingv1.CompleteTaskRequest{Namespace: "default", TaskId: "0190a2b3-1c2d-7e8f-9a0b-1c2d3e4f5a6b", LeaseId: "2s", WorkerIdentity: "w1", Result: []byte("ok")}
	}
	return cs
}

// TestCheckCompletionsValidDoesNotAllocate: a batch of valid completions (a worker stream's
// message, CompleteTasks) is checked without building any field name (it cost a formatted
// string per completion).
func TestCheckCompletionsValidDoesNotAllocate(t *testing.T) {
	s := &Server{limits: DefaultLimits()}
	cs := validCompletions(100)
	allocs := testing.AllocsPerRun(100, func() {
		if err := s.checkCompletions(cs); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("checking 100 valid completions allocated %.0f times, want 0", allocs)
	}
}

func TestCheckCompletionsNamesTheFailingField(t *testing.T) {
	s := &Server{limits: DefaultLimits()}
	cases := []struct {
		edit  func([]*matchingv1.CompleteTaskRequest)
		field string
	}{
		{func(cs []*matchingv1.CompleteTaskRequest) { cs[2].LeaseId = "" }, "completions[2].lease_id: "},
		{func(cs []*matchingv1.CompleteTaskRequest) { cs[0].Namespace = "Not_A_Namespace" }, "completions[0].namespace: "},
		{func(cs []*matchingv1.CompleteTaskRequest) { cs[1].Result = make([]byte, s.limits.MaxPayloadBytes+1) }, "completions[1].result: "},
		{func(cs []*matchingv1.CompleteTaskRequest) { cs[1] = nil }, "completions[1]: must be set"},
	}
	for _, c := range cases {
		cs := validCompletions(3)
		c.edit(cs)
		err := s.checkCompletions(cs)
		if err == nil || !strings.Contains(err.Error(), "InvalidArgument") || !strings.Contains(err.Error(), "desc = "+c.field) {
			t.Errorf("got %v; want InvalidArgument naming %q", err, c.field)
		}
	}
}
