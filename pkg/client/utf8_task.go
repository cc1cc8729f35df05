package client

import (
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// invalidUTF8Request returns the path of the first string field of req that is not valid
// UTF-8, or "" (checkUTF8 asks only once the codec refused req). Adds are checked by a
// direct walk of their TaskSpecs' fields (the walk through protobuf reflection cost a few
// microseconds and ~9 allocations per task); only one that fails is walked again by
// reflection for the path. Other requests take the reflective walk.
func invalidUTF8Request(req any) string {
	switch r := req.(type) {
	case *matchingv1.AddTaskRequest:
		if validUTF8Spec(r.GetTask()) {
			return ""
		}
	case *matchingv1.AddTasksRequest:
		if validUTF8Specs(r.GetTasks()) {
			return ""
		}
	}
	if m, ok := req.(proto.Message); ok {
		return invalidUTF8Path(m.ProtoReflect())
	}
	return ""
}

func validUTF8Specs(specs []*matchingv1.TaskSpec) bool {
	for _, s := range specs {
		if !validUTF8Spec(s) {
			return false
		}
	}
	return true
}

// validUTF8Spec reports whether every string of s is valid UTF-8.
// TestDirectUTF8CheckCoversEveryString fails when TaskSpec gains a string this misses.
func validUTF8Spec(s *matchingv1.TaskSpec) bool {
	if !validStrings(s.GetNamespace(), s.GetQueue(), s.GetTaskId(), s.GetTaskType(), s.GetSessionId(), s.GetFairnessKey()) {
		return false
	}
	for k, v := range s.GetHeaders() {
		if !validStrings(k, v) {
			return false
		}
	}
	for _, c := range s.GetRequires() {
		if !validStrings(c.GetName(), c.GetValue()) {
			return false
		}
	}
	for _, p := range s.GetPrefers() {
		if !validStrings(p.GetCapability().GetName(), p.GetCapability().GetValue()) {
			return false
		}
	}
	return validStrings(s.GetRetryPolicy().GetNonRetryableErrorTypes()...)
}

func validStrings(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}
