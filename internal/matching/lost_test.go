package matching

import (
	"context"
	"fmt"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
)

// lostFixture: n workers, each on its own host with its own process, and one waiting task
// pinned to each worker's process (and host), on a stepped clock.
func lostFixture(tb testing.TB, n int) (*Engine, *clock.Fake) {
	clk := clock.NewFake(time.Now())
	e := open(tb, tb.TempDir(), Options{Clock: clk, WorkerLivenessTimeout: 10 * time.Second}).e
	specs := make([]*matchingv1.TaskSpec, 0, n)
	for i := range n {
		caps := []*matchingv1.Capability{{Name: "taskroute.dev/host", Value: fmt.Sprint("host-", i)}, {Name: "taskroute.dev/process", Value: fmt.Sprint("p-", i)}}
		e.RecordWorkerHeartbeat(&matchingv1.RecordWorkerHeartbeatRequest{Namespace: "ns", Queue: "q", WorkerIdentity: fmt.Sprint("w-", i), Capabilities: caps})
		specs = append(specs, tspec(fmt.Sprint("t-", i), func(s *matchingv1.TaskSpec) { s.Requires = caps }))
	}
	add(tb, e, specs...)
	return e, clk
}

// Pinned tasks whose worker is live are spared; once every worker was silent for the
// liveness timeout, each partition is lost and its task fails.
func TestLostTargetsUseLiveWorkers(t *testing.T) {
	e, clk := lostFixture(t, 20)
	clk.Advance(9 * time.Second) // within the liveness timeout: nothing is lost yet
	for i := range 10 {          // half the workers stay live
		e.RecordWorkerHeartbeat(&matchingv1.RecordWorkerHeartbeatRequest{Namespace: "ns", Queue: "q", WorkerIdentity: fmt.Sprint("w-", i),
			Capabilities: []*matchingv1.Capability{{Name: "taskroute.dev/host", Value: fmt.Sprint("host-", i)}, {Name: "taskroute.dev/process", Value: fmt.Sprint("p-", i)}}})
	}
	clk.Advance(2 * time.Second) // the partitions and the other workers are past it
	e.FailLostTargets()          // the engine's own loop may have failed some already
	for i := range 20 {
		info, err := e.Get(context.Background(), "ns", fmt.Sprint("t-", i), 0)
		want := matchingv1.TaskState_TASK_STATE_SCHEDULED
		if i >= 10 {
			want = matchingv1.TaskState_TASK_STATE_FAILED
		}
		if err != nil || info.State != want {
			t.Errorf("task of worker %d: %v, %v; want %v", i, info.GetState(), err, want)
		}
	}
}

// BenchmarkLostPartitions measures one sweep of a queue's pinned partitions for lost
// targets, with 2,000 live workers and one waiting task pinned to each.
//
//	go test ./internal/matching -run '^$' -bench LostPartitions
func BenchmarkLostPartitions(b *testing.B) {
	e, clk := lostFixture(b, 2000)
	q := e.queue("ns", "q")
	now := clk.Now().UnixNano()
	b.ResetTimer()
	for range b.N {
		if lost := q.lostPartitions(now); len(lost) != 0 {
			b.Fatalf("%d partitions lost with every worker live", len(lost))
		}
	}
}
