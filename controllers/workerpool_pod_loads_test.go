package controllers

import (
	"testing"

	"github.com/taskroute/taskroute/internal/queueconfig"
)

// TestPodLoadsCountSessionsAndPinnedWork: a pod's load is its workers' running tasks, the
// sessions bound to them and the waiting tasks pinned to their process, so a worker that
// holds an open session with nothing running is not taken for idle.
func TestPodLoadsCountSessionsAndPinnedWork(t *testing.T) {
	proc := queueconfig.Capability{Name: "taskroute.dev/process", Value: "p-b"}
	stats := queueconfig.Stats{
		Pollers: []queueconfig.Poller{
			{Identity: "pool-a-0a1b2c3d", Pool: "pool", Running: 2},
			{Identity: "pool-b-4e5f6a7b", Pool: "pool", OpenSessions: 1, Capabilities: []queueconfig.Capability{proc}},
			{Identity: "pool-c-8c9d0e1f", Pool: "pool"},
			{Identity: "other-d-00000000", Pool: "other", Running: 9},
		},
		Backlog: []queueconfig.Backlog{{Count: 3, Requires: []queueconfig.Capability{proc}}},
	}
	got := podLoads(stats, "pool")
	want := map[string]int64{"pool-a": 2, "pool-b": 4, "pool-c": 0}
	for pod, n := range want {
		if got[pod] != n {
			t.Errorf("load of %s = %d, want %d (all: %v)", pod, got[pod], n, got)
		}
	}
	if _, ok := got["other-d"]; ok {
		t.Errorf("a pod of another pool was counted: %v", got)
	}
}
