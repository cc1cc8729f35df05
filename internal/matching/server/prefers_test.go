package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

func pref(name, value string, weight int32) *matchingv1.PreferredCapability {
	return &matchingv1.PreferredCapability{Capability: &matchingv1.Capability{Name: name, Value: value}, Weight: weight}
}

// checkPreferenceValidation: bad preferences get InvalidArgument naming the field.
func checkPreferenceValidation(t *testing.T, c matchingv1.MatchingServiceClient) {
	t.Helper()
	many := make([]*matchingv1.PreferredCapability, 17)
	for i := range many {
		many[i] = pref(fmt.Sprintf("c%d", i), "", 1)
	}
	cases := []struct {
		prefers []*matchingv1.PreferredCapability
		want    string
	}{
		{[]*matchingv1.PreferredCapability{{Weight: 1}}, "task.prefers[0].capability"},
		{[]*matchingv1.PreferredCapability{pref("-zone", "eu", 1)}, "task.prefers[0].capability.name"},
		{[]*matchingv1.PreferredCapability{pref("zone", "e u", 1)}, "task.prefers[0].capability.value"},
		{[]*matchingv1.PreferredCapability{pref("zone", "eu", 0)}, "task.prefers[0].weight"},
		{[]*matchingv1.PreferredCapability{pref("zone", "eu", 101)}, "task.prefers[0].weight"},
		{[]*matchingv1.PreferredCapability{pref("zone", "eu", 1), pref("zone", "us", 2)}, "task.prefers[1].capability.name"},
		{[]*matchingv1.PreferredCapability{pref("gpu", "a100", 5)}, "task.prefers[0].capability.name"}, // also required
		{many, "task.prefers"},
	}
	for _, tc := range cases {
		s := spec("bad")
		s.Requires = []*matchingv1.Capability{{Name: "gpu"}}
		s.Prefers = tc.prefers
		_, err := c.AddTask(ctxT(t, 5*time.Second), &matchingv1.AddTaskRequest{Task: s})
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), tc.want+":") {
			t.Errorf("prefers %v: %v, want InvalidArgument naming %s", tc.prefers, err, tc.want)
		}
	}
	s := spec("good-prefs")
	s.Prefers = []*matchingv1.PreferredCapability{pref("zone", "eu", 100), pref("example.com/disk", "", 1)}
	if _, err := c.AddTask(ctxT(t, 5*time.Second), &matchingv1.AddTaskRequest{Task: s}); err != nil {
		t.Errorf("valid preferences refused: %v", err)
	}
}
