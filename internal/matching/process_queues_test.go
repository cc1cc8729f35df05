package matching

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// TestIdleProcessQueuesCostLittle measures what process routing keeps in memory per worker
// process once its tasks are done: the process's backlog partition (with its levels), its
// entry in the poller table with its capabilities, and the cached list of partitions it
// may take from. 1,000 worker processes, each sent one task routed to it, which it took.
func TestIdleProcessQueuesCostLittle(t *testing.T) {
	v := open(t, t.TempDir(), Options{IdleQueueTimeout: time.Hour})
	const n = 1000
	caps := func(i int) []*matchingv1.Capability {
		return []*matchingv1.Capability{{Name: "taskroute.dev/host", Value: "node-1"}, {Name: "taskroute.dev/process", Value: fmt.Sprintf("%012x", i)}}
	}
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		add(t, v.e, tspec(fmt.Sprintf("t%d", i), func(s *matchingv1.TaskSpec) {
			s.Requires = caps(i)[1:]
		}))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := v.e.Poll(ctx, &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: fmt.Sprint("w", i), MaxTasks: 1, Capabilities: caps(i)})
		cancel()
		if err != nil || len(got) != 1 || got[0].TaskId != fmt.Sprintf("t%d", i) {
			t.Fatalf("worker %d got %v, %v", i, got, err)
		}
		if err := v.e.Complete("ns", got[0].TaskId, got[0].LeaseId, nil); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	t.Logf("%d idle process queues (partition, levels, poller entry, cache): %.0f bytes each", n, per)
	if per <= 0 {
		t.Fatalf("heap did not grow (%d -> %d): measurement disturbed", before.HeapAlloc, after.HeapAlloc)
	}
	if per > 4096 {
		t.Errorf("an idle process queue costs %.0f bytes, want < 4 KiB", per)
	}
}
