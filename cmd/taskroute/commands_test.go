package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/credentials"
	"github.com/taskroute/taskroute/pkg/worker"
)

// runCLI runs one taskroute command line against addr and returns stdout, stderr, error.
func runCLI(t *testing.T, addr string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newRootCommand(&out, &errOut)
	cmd.SetArgs(append([]string{"--address", addr, "--namespace", "cli", "--insecure"}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// getTaskInfo runs `get ID -o json` and decodes the task it prints.
func getTaskInfo(t *testing.T, addr, id string) client.TaskInfo {
	t.Helper()
	out, _, err := runCLI(t, addr, "get", id, "-o", "json")
	var info client.TaskInfo
	if err != nil || json.Unmarshal([]byte(out), &info) != nil {
		t.Fatalf("get %s -o json: %v\n%s", id, err, out)
	}
	return info
}

// TestCommandsAgainstTheRealService runs the commands against the real matching service
// (Pebble on disk, gRPC on 127.0.0.1) with a real SDK worker.
func TestCommandsAgainstTheRealService(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})

	// add, without a worker: the task waits in the backlog.
	out, _, err := runCLI(t, addr, "add", "--queue", "cli-q", "--type", "echo", "--id", "t1", "--payload", "hello", "--priority", "4")
	if err != nil || out != "Added task t1\n" {
		t.Fatalf("add: %q %v", out, err)
	}
	out, _, err = runCLI(t, addr, "add", "-q", "cli-q", "-t", "echo", "--id", "t1", "-o", "json")
	var added client.AddResult
	if err != nil || json.Unmarshal([]byte(out), &added) != nil || added.ID != "t1" || added.Created {
		t.Fatalf("repeated add: %q %v", out, err)
	}

	out, _, err = runCLI(t, addr, "describe", "queue", "cli-q")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Queue:          cli/cli-q", "Backlog:        1 task\n", "Activity  4         1", "Pollers: none"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, addr, "list", "queues", "-o", "json")
	var qs []client.QueueSummary
	if err != nil || json.Unmarshal([]byte(out), &qs) != nil || len(qs) != 1 || qs[0].Queue != "cli-q" || qs[0].BacklogCount != 1 {
		t.Fatalf("list queues: %q %v", out, err)
	}

	// A worker drains it; wait shows the outcome and exits 0.
	c, err := client.Dial(context.Background(), addr, client.WithNamespace("cli"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := worker.New(c, worker.Options{Queue: "cli-q", Identity: "cli-worker-1", Pool: "pool-a", Version: "v7", PollTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	w.Register("echo", func(_ context.Context, task *worker.Task) ([]byte, error) {
		return append([]byte("re: "), task.Payload...), nil
	})
	w.Register("fail", func(context.Context, *worker.Task) ([]byte, error) {
		return nil, errors.New("always fails")
	})
	w.Register("block", func(ctx context.Context, _ *worker.Task) ([]byte, error) {
		<-ctx.Done()
		return nil, context.Cause(ctx)
	})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	}()

	out, _, err = runCLI(t, addr, "wait", "t1")
	if err != nil {
		t.Fatalf("wait: %v\n%s", err, out)
	}
	for _, want := range []string{"Task:       t1\n", "State:      Completed\n", "Result:     re: hello\n", "Priority:   4\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("wait output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = runCLI(t, addr, "get", "t1", "-o", "json")
	var info map[string]any
	if err != nil || json.Unmarshal([]byte(out), &info) != nil || info["state"] != "Completed" || info["resultText"] != "re: hello" {
		t.Fatalf("get -o json: %q %v", out, err)
	}

	// Adding an existing id with --wait: the outcome, and that nothing new was created.
	out, _, err = runCLI(t, addr, "add", "-q", "cli-q", "-t", "echo", "--id", "t1", "--wait", "-o", "json")
	var again map[string]any
	if err != nil || json.Unmarshal([]byte(out), &again) != nil || again["created"] != false || again["state"] != "Completed" {
		t.Fatalf("add --wait -o json of an existing id: %q %v, want created false", out, err)
	}

	// Retry flags: one attempt only, so the failing handler ends the task Failed at once.
	out, _, err = runCLI(t, addr, "add", "-q", "cli-q", "-t", "fail", "--id", "t-once", "--retry-max-attempts", "1",
		"--retry-initial-interval", "1h", "--wait", "--timeout", "20s", "-o", "json")
	var failed map[string]any
	var ec exitCode
	if !errors.As(err, &ec) || ec != 1 || json.Unmarshal([]byte(out), &failed) != nil || failed["state"] != "Failed" || failed["attempt"] != 1.0 || failed["created"] != true {
		t.Fatalf("add --retry-max-attempts 1 of a failing task: %q %v, want Failed after attempt 1", out, err)
	}

	out, _, err = runCLI(t, addr, "list", "pollers", "--queue", "cli-q")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "IDENTITY") || !strings.Contains(out, "cli-worker-1") || !strings.Contains(out, "pool-a") || !strings.Contains(out, "v7") || !strings.Contains(out, "block,echo,fail") {
		t.Errorf("list pollers:\n%s", out)
	}

	// add --wait of a task that gets cancelled: exit status 1, outcome printed.
	if _, _, err := runCLI(t, addr, "add", "-q", "cli-q", "-t", "block", "--id", "t2", "--heartbeat-timeout", "2s"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.GetTask(context.Background(), "t2")
		if err == nil && info.State == client.StateStarted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("t2 never started: %+v %v", info, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	out, _, err = runCLI(t, addr, "cancel", "t2")
	if err != nil || !strings.Contains(out, "Requested cancellation of task t2") {
		t.Fatalf("cancel: %q %v", out, err)
	}
	out, _, err = runCLI(t, addr, "wait", "t2", "--timeout", "15s")
	if !errors.As(err, &ec) || ec != 1 || !strings.Contains(out, "State:      Canceled") {
		t.Errorf("wait on a canceled task: %v\n%s", err, out)
	}

	// wait that times out: exit status 2.
	if _, _, err := runCLI(t, addr, "add", "-q", "idle-q", "-t", "echo", "--id", "t3"); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runCLI(t, addr, "wait", "t3", "--timeout", "300ms")
	if !errors.As(err, &ec) || ec != 2 || !strings.Contains(errOut, "still Scheduled") {
		t.Errorf("wait timeout: %v %q", err, errOut)
	}

	// Errors name the field and keep the code.
	_, _, err = runCLI(t, addr, "add", "-q", "cli-q", "-t", "echo", "--priority", "9")
	if msg := describeError(err); !strings.HasPrefix(msg, "InvalidArgument: ") || !strings.Contains(msg, "priority") {
		t.Errorf("bad priority: %q", msg)
	}
	_, _, err = runCLI(t, addr, "get", "nope")
	if msg := describeError(err); !strings.HasPrefix(msg, "NotFound: ") {
		t.Errorf("unknown id: %q", msg)
	}
	if _, _, err := runCLI(t, addr, "list", "queues", "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Errorf("bad -o: %v", err)
	}
}

// TestCommandsNeedCredentialsUnlessInsecure: without --insecure the CLI dials like a
// worker, so with no token file it refuses before sending anything in clear.
func TestCommandsNeedCredentialsUnlessInsecure(t *testing.T) {
	t.Setenv("TASKROUTE_TOKEN_FILE", "")
	t.Setenv("TASKROUTE_INSECURE", "")
	var out, errOut bytes.Buffer
	cmd := newRootCommand(&out, &errOut)
	cmd.SetArgs([]string{"--address", "127.0.0.1:1", "--token-file", t.TempDir() + "/missing", "describe", "queue", "q"})
	err := cmd.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "TASKROUTE_TOKEN_FILE") {
		t.Fatalf("want an error naming TASKROUTE_TOKEN_FILE, got %v", err)
	}
}

// TestMissingTokenSaysWhatToDo: a user who forgets --insecure against a plaintext
// development service is told to pass it (or a token), in the CLI's flags.
func TestMissingTokenSaysWhatToDo(t *testing.T) {
	if _, err := os.Stat(credentials.DefaultTokenFile); err == nil {
		t.Skipf("%s exists here", credentials.DefaultTokenFile)
	}
	addr, _ := testserver.Start(t, testserver.Options{})
	for _, name := range []string{"TASKROUTE_TOKEN_FILE", "TASKROUTE_CA_FILE", "TASKROUTE_INSECURE"} {
		t.Setenv(name, "") // restored afterwards; the CLI copies its flags into these
	}
	var out, errOut bytes.Buffer
	cmd := newRootCommand(&out, &errOut)
	cmd.SetArgs([]string{"--address", addr, "add", "-q", "q", "-t", "echo"})
	err := cmd.ExecuteContext(context.Background())
	msg := describeError(err)
	for _, want := range []string{"no --token-file given", credentials.DefaultTokenFile, "pass --insecure", "--token-file with a ServiceAccount token", "kubectl create token"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

// TestInvalidUTF8IsInvalidArgument: a string that is not UTF-8 (it cannot be sent as a
// protobuf string) is refused as InvalidArgument naming the field, not as an Internal
// marshaling error.
func TestInvalidUTF8IsInvalidArgument(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"add", "-q", "q", "-t", "bad\xff"}, "task.task_type"},
		{[]string{"add", "-q", "q", "-t", "echo", "--header", "trace=\xc3"}, "task.headers[trace]"},
		{[]string{"get", "id\xfe"}, "task_id"},
	} {
		_, _, err := runCLI(t, addr, tc.args...)
		want := "InvalidArgument: " + tc.field + ": must be valid UTF-8"
		if msg := describeError(err); msg != want {
			t.Errorf("%q: %q, want %q", tc.args, msg, want)
		}
	}
}
