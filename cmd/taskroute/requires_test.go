package main

import (
	"strings"
	"testing"

	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// add --requires sends the requirements; get shows them; describe queue shows the
// requirement set's backlog and that no live worker can run it, naming what is missing.
func TestAddWithRequirements(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	out, _, err := runCLI(t, addr, "add", "-q", "req-q", "-t", "train", "--id", "r1", "--requires", "gpu=a100,ssd")
	if err != nil || out != "Added task r1\n" {
		t.Fatalf("add --requires: %q %v", out, err)
	}
	if info := getTaskInfo(t, addr, "r1"); info.Requires.String() != "gpu=a100,ssd" {
		t.Fatalf("requires = %v, want gpu=a100,ssd", info.Requires)
	}
	if out, _, err = runCLI(t, addr, "get", "r1"); err != nil || !strings.Contains(words(out), "Requires: gpu=a100,ssd") {
		t.Fatalf("get r1 shows no requirements:\n%s %v", out, err)
	}
	out, _, err = runCLI(t, addr, "describe", "queue", "req-q")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"KIND PRIORITY REQUIRES TASKS OLDEST ROUTABLE",
		"Activity 3 gpu=a100,ssd 1",
		"no: no live worker has gpu=a100,ssd",
	} {
		if !strings.Contains(words(out), want) {
			t.Fatalf("describe queue lacks %q:\n%s", want, out)
		}
	}

	if _, _, err := runCLI(t, addr, "add", "-q", "req-q", "-t", "x", "--requires", "=a100"); err == nil || !strings.Contains(err.Error(), "--requires: empty capability name") {
		t.Fatalf("--requires with an empty name: %v", err)
	}
	_, _, err = runCLI(t, addr, "add", "-q", "req-q", "-t", "x", "--requires", "GPU!")
	if err == nil || !strings.Contains(describeError(err), "InvalidArgument: task.requires[0].name") {
		t.Fatalf("--requires with a malformed name: %v", err)
	}
}

// words is s with every run of spaces (table padding) made one space.
func words(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}
