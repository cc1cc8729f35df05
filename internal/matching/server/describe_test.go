package server_test

import (
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

func listQueueNames(t *testing.T, c matchingv1.MatchingServiceClient) []string {
	t.Helper()
	resp, err := c.ListQueues(ctxT(t, 5*time.Second), &matchingv1.ListQueuesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range resp.Queues {
		names = append(names, q.Queue)
	}
	return names
}

// TestDescribeDoesNotCreateQueue: describing a queue is a read. A mistyped name is
// described as empty and does not appear in ListQueues afterwards; a queue that is not
// loaded (after a restart) is described from disk with its backlog, and stays unlisted
// only if it has nothing.
func TestDescribeDoesNotCreateQueue(t *testing.T) {
	dir := t.TempDir()
	addr, stop := testserver.Start(t, testserver.Options{DataDir: dir})
	c := dial(t, addr)
	for _, id := range []string{"a", "b", "c"} {
		if _, err := c.AddTask(ctxT(t, 5*time.Second), &matchingv1.AddTaskRequest{Task: spec(id)}); err != nil {
			t.Fatal(err)
		}
	}
	stop()

	addr, _ = testserver.Start(t, testserver.Options{DataDir: dir})
	c = dial(t, addr)
	d, err := c.DescribeQueue(ctxT(t, 5*time.Second), &matchingv1.DescribeQueueRequest{Namespace: "default", Queue: "q1-typo"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Backlog) != 0 || len(d.Pollers) != 0 || d.PriorityLevels != 5 {
		t.Errorf("describe of an unknown queue = %v; want empty with the default configuration", d)
	}
	d, err = c.DescribeQueue(ctxT(t, 5*time.Second), &matchingv1.DescribeQueueRequest{Namespace: "default", Queue: "q1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Backlog) != 1 || d.Backlog[0].Count != 3 || d.Backlog[0].Priority != 3 || d.Backlog[0].OldestAge.AsDuration() <= 0 {
		t.Errorf("describe of q1 from disk: backlog %v; want 3 tasks at priority 3 with an age", d.Backlog)
	}
	if names := listQueueNames(t, c); len(names) != 1 || names[0] != "q1" {
		t.Errorf("ListQueues after describing q1 and q1-typo = %v; want [q1]", names)
	}
}
