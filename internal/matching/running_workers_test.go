package matching

import (
	"context"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// TestStatsCountRunningTasksPerWorker: each poller in Stats carries the attempts it runs,
// counted at start and uncounted at completion, so the operator can tell busy workers
// from idle ones.
func TestStatsCountRunningTasksPerWorker(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	add(t, v.e, tspec("a"), tspec("b"), tspec("c"))
	as := func(id string) func(*matchingv1.PollTasksRequest) {
		return func(r *matchingv1.PollTasksRequest) { r.WorkerIdentity = id }
	}
	busy := pollN(t, v.e, "q", 2, time.Second, as("busy"))
	if len(busy) != 2 {
		t.Fatalf("busy got %d tasks, want 2", len(busy))
	}
	if got := pollN(t, v.e, "q", 1, time.Second, as("light")); len(got) != 1 {
		t.Fatalf("light got %d tasks, want 1", len(got))
	}
	pollN(t, v.e, "q", 1, 50*time.Millisecond, as("idle")) // connects, finds nothing

	want := map[string]int64{"busy": 2, "light": 1, "idle": 0}
	expectRunning(t, v.e, want)
	if err := v.e.Complete("ns", busy[0].TaskId, busy[0].LeaseId, nil); err != nil {
		t.Fatal(err)
	}
	want["busy"] = 1
	expectRunning(t, v.e, want)
}

func expectRunning(t *testing.T, e *Engine, want map[string]int64) {
	t.Helper()
	st, err := e.Stats(context.Background(), queueconfig.Key{Namespace: "ns", Name: "q"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, p := range st.Pollers {
		got[p.Identity] = p.Running
	}
	for id, n := range want {
		if v, ok := got[id]; !ok || v != n {
			t.Errorf("worker %s runs %d (listed %v), want %d; all: %v", id, v, ok, n, got)
		}
	}
}
