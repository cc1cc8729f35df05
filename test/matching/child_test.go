package matching

import (
	"context"
	"testing"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// TestChildTaskInheritsQueue: a task scheduled from inside a running task without a queue
// goes to the running task's queue and carries the parent's id in its headers.
func TestChildTaskInheritsQueue(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	ctx := context.Background()

	w, err := worker.New(c, worker.Options{Queue: "parents", Slots: 4, PollTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("parent", func(ctx context.Context, task *worker.Task) ([]byte, error) {
		res, err := task.Client().AddTask(ctx, client.Task{ID: "child-of-" + task.ID, Type: "child"})
		if err != nil {
			return nil, err
		}
		return []byte(res.ID), nil
	})
	w.Register("child", func(_ context.Context, task *worker.Task) ([]byte, error) {
		return []byte("parent=" + task.Headers[worker.HeaderParentTaskID]), nil
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = w.Stop(sctx)
	}()

	if _, err := c.AddTask(ctx, client.Task{ID: "p1", Queue: "parents", Type: "parent"}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	parent, err := c.WaitForResult(wctx, "p1")
	if err != nil || parent.State != client.StateCompleted || string(parent.Result) != "child-of-p1" {
		t.Fatalf("parent: %+v %v", parent, err)
	}
	child, err := c.WaitForResult(wctx, "child-of-p1")
	if err != nil {
		t.Fatal(err)
	}
	if child.Queue != "parents" || child.Namespace != "e2e" || child.State != client.StateCompleted || string(child.Result) != "parent=p1" {
		t.Errorf("child: queue %q namespace %q state %s result %q; want parents/e2e Completed parent=p1", child.Queue, child.Namespace, child.State, child.Result)
	}
}
