package matching

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// TestFairIndexPicksAsTheScan drives a subqueue through random adds (new keys, weights,
// two priorities, preferring and routed partitions), dispatches, give-backs of older
// tasks, drained and recreated keys and per-key rate limits on a stepped clock, and checks
// at every step that the pick with the fairness index chooses the very level a scan over
// every partition chooses.
func TestFairIndexPicksAsTheScan(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	v := open(t, t.TempDir(), Options{Clock: clk})
	e := v.e
	cfg := queueconfig.Default()
	cfg.FairnessKeyRateLimit, cfg.FairnessKeyBurst = 200, 3
	if err := e.Apply(context.Background(), queueconfig.Key{Namespace: "ns", Name: "q"}, cfg); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	caps := []*matchingv1.Capability{{Name: "gpu", Value: "a100"}}
	next := 0
	addSome := func(n int) {
		specs := make([]*matchingv1.TaskSpec, n)
		for i := range specs {
			next++
			specs[i] = tspec(fmt.Sprint("t", next), func(s *matchingv1.TaskSpec) {
				s.Priority = int32(2 + rng.IntN(2))
				s.FairnessKey = fmt.Sprint("k", rng.IntN(40))
				s.FairnessWeight = int32(1 + rng.IntN(4))
				switch rng.IntN(6) {
				case 0:
					s.Requires = caps
				case 1:
					s.Prefers = []*matchingv1.PreferredCapability{{Capability: caps[0], Weight: 5}}
				}
			})
		}
		add(t, e, specs...)
	}
	addSome(300)

	var popped []*task
	picks := 0
	for step := 0; step < 3000; step++ {
		if rng.IntN(20) == 0 {
			addSome(1 + rng.IntN(30))
		}
		if rng.IntN(10) == 0 {
			clk.Advance(time.Duration(rng.IntN(20)) * time.Millisecond)
		}
		q := e.loadedQueue("ns", "q")
		q.mu.Lock()
		sq := q.sub(kindActivity)
		if sq.fairIdx == nil {
			q.mu.Unlock()
			t.Fatal("no fairness index with keyed partitions")
		}
		bs := sq.servable(capabilitySetOf(caps), capabilitySetOf(caps).key())
		now := e.now().UnixNano()
		for p := 3; p >= 2; p-- {
			sl, sb := sq.fairScan(bs, p, nil, now)
			il, ib := sq.fairHead(bs, p, nil, now)
			if sl != il || sb != ib {
				q.mu.Unlock()
				t.Fatalf("step %d priority %d: the index picked %v, the scan %v", step, p, partName(ib), partName(sb))
			}
			if il == nil {
				continue
			}
			switch {
			case rng.IntN(8) == 0 && len(popped) > 0: // an older task comes back
				i := rng.IntN(len(popped))
				tk := popped[i]
				popped = append(popped[:i], popped[i+1:]...)
				sq.partitionOf(tk).giveBack(tk)
			default:
				tk := il.pop()
				if tk == nil {
					continue
				}
				picks++
				sq.charge(ib.fair, tk.priority, tk.fairWeight, now)
				sq.dropIfEmpty(ib, now)
				if rng.IntN(3) == 0 {
					popped = append(popped, tk)
				}
			}
			break
		}
		q.mu.Unlock()
	}
	if picks < 1000 {
		t.Fatalf("only %d picks: the run did not exercise the index", picks)
	}
}

func partName(b *backlog) string {
	if b == nil {
		return "none"
	}
	return fmt.Sprintf("%q", b.ref.Partition)
}

// TestFairIndexPagesALevelWhoseLoadMissedACommit: a keyed level's page load ends with
// nothing buffered while a commit it could not see landed during its scan (so the level
// is out of the index's heaps and its tasks wait on disk). The next pick must start its
// next load, as the scan over every level did, or the task waits forever.
func TestFairIndexPagesALevelWhoseLoadMissedACommit(t *testing.T) {
	st, e, _, commitA := diskOnlyEntryNotDurable(t)
	polled := pollDuringHeldScan(t, st, e, 1, 5*time.Second)
	commitA()
	close(st.release)
	if got := (<-polled).tasks; len(got) != 1 || got[0].GetTaskId() != "a" {
		t.Fatalf("polled %d tasks after the page load, want a: the level was not paged again", len(got))
	}
}

// TestFairIndexPagesALevelWhoseBufferWasCanceled: the buffered tasks of a keyed level are
// canceled (they stay in its buffer until a pick drops them) while a task waits on disk
// only. The pick that finds the level dead must still start its page load: the level then
// leaves the index's heaps and nothing else would look at it again.
func TestFairIndexPagesALevelWhoseBufferWasCanceled(t *testing.T) {
	v := open(t, t.TempDir(), Options{BufferSize: 4})
	e := v.e
	keyK := func(s *matchingv1.TaskSpec) { s.Priority, s.FairnessKey = 3, "k" }
	for _, id := range []string{"c1", "c2", "c3", "c4", "a"} { // c1..c4 fill the buffer; a waits on disk only
		add(t, e, tspec(id, keyK))
	}
	for _, id := range []string{"c1", "c2", "c3", "c4"} {
		if _, err := e.Cancel("ns", id, "test"); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for deadline := time.Now().Add(3 * time.Second); len(got) == 0 && time.Now().Before(deadline); {
		for _, tk := range pollN(t, e, "q", 1, 200*time.Millisecond) {
			got = append(got, tk.GetTaskId())
		}
	}
	if len(got) != 1 || got[0] != "a" {
		t.Fatalf("polled %v, want a: the level whose buffer was canceled was not paged", got)
	}
}
