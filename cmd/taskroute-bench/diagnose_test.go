package main

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
)

// TestMissingTasksReportsStates: the stall report names how many tasks never ran and
// what the service says about them (here: still scheduled, i.e. in the backlog).
func TestMissingTasksReportsStates(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c, err := client.Dial(context.Background(), addr, client.WithNamespace("bench"), client.WithCallTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AddTasks(context.Background(), []client.Task{{Queue: "tput", Type: "t", ID: "b-0"}, {Queue: "tput", Type: "t", ID: "b-1"}, {Queue: "tput", Type: "t", ID: "b-2"}}); err != nil {
		t.Fatal(err)
	}
	ran := make([]atomic.Bool, 3)
	ran[1].Store(true)
	got := missingTasks(c, ran, "b-")
	if !strings.HasPrefix(got, "2 never ran; of 2 asked, by state map[Scheduled:2]") || !strings.Contains(got, "b-2 Scheduled attempt 0") {
		t.Fatalf("report: %s", got)
	}
	log, logs := countingLogger()
	log.V(1).Info("Poll failed", "error", "deadline")
	log.V(1).Info("Poll failed", "error", "deadline")
	if s := logs(); !strings.Contains(s, `2x "msg"="Poll failed"`) {
		t.Fatalf("worker log summary: %s", s)
	}
}
