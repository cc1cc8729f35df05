package client_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
)

// TestAddsRetryAddRateQuota: against the real service with an add-rate quota of 20/s
// (burst 5), 30 single adds and 6 batches of 5 sent as fast as possible all succeed within
// their deadline (the SDK backs off on the quota's ResourceExhausted and its retry
// delay), while what can never pass (a batch over the burst) fails at once.
func TestAddsRetryAddRateQuota(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{Engine: matching.Options{
		Quotas: matching.Quotas{Default: matching.Quota{AddRate: 20, AddBurst: 5}},
	}})
	c, err := client.Dial(context.Background(), addr, client.WithNamespace("quota"), client.WithCallTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()

	for i := 0; i < 30; i++ {
		task := client.Task{Queue: "q", Type: "t"}
		if i%2 == 0 {
			task.ID = fmt.Sprint("single-", i) // with and without a caller id
		}
		if _, err := c.AddTask(ctx, task); err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
	}
	for b := 0; b < 6; b++ {
		batch := make([]client.Task, 5)
		for i := range batch {
			batch[i] = client.Task{ID: fmt.Sprintf("batch-%d-%d", b, i), Queue: "q", Type: "t"}
		}
		if _, err := c.AddTasks(ctx, batch); err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
	}

	start := time.Now()
	big := make([]client.Task, 6)
	for i := range big {
		big[i] = client.Task{Queue: "q", Type: "t"}
	}
	_, err = c.AddTasks(ctx, big)
	if status.Code(err) != codes.ResourceExhausted || client.IsRetryable(err) {
		t.Fatalf("batch over the burst: %v (retryable %v), want a final ResourceExhausted", err, client.IsRetryable(err))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a batch that can never pass took %v to be refused", d)
	}

	// A deadline shorter than the wait for a token ends the retries with the quota's
	// refusal, not a deadline error. (An attempt may also meet its deadline before the
	// service answers on a loaded machine: that attempt proves nothing, so try again.)
	var last error
	for i := 0; i < 100 && status.Code(last) != codes.ResourceExhausted; i++ {
		short, cancel := context.WithTimeout(ctx, 30*time.Millisecond) // a token takes 50ms
		_, last = c.AddTask(short, client.Task{Queue: "q", Type: "t"})
		cancel()
		if last != nil && status.Code(last) != codes.ResourceExhausted && status.Code(last) != codes.DeadlineExceeded && !errors.Is(last, context.DeadlineExceeded) {
			t.Fatalf("add with a short deadline: %v", last)
		}
	}
	if status.Code(last) != codes.ResourceExhausted {
		t.Errorf("adds beyond the rate with a deadline shorter than the token wait: %v, want ResourceExhausted", last)
	}
}
