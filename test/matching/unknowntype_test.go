package matching

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// TestUnknownTaskTypeEndsAfterBoundedAttempts: a task of a type no worker registered is
// failed by a real worker process with UnknownTaskType on every attempt; it does not retry
// forever but ends Failed after the default bound of 5 attempts, with a message that says
// why, and DescribeQueue names the type, its failures and the worker.
func TestUnknownTaskTypeEndsAfterBoundedAttempts(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	ctx := context.Background()

	w := startWorker(t, s.addr, workerConfig{queue: "typo", types: "echo", id: "worker-echo"})
	res, err := c.AddTask(ctx, client.Task{
		Queue: "typo", Type: "ecko", ID: "typo-1", Payload: []byte("x"),
		// Fast retries and no bound of the task's own: only the engine's bound ends it.
		Retry: &client.RetryPolicy{InitialInterval: 10 * time.Millisecond, BackoffCoefficient: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	info := waitState(t, c, res.ID, client.StateFailed, 30*time.Second)
	if info.Attempt != 5 || info.Failure == nil || info.Failure.ErrorType != worker.ErrorTypeUnknownTaskType ||
		!strings.Contains(info.Failure.Message, `no worker ran task type "ecko" in 5 attempts`) {
		t.Fatalf("ended at attempt %d with failure %+v; want attempt 5, UnknownTaskType naming the bound\n%s", info.Attempt, info.Failure, w.out.String())
	}

	d, err := c.DescribeQueue(ctx, "typo")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.UnknownTaskTypes) != 1 {
		t.Fatalf("describe: unknown task types %+v; want ecko", d.UnknownTaskTypes)
	}
	u := d.UnknownTaskTypes[0]
	if u.TaskType != "ecko" || u.Failures != 5 || u.TasksFailed != 1 || !strings.HasPrefix(u.LastWorkerIdentity, "worker-echo") || time.Since(u.LastSeenTime) > time.Minute {
		t.Errorf("describe: %+v; want ecko with 5 failures, 1 task failed, last by worker-echo just now", u)
	}
}
