package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
)

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                                  "0s",
		350 * time.Microsecond:             "350µs",
		12 * time.Millisecond:              "12ms",
		1500 * time.Millisecond:            "1.5s",
		42 * time.Second:                   "42s",
		4*time.Minute + 10*time.Second:     "4m10s",
		3 * time.Minute:                    "3m",
		2*time.Hour + 5*time.Minute:        "2h5m",
		75*time.Hour + 30*time.Minute:      "3d3h",
		-(2*time.Second + time.Nanosecond): "2s",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q; want %q", d, got, want)
		}
	}
}

func TestHumanRateAndThousands(t *testing.T) {
	for r, want := range map[float64]string{0: "0/s", 0.254: "0.25/s", 12.46: "12.5/s", 1234.4: "1,234/s", 51234.9: "51,235/s"} {
		if got := humanRate(r); got != want {
			t.Errorf("humanRate(%v) = %q; want %q", r, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1000000: "1,000,000", -12345: "-12,345"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q; want %q", n, got, want)
		}
	}
}

func TestShowBytes(t *testing.T) {
	if got := showBytes([]byte(`{"a":1}`)); got != `{"a":1}` {
		t.Errorf("text: %q", got)
	}
	if got := showBytes([]byte{0, 1, 2}); got != "base64:AAEC (3 bytes)" {
		t.Errorf("binary: %q", got)
	}
	if got := showBytes(nil); got != "<none>" {
		t.Errorf("empty: %q", got)
	}
}

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func sampleQueue() *client.QueueDescription {
	return &client.QueueDescription{
		Namespace: "team-a", Queue: "images",
		Backlog: []client.Backlog{
			{Kind: client.Activity, Priority: 1, Count: 12, OldestAge: 95 * time.Second},
			{Kind: client.Activity, Priority: 5, Count: 1500, OldestAge: 2 * time.Second},
			{Kind: client.Workflow, Priority: 3, Count: 0},
		},
		AddRate: 1520.3, DispatchRate: 99.96, RunningTasks: 1,
		RateLimit:      client.RateLimit{TasksPerSecond: 100, Burst: 20, State: "Throttling"},
		PriorityLevels: 5, DefaultPriority: 3,
		Pollers: []client.Poller{
			{Identity: "gpu-pool-7c9-x2-1a2b", Pool: "gpu-pool", Version: "v2", Kind: client.Activity,
				LastAccessTime: now.Add(-3 * time.Second), TaskTypes: []string{"resize", "thumb"}, TasksPerSecond: 10, OpenSessions: 1, MaxSessions: 2},
			{Identity: "adhoc-9f8e", Kind: client.Activity, LastAccessTime: now.Add(-250 * time.Millisecond)},
		},
	}
}

func TestWriteQueueTable(t *testing.T) {
	var b bytes.Buffer
	if err := writeQueue(&b, sampleQueue(), now); err != nil {
		t.Fatal(err)
	}
	want := `Queue:          team-a/images
Backlog:        1,512 tasks
Running:        1 task
Add rate:       1,520/s
Dispatch rate:  100/s
Rate limit:     100/s, burst 20 (Throttling)
Priorities:     1..5, default 3

KIND      PRIORITY  TASKS  OLDEST
Activity  5         1,500  2s
Activity  1         12     1m35s
Workflow  3         0      -

IDENTITY              KIND      POOL      VERSION  RATE  SESSIONS  TASK TYPES    LAST ACCESS
adhoc-9f8e            Activity  -         -        -     -         -             250ms ago
gpu-pool-7c9-x2-1a2b  Activity  gpu-pool  v2       10/s  1/2       resize,thumb  3s ago
`
	if got := b.String(); got != want {
		t.Errorf("describe output:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteQueueEmpty(t *testing.T) {
	var b bytes.Buffer
	d := &client.QueueDescription{Namespace: "default", Queue: "new", RateLimit: client.RateLimit{State: "Unlimited"}}
	if err := writeQueue(&b, d, now); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"Backlog:        0 tasks\n", "Rate limit:     unlimited (Unlimited)", "Backlog: empty", "Pollers: none"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("missing %q in:\n%s", line, b.String())
		}
	}
}

func TestWriteTask(t *testing.T) {
	sched := now.Add(-90 * time.Second)
	closed := now.Add(-30 * time.Second)
	info := &client.TaskInfo{
		Namespace: "default", Queue: "q", Kind: client.Activity, ID: "t-1", Type: "resize",
		State: client.StateFailed, Priority: 3, Attempt: 2, ScheduledTime: &sched, ClosedTime: &closed,
		Failure: &client.Failure{Message: "bad input", ErrorType: "BadInput", NonRetryable: true},
	}
	var b bytes.Buffer
	if err := writeTask(&b, info, now); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	for _, want := range []string{
		"Task:       t-1\n",
		"Queue:      default/q (Activity)\n",
		"State:      Failed\n",
		"Attempt:    2\n",
		"Scheduled:  " + sched.Local().Format(time.DateTime) + " (1m30s ago)\n",
		"Started:    -\n",
		"Duration:   1m\n",
		"Failure:    BadInput: bad input (non-retryable)\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Result:") {
		t.Errorf("a failed task without result shows a Result line:\n%s", got)
	}
}

// TestJSONIsStable pins the field names scripts rely on.
func TestJSONIsStable(t *testing.T) {
	var b bytes.Buffer
	if err := writeJSON(&b, sampleQueue()); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"namespace", "queue", "backlog", "addRate", "dispatchRate", "pollers", "rateLimit", "priorityLevels", "defaultPriority"} {
		if _, ok := m[k]; !ok {
			t.Errorf("describe JSON lacks %q: %s", k, b.String())
		}
	}
	backlog := m["backlog"].([]any)[0].(map[string]any)
	if backlog["oldestAge"] != "1m35s" || backlog["oldestAgeSeconds"] != 95.0 {
		t.Errorf("backlog JSON = %v", backlog)
	}

	b.Reset()
	info := &client.TaskInfo{ID: "x", State: client.StateCompleted, Result: []byte("hello"), Kind: client.Activity}
	if err := writeJSON(&b, taskJSON(info)); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["id"] != "x" || m["state"] != "Completed" || m["result"] != "aGVsbG8=" || m["resultText"] != "hello" {
		t.Errorf("task JSON = %s", b.String())
	}
}

func TestWriteQueueUnknownTaskTypes(t *testing.T) {
	var b bytes.Buffer
	d := sampleQueue()
	d.Pollers = nil
	d.UnknownTaskTypes = []client.UnknownTaskType{{TaskType: "rezise", Failures: 10, TasksFailed: 2,
		LastWorkerIdentity: "gpu-pool-7c9-x2-1a2b", LastSeenTime: now.Add(-4 * time.Second)}}
	if err := writeQueue(&b, d, now); err != nil {
		t.Fatal(err)
	}
	want := `Workflow  3         0      -

Unknown task types (failed by workers that did not register them, last hour):
TASK TYPE  FAILED ATTEMPTS  TASKS FAILED  LAST WORKER           LAST SEEN
rezise     10               2             gpu-pool-7c9-x2-1a2b  4s ago

Pollers: none
`
	if got := b.String(); !strings.HasSuffix(got, want) {
		t.Errorf("describe output:\n%s\nwant it to end with:\n%s", got, want)
	}
}

func TestWritePollersShowsHostAndCapabilities(t *testing.T) {
	var b bytes.Buffer
	err := writePollers(&b, []client.Poller{
		{Identity: "gpu-1", Kind: client.Activity, LastAccessTime: now.Add(-time.Second), TaskTypes: []string{"embed"},
			Capabilities: client.Capabilities{"gpu": "a100", "ssd": "", client.CapabilityHost: "node-7", client.CapabilityProcess: "p1"}},
		{Identity: "cpu-1", Kind: client.Activity, LastAccessTime: now.Add(-2 * time.Second),
			Capabilities: client.Capabilities{client.CapabilityHost: "node-2", client.CapabilityProcess: "p2"}},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := `IDENTITY  KIND      POOL  VERSION  HOST    CAPABILITIES  RATE  SESSIONS  TASK TYPES  LAST ACCESS
cpu-1     Activity  -     -        node-2  -             -     -         -           2s ago
gpu-1     Activity  -     -        node-7  gpu=a100,ssd  -     -         embed       1s ago
`
	if got := b.String(); got != want {
		t.Errorf("pollers:\n%s\nwant:\n%s", got, want)
	}
}
