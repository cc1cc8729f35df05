package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/pkg/client"
)

// get/set/reset queue-config against the real service: only the flags given change, the
// table and JSON show the result, and a queue a TaskQueue configures is refused with its
// name.
func TestQueueConfigCommands(t *testing.T) {
	svc := testserver.StartService(t, testserver.Options{})
	addr := svc.Addr()

	out, _, err := runCLI(t, addr, "set", "queue-config", "-q", "images", "--rate-limit", "100", "--burst", "10",
		"--priority-levels", "7", "--default-priority", "4", "--schedule-to-start", "1m", "--start-to-close", "5m",
		"--heartbeat", "30s", "--retention", "48h", "--retry-initial", "2s", "--retry-backoff", "1.5",
		"--retry-max-interval", "1m", "--retry-max-attempts", "5", "--non-retryable", "BadInput,Fatal", "--preference-wait", "2s")
	if err != nil {
		t.Fatalf("set: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Queue:              cli/images\n", "Managed by:         -\n", "Rate limit:         100/s, burst 10\n",
		"Priorities:         1..7, default 4\n", "Schedule-to-start:  1m\n", "Start-to-close:     5m\n", "Heartbeat:          30s\n",
		"Retry:              initial 2s, backoff 1.5, max interval 1m, max attempts 5\n",
		"Non-retryable:      BadInput,Fatal\n", "Retention:          2d\n", "Preference wait:    2s\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("set output lacks %q:\n%s", want, out)
		}
	}

	// Only the flags given change.
	if out, _, err := runCLI(t, addr, "set", "queue-config", "-q", "images", "--rate-limit", "0", "--heartbeat", "0s"); err != nil {
		t.Fatalf("second set: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, addr, "get", "queue-config", "-q", "images", "-o", "json")
	var cfg client.QueueConfig
	if err != nil || json.Unmarshal([]byte(out), &cfg) != nil {
		t.Fatalf("get -o json: %v\n%s", err, out)
	}
	if cfg.RateLimit != 0 || cfg.HeartbeatTimeout != 0 || cfg.Burst != 10 || cfg.PriorityLevels != 7 || cfg.Retention != 48*time.Hour ||
		cfg.Retry.MaximumAttempts != 5 || len(cfg.Retry.NonRetryableErrorTypes) != 2 {
		t.Fatalf("after the second set: %+v", cfg)
	}
	if !strings.Contains(out, `"heartbeatTimeout": "0s"`) || !strings.Contains(out, `"retention": "48h0m0s"`) {
		t.Errorf("JSON durations are not Go duration strings:\n%s", out)
	}

	// Bad values and empty updates are refused, naming the field or the remedy.
	_, _, err = runCLI(t, addr, "set", "queue-config", "-q", "images", "--priority-levels", "3")
	if err == nil || !strings.Contains(describeError(err), "InvalidArgument: config.default_priority: must be within 1..priority_levels (3), got 4") {
		t.Fatalf("levels below the default: %v", err)
	}
	if _, _, err = runCLI(t, addr, "set", "queue-config", "-q", "images"); err == nil || !strings.Contains(err.Error(), "at least one setting") {
		t.Fatalf("set without settings: %v", err)
	}

	out, _, err = runCLI(t, addr, "reset", "queue-config", "-q", "images")
	if err != nil || !strings.Contains(out, "Rate limit:         unlimited\n") || !strings.Contains(out, "Priorities:         1..5, default 3\n") ||
		!strings.Contains(out, "Start-to-close:     10m\n") || !strings.Contains(out, "Schedule-to-start:  none\n") {
		t.Fatalf("reset: %v\n%s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Engine().Apply(ctx, queueconfig.Key{Namespace: "cli", Name: "owned"}, queueconfig.Default()); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCLI(t, addr, "get", "queue-config", "-q", "owned")
	if err != nil || !strings.Contains(out, "Managed by:         TaskQueue cli/owned\n") {
		t.Fatalf("get of a managed queue: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"set", "queue-config", "-q", "owned", "--burst", "2"}, {"reset", "queue-config", "-q", "owned"}} {
		_, _, err := runCLI(t, addr, args...)
		if want := "FailedPrecondition: queue owned is configured by TaskQueue cli/owned; edit that object"; err == nil || describeError(err) != want {
			t.Fatalf("%v: %v, want %q", args, err, want)
		}
	}

	// "get TASK_ID" still fetches tasks.
	if _, _, err := runCLI(t, addr, "add", "-q", "images", "-t", "echo", "--id", "t1"); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCLI(t, addr, "get", "t1"); err != nil || !strings.Contains(out, "Task:       t1\n") {
		t.Fatalf("get t1: %v\n%s", err, out)
	}
}
