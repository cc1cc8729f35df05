package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/worker"
)

// TestSessionCommands: create session, add --session, get session, describe queue's
// sessions column and complete session against the real service and a real SDK worker
// with one session slot.
func TestSessionCommands(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	c, err := client.Dial(context.Background(), addr, client.WithNamespace("cli"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := worker.New(c, worker.Options{Queue: "cli-s", Identity: "cli-sw", Sessions: 1, PollTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("whoami", func(_ context.Context, task *worker.Task) ([]byte, error) { return []byte(task.SessionID), nil })
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	}()
	// The worker is listed once its first poll arrived.
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := c.DescribeQueue(context.Background(), "cli-s")
		if err == nil && len(d.Pollers) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not listed: %+v %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	out, _, err := runCLI(t, addr, "create", "session", "-q", "cli-s", "--id", "s1")
	if err != nil || !strings.Contains(out, "Session:  s1\n") || !strings.Contains(out, "State:    Open\n") || !strings.Contains(out, "Worker:   cli-sw (process ") {
		t.Fatalf("create session: %q %v", out, err)
	}
	out, _, err = runCLI(t, addr, "add", "-q", "cli-s", "-t", "whoami", "--id", "in-s1", "--session", "s1", "--wait")
	if err != nil || !strings.Contains(out, "Result:     s1\n") {
		t.Fatalf("add --session --wait: %q %v", out, err)
	}
	out, _, err = runCLI(t, addr, "describe", "queue", "cli-s")
	if err != nil || !strings.Contains(out, "SESSIONS") || !strings.Contains(out, "1/1") {
		t.Fatalf("describe queue: %q %v", out, err)
	}
	_, _, err = runCLI(t, addr, "create", "session", "-q", "cli-s")
	if err == nil || !strings.Contains(describeError(err), "ResourceExhausted") {
		t.Fatalf("second session on one slot: %v", err)
	}
	out, _, err = runCLI(t, addr, "complete", "session", "s1", "-o", "json")
	var s client.Session
	if err != nil || json.Unmarshal([]byte(out), &s) != nil || s.State != client.SessionCompleted {
		t.Fatalf("complete session: %q %v", out, err)
	}
	out, _, err = runCLI(t, addr, "get", "session", "s1")
	if err != nil || !strings.Contains(out, "State:    Completed\n") {
		t.Fatalf("get session: %q %v", out, err)
	}
	_, _, err = runCLI(t, addr, "get", "session", "nope")
	if err == nil || !strings.Contains(describeError(err), "NotFound") {
		t.Fatalf("get unknown session: %v", err)
	}
}
