package main

import (
	"strings"
	"testing"

	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// The fairness flags against the real service: add --fairness-key/--fairness-weight, the
// KEY column of describe, set queue-config's fairness flags and their validation.
func TestFairnessCommands(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	for _, args := range [][]string{
		{"--id", "g1", "--fairness-key", "gold", "--fairness-weight", "5"},
		{"--id", "p1"},
	} {
		if out, _, err := runCLI(t, addr, append([]string{"add", "-q", "fair", "-t", "echo"}, args...)...); err != nil {
			t.Fatalf("add %v: %v\n%s", args, err, out)
		}
	}
	if info := getTaskInfo(t, addr, "g1"); info.FairnessKey != "gold" || info.FairnessWeight != 5 {
		t.Fatalf("get task g1: key %q weight %d, want gold and 5", info.FairnessKey, info.FairnessWeight)
	}
	if out, _, err := runCLI(t, addr, "get", "g1"); err != nil || !strings.Contains(out, "gold (weight 5)") {
		t.Fatalf("get g1 lacks the fairness key: %v\n%s", err, out)
	}
	out, _, err := runCLI(t, addr, "describe", "queue", "fair")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"KIND      PRIORITY  KEY        TASKS  OLDEST", "Activity  3         gold       1", "Activity  3         (default)  1"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}

	out, _, err = runCLI(t, addr, "set", "queue-config", "-q", "fair", "--fairness-key-rate-limit", "50",
		"--fairness-key-burst", "10", "--fairness-weights", "gold=5,silver=2")
	if err != nil || !strings.Contains(out, "Fairness:           50/s per key, burst 10; weights gold=5,silver=2\n") {
		t.Fatalf("set fairness: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, addr, "set", "queue-config", "-q", "fair", "--fairness-weights", "")
	if err != nil || !strings.Contains(out, "Fairness:           50/s per key, burst 10; no weight overrides\n") {
		t.Fatalf("clear weights: %v\n%s", err, out)
	}
	_, _, err = runCLI(t, addr, "set", "queue-config", "-q", "fair", "--fairness-weights", "gold=0")
	if err == nil || !strings.Contains(describeError(err), `config.fairness_weight_overrides["gold"]: weight must be within 1..1000, got 0`) {
		t.Fatalf("weight 0: %v", err)
	}
	_, _, err = runCLI(t, addr, "add", "-q", "fair", "-t", "echo", "--fairness-key", strings.Repeat("k", 65))
	if err == nil || !strings.Contains(describeError(err), "task.fairness_key: must be at most 64 bytes, got 65") {
		t.Fatalf("key of 65 bytes: %v", err)
	}
	_, _, err = runCLI(t, addr, "add", "-q", "fair", "-t", "echo", "--fairness-weight", "-1")
	if err == nil || !strings.Contains(describeError(err), "task.fairness_weight") {
		t.Fatalf("negative weight: %v", err)
	}
}
