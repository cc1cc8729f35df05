package main

import (
	"strings"
	"testing"

	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/pkg/client"
)

// add --prefer sends the preferences; get shows them; a malformed one is refused before
// anything is sent, and a bad weight by the service naming the field.
func TestAddWithPreferences(t *testing.T) {
	addr, _ := testserver.Start(t, testserver.Options{})
	out, _, err := runCLI(t, addr, "add", "-q", "pref-q", "-t", "echo", "--id", "p1", "--prefer", "zone=eu:10", "--prefer", "ssd:5")
	if err != nil || out != "Added task p1\n" {
		t.Fatalf("add --prefer: %q %v", out, err)
	}
	info := getTaskInfo(t, addr, "p1")
	want := client.Preferences{{Name: "ssd", Weight: 5}, {Name: "zone", Value: "eu", Weight: 10}}
	if info.Prefers.String() != want.String() {
		t.Fatalf("prefers = %v, want %v", info.Prefers, want)
	}
	if _, _, err := runCLI(t, addr, "add", "-q", "pref-q", "-t", "echo", "--prefer", "zone=eu"); err == nil || !strings.Contains(err.Error(), "--prefer: want name[=value]:weight") {
		t.Fatalf("--prefer without a weight: %v", err)
	}
	_, _, err = runCLI(t, addr, "add", "-q", "pref-q", "-t", "echo", "--prefer", "zone=eu:0")
	if err == nil || !strings.Contains(describeError(err), "InvalidArgument: task.prefers[0].weight") {
		t.Fatalf("--prefer with weight 0: %v", err)
	}
}
