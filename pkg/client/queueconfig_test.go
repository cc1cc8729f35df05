package client_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/pkg/client"
)

// The SDK's queue configuration calls against the real service: only the named fields
// change, the answer and GetQueueConfig agree, JSON round-trips, Reset restores the
// defaults, and a managed queue is refused.
func TestQueueConfigCalls(t *testing.T) {
	svc := testserver.StartService(t, testserver.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, svc.Addr(), client.WithNamespace("sdk"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	got, err := c.SetQueueConfig(ctx, "configured", client.QueueConfigUpdate{
		RateLimit: new(50.0), Burst: new(5), HeartbeatTimeout: new(30 * time.Second),
		RetryMaximumAttempts: new(3), RetryNonRetryableErrorTypes: &[]string{"BadInput"}, PreferenceWait: new(2 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &client.QueueConfig{
		RateLimit: 50, Burst: 5, PriorityLevels: 5, DefaultPriority: 3,
		StartToCloseTimeout: 10 * time.Minute, HeartbeatTimeout: 30 * time.Second,
		Retry: client.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 100 * time.Second,
			MaximumAttempts: 3, NonRetryableErrorTypes: []string{"BadInput"}},
		Retention: 24 * time.Hour, PreferenceWait: 2 * time.Second,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("SetQueueConfig = %+v, want %+v", got, want)
	}
	read, err := c.GetQueueConfig(ctx, "configured")
	if err != nil || !reflect.DeepEqual(read, want) {
		t.Fatalf("GetQueueConfig = %+v, %v; want %+v", read, err, want)
	}
	b, err := json.Marshal(read)
	var back client.QueueConfig
	if err != nil || json.Unmarshal(b, &back) != nil || !reflect.DeepEqual(&back, want) {
		t.Fatalf("JSON round trip: %s -> %+v", b, back)
	}

	_, err = c.SetQueueConfig(ctx, "configured", client.QueueConfigUpdate{PriorityLevels: new(2)})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("2 levels with default 3: %v, want InvalidArgument", err)
	}
	reset, err := c.ResetQueueConfig(ctx, "configured")
	if err != nil || reset.RateLimit != 0 || reset.Retry.MaximumAttempts != 0 {
		t.Fatalf("ResetQueueConfig = %+v, %v; want the defaults", reset, err)
	}

	if err := svc.Engine().Apply(ctx, queueconfig.Key{Namespace: "sdk", Name: "owned"}, queueconfig.Default()); err != nil {
		t.Fatal(err)
	}
	if cfg, err := c.GetQueueConfig(ctx, "owned"); err != nil || cfg.ManagedBy != "TaskQueue sdk/owned" {
		t.Fatalf("GetQueueConfig of a managed queue = %+v, %v", cfg, err)
	}
	if _, err := c.SetQueueConfig(ctx, "owned", client.QueueConfigUpdate{Burst: new(1)}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("SetQueueConfig of a managed queue: %v, want FailedPrecondition", err)
	}
	if _, err := c.SetQueueConfig(ctx, "owned", client.QueueConfigUpdate{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("empty update: %v, want InvalidArgument", err)
	}
}
