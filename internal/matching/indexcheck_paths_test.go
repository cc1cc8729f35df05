package matching

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
	"github.com/taskroute/taskroute/internal/storage"
)

// TestIndexKeysSetOnceBetweenDeletes takes tasks through every path that writes backlog,
// timer and expiry keys, across a restart, under indexCheckStore (which fails the test on
// a put of a key that has an entry or a delete of one that has none): retry after a
// backoff (the first sequence put again, from a timer loaded from the store after the
// restart), release, cancel in the backlog and in a retry wait, schedule-to-start timeout,
// a host-routed task whose host is gone, a backlog paged in after the restart, the
// retention sweep. At the end every index is empty.
func TestIndexKeysSetOnceBetweenDeletes(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	dir := t.TempDir()
	opts := Options{Clock: clk, BufferSize: 4, WorkerLivenessTimeout: 10 * time.Second, SweepInterval: 1000 * time.Hour}
	v := open(t, dir, opts)
	inQueue := func(q string) func(*matchingv1.TaskSpec) { return func(s *matchingv1.TaskSpec) { s.Queue = q } }
	retryAfter := func(d time.Duration) func(*matchingv1.TaskSpec) {
		return func(s *matchingv1.TaskSpec) {
			s.RetryPolicy = &matchingv1.RetryPolicy{InitialInterval: durationpb.New(d)}
		}
	}
	add(t, v.e, tspec("retry", inQueue("retry"), retryAfter(time.Second)),
		tspec("release", inQueue("release")),
		tspec("cancel", inQueue("cancel")),
		tspec("cancel-waiting", inQueue("cancel-waiting"), retryAfter(time.Hour)),
		tspec("s2s", inQueue("s2s"), func(s *matchingv1.TaskSpec) { s.ScheduleToStartTimeout = durationpb.New(5 * time.Second) }),
		tspec("pinned", inQueue("pinned"), func(s *matchingv1.TaskSpec) {
			s.Requires = []*matchingv1.Capability{{Name: "taskroute.dev/host", Value: "gone"}}
		}))
	var backlog []*matchingv1.TaskSpec
	for _, id := range []string{"b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9"} {
		backlog = append(backlog, tspec(id, inQueue("backlog")))
	}
	add(t, v.e, backlog...)

	clk.Advance(11 * time.Second) // past the schedule-to-start timeout and the liveness timeout
	v.e.FailLostTargets()
	for id, want := range map[string]matchingv1.TaskState{"s2s": matchingv1.TaskState_TASK_STATE_TIMED_OUT, "pinned": matchingv1.TaskState_TASK_STATE_FAILED} {
		if got := finalState(t, v.e, id); got != want {
			t.Fatalf("task %s ended %v, want %v", id, got, want)
		}
	}
	failOnce(t, v.e, "retry")
	failOnce(t, v.e, "cancel-waiting")
	released := pollOne(t, v.e, "release")
	if err := v.e.Release("ns", "release", released.LeaseId); err != nil {
		t.Fatal(err)
	}
	completeOne(t, v.e, "release")
	if _, err := v.e.Cancel("ns", "cancel", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.Cancel("ns", "cancel-waiting", "test"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		completeOne(t, v.e, "backlog")
	}
	leased := pollOne(t, v.e, "backlog") // its start-to-close timer is stored

	v.close() // the retry's timer and the backlog wait on disk
	v = open(t, dir, opts)
	if err := v.e.Complete("ns", leased.TaskId, leased.LeaseId, nil); err != nil {
		t.Fatalf("complete after the restart: %v", err)
	}
	for range 6 {
		completeOne(t, v.e, "backlog")
	}
	clk.Advance(2 * time.Second) // past the retry's backoff
	completeOne(t, v.e, "retry")
	clk.Advance(25 * time.Hour) // past the retention
	if n, err := v.e.SweepExpired(100); err != nil || n != 16 {
		t.Fatalf("swept %d tasks (%v), want all 16", n, err)
	}

	checker := v.e.store.(*indexCheckStore)
	if n := checker.checked.Load(); n < 40 {
		t.Fatalf("%d index puts and deletes checked after the restart, want at least 40", n)
	}
	t.Logf("%d index puts and deletes checked after the restart", checker.checked.Load())
	assertIndexesEmpty(t, v.e.store)
}

// pollOne polls queue q for one task.
func pollOne(t *testing.T, e *Engine, q string) *matchingv1.Task {
	t.Helper()
	got := pollN(t, e, q, 1, 5*time.Second)
	if len(got) != 1 {
		t.Fatalf("poll of %s got %d tasks, want 1", q, len(got))
	}
	return got[0]
}

// completeOne polls queue q for one task and completes it.
func completeOne(t *testing.T, e *Engine, q string) {
	t.Helper()
	tk := pollOne(t, e, q)
	if err := e.Complete("ns", tk.TaskId, tk.LeaseId, nil); err != nil {
		t.Fatal(err)
	}
}

// failOnce polls the task id (alone in its queue) and fails its attempt retryably.
func failOnce(t *testing.T, e *Engine, id string) {
	t.Helper()
	tk := pollOne(t, e, id)
	r, err := e.Fail("ns", tk.TaskId, tk.LeaseId, &matchingv1.Failure{Message: "boom", ErrorType: "Transient"})
	if err != nil || r.State != matchingv1.TaskState_TASK_STATE_SCHEDULED {
		t.Fatalf("fail of %s = %v, %v; want a retry", id, r, err)
	}
}

// finalState waits (notified, bounded) until task id is finished and returns its state.
func finalState(t *testing.T, e *Engine, id string) matchingv1.TaskState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := e.Get(ctx, "ns", id, time.Minute)
	if err != nil {
		t.Fatalf("waiting for %s to finish: %v", id, err)
	}
	return info.State
}

// assertIndexesEmpty fails the test unless the timer and expiry indexes and the backlogs
// of the test's queues hold no entry.
func assertIndexesEmpty(t *testing.T, st storage.Store) {
	t.Helper()
	count := func(storage.TimerEntry) bool { t.Errorf("index entry left"); return true }
	if err := st.ScanTimers(time.Time{}, 100, count); err != nil {
		t.Fatal(err)
	}
	if err := st.ScanExpiries(time.Unix(0, 1<<62), 100, count); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"retry", "release", "cancel", "cancel-waiting", "s2s", "pinned", "backlog"} {
		if err := st.BacklogPartitions(storage.QueueRef{Namespace: "ns", Queue: q}, func(p string) bool {
			t.Errorf("queue %s: backlog partition %q left", q, p)
			return true
		}); err != nil {
			t.Fatal(err)
		}
		for prio := uint8(1); prio <= maxLevels; prio++ {
			if n, _, err := st.CountBacklog(storage.QueueRef{Namespace: "ns", Queue: q}, kindActivity, prio); err != nil || n != 0 {
				t.Errorf("queue %s priority %d: %d backlog entries left (%v)", q, prio, n, err)
			}
		}
	}
}
