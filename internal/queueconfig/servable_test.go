package queueconfig

import (
	"testing"
	"time"
)

func TestServableBacklog(t *testing.T) {
	gpu := Capability{Name: "gpu", Value: "a100"}
	backlog := []Backlog{
		{Priority: 3, Count: 10, OldestAge: time.Second},
		{Priority: 3, Count: 5, OldestAge: 4 * time.Second, Requires: []Capability{{Name: "gpu"}}},
		{Priority: 5, Count: 2, OldestAge: 2 * time.Second, Requires: []Capability{{Name: "gpu", Value: "h100"}}},
		{Priority: 1, Count: 7, OldestAge: 9 * time.Second},
	}
	for _, tc := range []struct {
		name       string
		profile    WorkerProfile
		wantCount  int64
		wantOldest time.Duration
	}{
		{"no capabilities serve unrouted tasks only", WorkerProfile{}, 17, 9 * time.Second},
		{"a100 meets presence but not h100", WorkerProfile{Capabilities: []Capability{gpu}}, 22, 9 * time.Second},
		{"priorities narrow the levels", WorkerProfile{Capabilities: []Capability{gpu}, Priorities: []int{3}}, 15, 4 * time.Second},
		{"no level served", WorkerProfile{Priorities: []int{2}}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			count, oldest := ServableBacklog(backlog, tc.profile)
			if count != tc.wantCount || oldest != tc.wantOldest {
				t.Fatalf("ServableBacklog = %d, %v; want %d, %v", count, oldest, tc.wantCount, tc.wantOldest)
			}
		})
	}
}
