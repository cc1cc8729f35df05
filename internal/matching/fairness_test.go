package matching

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// keyed returns n task specs of one fairness key and weight.
func keyed(key string, weight int32, n int) []*matchingv1.TaskSpec {
	specs := make([]*matchingv1.TaskSpec, n)
	for i := range specs {
		specs[i] = tspec(fmt.Sprintf("%s-%03d", key, i), func(s *matchingv1.TaskSpec) {
			s.FairnessKey, s.FairnessWeight = key, weight
		})
	}
	return specs
}

// dispatchKeys polls one task at a time n times and returns the fairness keys in order.
func dispatchKeys(t *testing.T, e *Engine, n int) []string {
	t.Helper()
	keys := make([]string, 0, n)
	for range n {
		got := pollN(t, e, "q", 1, time.Second)
		if len(got) != 1 {
			t.Fatalf("poll %d got %d tasks, want 1 (keys so far %v)", len(keys)+1, len(got), keys)
		}
		keys = append(keys, got[0].FairnessKey)
	}
	return keys
}

func count(keys []string, key string) int {
	n := 0
	for _, k := range keys {
		if k == key {
			n++
		}
	}
	return n
}

// TestFairnessFloodDoesNotStarveTrickle: a key that added 200 tasks first does not make a
// key that added 5 afterwards wait behind them: the two alternate.
func TestFairnessFloodDoesNotStarveTrickle(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	add(t, v.e, keyed("flood", 0, 200)...)
	add(t, v.e, keyed("small", 0, 5)...)
	keys := dispatchKeys(t, v.e, 10)
	if n := count(keys, "small"); n != 5 {
		t.Fatalf("small tasks among the first 10 dispatches = %d, want all 5: %v", n, keys)
	}
}

// TestFairnessWeights: a key of weight 3 gets three dispatches for each of a weight-1 key's
// while both wait; a queue override of the weight wins over the tasks' own.
func TestFairnessWeights(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	add(t, v.e, keyed("heavy", 3, 100)...)
	add(t, v.e, keyed("light", 1, 100)...)
	keys := dispatchKeys(t, v.e, 40)
	if n := count(keys, "heavy"); n < 29 || n > 31 {
		t.Fatalf("weight 3 vs 1: heavy got %d of 40, want 30: %v", n, keys)
	}

	cfg := queueconfig.Default()
	cfg.FairnessWeightOverrides = map[string]int32{"light": 3}
	if err := v.e.Apply(context.Background(), queueconfig.Key{Namespace: "ns", Name: "q"}, cfg); err != nil {
		t.Fatal(err)
	}
	keys = dispatchKeys(t, v.e, 40)
	if n := count(keys, "heavy"); n < 19 || n > 21 {
		t.Fatalf("override light=3: heavy got %d of 40, want 20: %v", n, keys)
	}
}

// TestFairnessIdleKeyCannotBankCredit: a key that waited idle while another was served
// does not get a burst of dispatches when it comes back; the two alternate.
func TestFairnessIdleKeyCannotBankCredit(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	add(t, v.e, keyed("busy", 0, 100)...)
	add(t, v.e, keyed("late", 0, 1)...)
	dispatchKeys(t, v.e, 40) // late's one task goes early; busy is served on alone
	add(t, v.e, tspecs("late2", 20)...)
	keys := dispatchKeys(t, v.e, 20)
	if n := count(keys, "late"); n < 9 || n > 11 {
		t.Fatalf("a key back from idle got %d of 20 dispatches, want 10 (alternating): %v", n, keys)
	}
}

func tspecs(prefix string, n int) []*matchingv1.TaskSpec {
	specs := keyed("late", 0, n)
	for i, s := range specs {
		s.TaskId = fmt.Sprintf("%s-%03d", prefix, i)
	}
	return specs
}

// TestFairnessKeysSurviveRestart: keyed tasks come back in their own partitions after the
// store is closed and reopened, are described per key, and are still served fairly.
func TestFairnessKeysSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	v := open(t, dir, Options{})
	add(t, v.e, keyed("flood", 0, 100)...)
	add(t, v.e, keyed("small", 0, 5)...)
	v.close()

	v = open(t, dir, Options{})
	perKey := map[string]int64{}
	for _, b := range v.e.Describe("ns", "q").Backlog {
		perKey[b.FairnessKey] += b.Count
	}
	if perKey["flood"] != 100 || perKey["small"] != 5 || len(perKey) != 2 {
		t.Fatalf("backlog by key after restart = %v, want flood 100, small 5", perKey)
	}
	// The first poll loads the queue and its partitions; each key's tasks are paged in by a
	// load of its own, and only tasks in memory compete.
	keys := dispatchKeys(t, v.e, 1)
	waitPagedIn(t, v.e)
	keys = append(keys, dispatchKeys(t, v.e, 9)...)
	if n := count(keys, "small"); n != 5 {
		t.Fatalf("after restart, small tasks among the first 10 = %d, want 5: %v", n, keys)
	}
}

// waitPagedIn waits (bounded) until no partition of queue q is paging.
func waitPagedIn(t *testing.T, e *Engine) {
	t.Helper()
	q := e.loadedQueue("ns", "q")
	for deadline := time.Now().Add(10 * time.Second); ; {
		q.mu.Lock()
		loading := false
		q.sub(kindActivity).each(func(b *backlog) {
			for _, l := range b.levels {
				loading = loading || l != nil && l.loading
			}
		})
		q.mu.Unlock()
		if !loading {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("partitions still paging in after 10s")
		}
		runtime.Gosched()
	}
}

// TestFairnessKeyRateLimit: with a per-key rate, a key that used its tokens waits while
// another key's tasks flow, and dispatch resumes when the engine's clock gives its tokens
// back (a timer, not a new poll).
func TestFairnessKeyRateLimit(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	v := open(t, t.TempDir(), Options{Clock: clk})
	cfg := queueconfig.Default()
	cfg.FairnessKeyRateLimit, cfg.FairnessKeyBurst = 1, 2
	if err := v.e.Apply(context.Background(), queueconfig.Key{Namespace: "ns", Name: "q"}, cfg); err != nil {
		t.Fatal(err)
	}
	add(t, v.e, keyed("a", 0, 10)...)
	add(t, v.e, keyed("b", 0, 10)...)
	timers := clk.Timers()
	got := pollN(t, v.e, "q", 10, time.Second)
	if keys := taskKeys(got); len(got) != 4 || count(keys, "a") != 2 || count(keys, "b") != 2 {
		t.Fatalf("first poll got %v, want the burst of 2 of each key", keys)
	}
	done := make(chan []*matchingv1.Task)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tasks, _ := v.e.Poll(ctx, &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: "w", MaxTasks: 10})
		done <- tasks
	}()
	// The first poll armed the key-rate timer; the second parks with its deadline timer.
	giveUp := make(chan struct{})
	defer time.AfterFunc(10*time.Second, func() { close(giveUp) }).Stop()
	if !clk.WaitForTimers(timers+2, giveUp) {
		t.Fatal("the poll did not park with a key-rate timer armed")
	}
	clk.Advance(time.Second)
	select {
	case got = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no dispatch after the keys' tokens returned")
	}
	if keys := taskKeys(got); len(got) != 2 || count(keys, "a") != 1 || count(keys, "b") != 1 {
		t.Fatalf("after 1s at 1/s per key got %v, want one task of each key", keys)
	}
}

func taskKeys(tasks []*matchingv1.Task) []string {
	keys := make([]string, len(tasks))
	for i, tk := range tasks {
		keys[i] = tk.FairnessKey
	}
	return keys
}

// TestFairnessDrainedKeysCostNothing: the partitions and scheduling state of 1,000 keys
// are dropped once their tasks are dispatched, also when the keys come back at once (the
// recreated partitions must not count the backlog entries of the tasks that just left,
// whose deletes may still be in flight).
func TestFairnessDrainedKeysCostNothing(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	for round := range 3 {
		var specs []*matchingv1.TaskSpec
		for i := range 1000 {
			specs = append(specs, keyed(fmt.Sprintf("tenant-%04d", i), 0, 1)...)
		}
		for _, s := range specs {
			s.TaskId = fmt.Sprintf("r%d-%s", round, s.TaskId)
		}
		add(t, v.e, specs...)
		if got := drain(t, v.e, "q", 1000); len(got) != 1000 {
			t.Fatalf("round %d: drained %d of 1000", round, len(got))
		}
	}
	q := v.e.queues["ns\x00q"]
	q.mu.Lock()
	defer q.mu.Unlock()
	sq := q.kind[0]
	if len(sq.routed) != 0 || len(sq.unrouted) != 0 || len(sq.fairKeys) != 0 {
		t.Fatalf("after draining 1000 keys: %d partitions, %d keyed plain, %d key states; want none",
			len(sq.routed), len(sq.unrouted), len(sq.fairKeys))
	}
}

// TestDescribeBoundsKeyedRows: DescribeQueue lists the 100 keys with the largest backlogs
// and sums the others into a row of key "*" per priority and requirement set, so a queue
// of many keys stays describable and the counts by priority stay exact.
func TestDescribeBoundsKeyedRows(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	var specs []*matchingv1.TaskSpec
	for i := range 150 {
		specs = append(specs, keyed(fmt.Sprintf("tenant-%03d", i), 0, 1+i/100)...) // tenants 100..149 have 2 tasks
	}
	specs = append(specs, tspec("plain-1"))
	add(t, v.e, specs...)
	rows := v.e.Describe("ns", "q").Backlog
	var total, twos int64
	var rest *matchingv1.BacklogStats
	for _, r := range rows {
		total += r.Count
		switch {
		case r.FairnessKey == "*":
			rest = r
		case r.FairnessKey != "" && r.Count == 2:
			twos++
		}
	}
	if len(rows) != 102 || rest == nil || rest.Count != 50 || rest.Priority != 3 || twos != 50 || total != 201 {
		t.Fatalf("%d rows (want 102: the default key, 100 keys, the rest at priority 3); rest %v; keys with 2 tasks shown %d (want 50); total %d (want 201)",
			len(rows), rest, twos, total)
	}
}
