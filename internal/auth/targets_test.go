package auth

import (
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

func TestRequestTargets(t *testing.T) {
	cases := []struct {
		name    string
		req     proto.Message
		want    []Target
		notNS   bool
		errCode codes.Code
		errText string
	}{
		{name: "top level with queue", req: &matchingv1.PollTasksRequest{Namespace: "a", Queue: "q"}, want: []Target{{"a", "q"}}},
		{name: "a queue's tasks", req: &matchingv1.ListTasksRequest{Namespace: "a", Queue: "q"}, want: []Target{{"a", "q"}}},
		{name: "top level without queue", req: &matchingv1.CompleteTaskRequest{Namespace: "a", TaskId: "t"}, want: []Target{{"a", ""}}},
		{name: "nested", req: &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{Namespace: "a", Queue: "q"}}, want: []Target{{"a", "q"}}},
		{name: "repeated, deduplicated", req: &matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{
			{Namespace: "a", Queue: "q"}, {Namespace: "b", Queue: "q"}, {Namespace: "a", Queue: "q"},
		}}, want: []Target{{"a", "q"}, {"b", "q"}}},
		{name: "repeated completions", req: &matchingv1.CompleteTasksRequest{Completions: []*matchingv1.CompleteTaskRequest{
			{Namespace: "a"}, {Namespace: "b"},
		}}, want: []Target{{"a", ""}, {"b", ""}}},
		{name: "nested unset", req: &matchingv1.AddTaskRequest{}, want: nil},
		{name: "empty list", req: &matchingv1.AddTasksRequest{}, want: nil},
		{name: "empty namespace names the field", req: &matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{{Namespace: "a"}, {}}},
			errCode: codes.InvalidArgument, errText: "tasks[1].namespace"},
		{name: "empty top-level namespace", req: &matchingv1.GetTaskRequest{}, errCode: codes.InvalidArgument, errText: "namespace: required"},
		{name: "not namespaced", req: durationpb.New(0), notNS: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, namespaced, err := requestTargets(tc.req)
			if tc.errCode != codes.OK {
				if status.Code(err) != tc.errCode || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("want %v naming %q, got %v", tc.errCode, tc.errText, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if namespaced == tc.notNS {
				t.Fatalf("namespaced = %v", namespaced)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("want %v, got %v", tc.want, got)
			}
		})
	}
}

func TestRequestTargetsBounded(t *testing.T) {
	req := &matchingv1.AddTasksRequest{}
	for i := range maxTargets + 1 {
		req.Tasks = append(req.Tasks, &matchingv1.TaskSpec{Namespace: "a", Queue: strings.Repeat("q", i+1)})
	}
	_, _, err := requestTargets(req)
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("want InvalidArgument for %d targets, got %v", maxTargets+1, err)
	}
}
