package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
)

// TestGetShowsThePayload: get shows the payload in the table (cut short) and in -o json
// (base64, and as text when it is text).
func TestGetShowsThePayload(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	long := strings.Repeat("x", 300)
	for id, payload := range map[string]string{"short": "hello", "long": long} {
		if _, _, err := runCLI(t, addr, "add", "-q", "pq", "-t", "echo", "--id", id, "--payload", payload); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := runCLI(t, addr, "get", "short")
	if err != nil || !strings.Contains(out, "Payload:    hello\n") {
		t.Fatalf("get: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, addr, "get", "long")
	if err != nil || !strings.Contains(out, "Payload:    "+long[:200]+"... (300 bytes)\n") {
		t.Fatalf("get of a long payload: %v\n%s", err, out)
	}
	out, _, err = runCLI(t, addr, "get", "short", "-o", "json")
	var info map[string]any
	if err != nil || json.Unmarshal([]byte(out), &info) != nil || info["payload"] != "aGVsbG8=" || info["payloadText"] != "hello" {
		t.Fatalf("get -o json: %v\n%s", err, out)
	}
}

// TestListTasks runs list tasks against the real service: a queue's tasks only, the state
// filter, --limit with the token to continue (stderr in the table, nextPageToken in
// JSON), and clear errors for a bad state or token.
func TestListTasks(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	for i := range 5 {
		if _, _, err := runCLI(t, addr, "add", "-q", "lq", "-t", "echo", "--id", fmt.Sprintf("t%d", i), "--payload", "secret"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := runCLI(t, addr, "add", "-q", "elsewhere", "-t", "echo", "--id", "other"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCLI(t, addr, "cancel", "t3"); err != nil {
		t.Fatal(err)
	}

	out, errOut, err := runCLI(t, addr, "list", "tasks", "-q", "lq")
	if err != nil || errOut != "" {
		t.Fatalf("list tasks: %v %s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "ID  ") || !strings.HasSuffix(lines[1], " ago") || !strings.Contains(lines[4], "Canceled") || strings.Contains(out, "other") || strings.Contains(out, "secret") {
		t.Fatalf("list tasks table:\n%s", out)
	}
	for i, line := range lines[1:] {
		if fields := strings.Fields(line); fields[0] != fmt.Sprintf("t%d", i) || fields[1] != "echo" || fields[2] != "Activity" {
			t.Errorf("row %d: %q", i, line)
		}
	}

	out, _, err = runCLI(t, addr, "list", "tasks", "-q", "lq", "--state", "canceled", "-o", "json")
	var page client.TaskPage
	if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page.Tasks) != 1 || page.Tasks[0].ID != "t3" || page.NextPageToken != "" {
		t.Fatalf("list tasks --state canceled: %v\n%s", err, out)
	}

	out, _, err = runCLI(t, addr, "list", "tasks", "-q", "lq", "--limit", "3", "-o", "json")
	if err != nil || json.Unmarshal([]byte(out), &page) != nil || len(page.Tasks) != 3 || page.NextPageToken == "" {
		t.Fatalf("list tasks --limit 3: %v\n%s", err, out)
	}
	out, errOut, err = runCLI(t, addr, "list", "tasks", "-q", "lq", "--limit", "3", "--page-token", page.NextPageToken)
	if err != nil || !strings.Contains(out, "t3 ") || !strings.Contains(out, "t4 ") || strings.Contains(out, "t2 ") || errOut != "" {
		t.Fatalf("list tasks --page-token: %v %s\n%s", err, errOut, out)
	}
	_, errOut, err = runCLI(t, addr, "list", "tasks", "-q", "lq", "--limit", "2")
	if err != nil || !strings.HasPrefix(errOut, "More tasks: continue with --page-token ") {
		t.Fatalf("list tasks --limit 2 says how to continue: %v %q", err, errOut)
	}

	_, _, err = runCLI(t, addr, "list", "tasks", "-q", "lq", "--state", "lost")
	if err == nil || !strings.Contains(err.Error(), `--state: want one of scheduled, started, completed, failed, canceled, timedout, terminated, got "lost"`) {
		t.Errorf("bad --state: %v", err)
	}
	_, _, err = runCLI(t, addr, "list", "tasks", "-q", "lq", "--page-token", "%%")
	if err == nil || describeError(err) != "InvalidArgument: page_token: must be a next_page_token of ListTasks" {
		t.Errorf("bad --page-token: %v", err)
	}
}
