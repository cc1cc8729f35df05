package matching

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/pkg/client"
)

// TestBacklogWakesOnFirstTaskOfALevel: the service notifies its backlog watch when a
// task added over gRPC lands in an empty backlog level (kind, priority, requirement set),
// and only then, so a steady backlog costs no wake-ups.
func TestBacklogWakesOnFirstTaskOfALevel(t *testing.T) {
	svc := testserver.StartService(t, testserver.Options{})
	wakes := svc.Engine().BacklogWatch().Subscribe(queueconfig.WakeFilter{})
	defer wakes.Stop()
	ready := wakes.Ready()
	c, err := client.Dial(context.Background(), svc.Addr(), client.WithNamespace("e2e"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := queueconfig.Key{Namespace: "e2e", Name: "wake"}
	add := func(id string, prio int, requires client.Capabilities) {
		t.Helper()
		if _, err := c.AddTasks(context.Background(), []client.Task{{ID: id, Queue: "wake", Type: "echo", Priority: prio, Requires: requires}}); err != nil {
			t.Fatal(err)
		}
	}
	expectWake := func(what string) {
		t.Helper()
		select {
		case <-ready:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no wake within 5 s", what)
		}
		if got := wakes.Take(); !slices.Equal(got, []queueconfig.Key{key}) {
			t.Fatalf("%s: woke %v, want %v", what, got, key)
		}
	}
	// The wake is notified before the add returns: nothing pending after it means none.
	expectNone := func(what string) {
		t.Helper()
		select {
		case <-ready:
			t.Fatalf("%s: woke %v", what, wakes.Take())
		default:
		}
	}

	add("a1", 3, nil)
	expectWake("first task of the queue")
	add("a2", 3, nil)
	add("a3", 3, nil)
	expectNone("more tasks of a non-empty level")
	add("p1", 5, nil)
	expectWake("first task of another priority")
	add("g1", 3, client.Capabilities{"gpu": "a100"})
	expectWake("first task of a requirement set")
	add("g2", 3, client.Capabilities{"gpu": "a100"})
	expectNone("second task of the requirement set")
}
