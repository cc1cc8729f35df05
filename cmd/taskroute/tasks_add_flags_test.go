package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/taskroute/taskroute/pkg/client"
)

// addTask parses args as `taskroute add` flags and returns the task they describe.
func addTask(t *testing.T, args ...string) (client.Task, error) {
	t.Helper()
	var a addFlags
	f := pflag.NewFlagSet("add", pflag.ContinueOnError)
	a.bind(f)
	if err := f.Parse(args); err != nil {
		t.Fatal(err)
	}
	return a.task(f)
}

func TestAddFlagsDescribeTheTask(t *testing.T) {
	file := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(file, []byte("from a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	task, err := addTask(t, "-q", "q", "-t", "echo", "--kind", "workflow", "--payload-file", file,
		"--header", "trace=abc", "--header", "empty=", "--prefer", "zone=eu:10", "--requires", "gpu=a100, ssd")
	if err != nil {
		t.Fatal(err)
	}
	if task.Queue != "q" || task.Type != "echo" || task.Kind != client.Workflow || string(task.Payload) != "from a file" {
		t.Fatalf("task = %+v", task)
	}
	if len(task.Headers) != 2 || task.Headers["trace"] != "abc" || task.Headers["empty"] != "" {
		t.Fatalf("headers = %v", task.Headers)
	}
	if task.Requires.String() != "gpu=a100,ssd" {
		t.Fatalf("requires = %v, want gpu=a100,ssd", task.Requires)
	}
	if len(task.Prefers) != 1 || task.Retry != nil {
		t.Fatalf("prefers = %v, retry = %v; want one preference and the queue's retry policy", task.Prefers, task.Retry)
	}

	task, err = addTask(t, "-q", "q", "-t", "echo", "--payload", "inline", "--retry-backoff", "3")
	if err != nil {
		t.Fatal(err)
	}
	if string(task.Payload) != "inline" || task.Retry == nil || task.Retry.BackoffCoefficient != 3 || task.Requires != nil {
		t.Fatalf("task = %+v, retry = %+v; want the inline payload and a retry policy of its own", task, task.Retry)
	}
}

func TestAddFlagsNameTheWrongFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--payload", "a", "--payload-file", "b"}, "--payload and --payload-file"},
		{[]string{"--payload-file", "/nonexistent/payload"}, "--payload-file:"},
		{[]string{"--kind", "job"}, `--kind: want activity or workflow, got "job"`},
		{[]string{"--header", "novalue"}, `--header: want KEY=VALUE, got "novalue"`},
		{[]string{"--header", "=v"}, `--header: want KEY=VALUE, got "=v"`},
		{[]string{"--prefer", "zone=eu"}, "--prefer:"},
		{[]string{"--requires", "gpu,=x"}, "--requires: empty capability name"},
	} {
		_, err := addTask(t, append([]string{"-q", "q", "-t", "echo"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}

func TestRoutableCell(t *testing.T) {
	for _, tc := range []struct {
		b    client.Backlog
		want string
	}{
		{client.Backlog{}, "-"},
		{client.Backlog{Requires: client.Capabilities{"gpu": ""}, Routable: true}, "yes"},
		{client.Backlog{Requires: client.Capabilities{"gpu": "a100"}, Unmet: client.Capabilities{"gpu": "a100"}}, "no: no live worker has gpu=a100"},
		{client.Backlog{Requires: client.Capabilities{"gpu": "", "zone": "eu"}}, "no: no live worker has all of them"},
	} {
		if got := routableCell(tc.b); got != tc.want {
			t.Errorf("routableCell(%+v) = %q, want %q", tc.b, got, tc.want)
		}
	}
}
