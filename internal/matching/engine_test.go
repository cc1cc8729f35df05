package matching

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/storage"
	"github.com/taskroute/taskroute/internal/storage/pebblestore"
)

type env struct {
	dir   string
	store *pebblestore.Store
	e     *Engine
}

// open starts an engine on the store in dir, checking every commit's index operations
// (indexCheckStore).
func open(t testing.TB, dir string, opts Options) *env {
	t.Helper()
	return openStore(t, dir, opts, func(st storage.Store) storage.Store { return newIndexCheckStore(t, st) })
}

// openUnchecked is open without the index check, for measurements.
func openUnchecked(t testing.TB, dir string, opts Options) *env {
	t.Helper()
	return openStore(t, dir, opts, func(st storage.Store) storage.Store { return st })
}

func openStore(t testing.TB, dir string, opts Options, wrap func(storage.Store) storage.Store) *env {
	t.Helper()
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(wrap(st), opts)
	if err != nil {
		t.Fatal(err)
	}
	v := &env{dir: dir, store: st, e: e}
	t.Cleanup(v.close)
	return v
}

func (v *env) close() {
	if v.e != nil {
		v.e.Close()
		v.store.Close()
		v.e = nil
	}
}

func add(t testing.TB, e *Engine, specs ...*matchingv1.TaskSpec) []*matchingv1.AddTaskResponse {
	t.Helper()
	res, err := e.AddTasks(context.Background(), specs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func tspec(id string, mods ...func(*matchingv1.TaskSpec)) *matchingv1.TaskSpec {
	s := &matchingv1.TaskSpec{Namespace: "ns", Queue: "q", TaskId: id, TaskType: "t", Payload: []byte(id)}
	for _, m := range mods {
		m(s)
	}
	return s
}

func pollN(t testing.TB, e *Engine, queue string, max int32, wait time.Duration, mods ...func(*matchingv1.PollTasksRequest)) []*matchingv1.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	r := &matchingv1.PollTasksRequest{Namespace: "ns", Queue: queue, WorkerIdentity: "w", MaxTasks: max}
	for _, m := range mods {
		m(r)
	}
	tasks, err := e.Poll(ctx, r)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return tasks
}

// drain polls until n tasks arrived or a poll comes back empty.
func drain(t testing.TB, e *Engine, queue string, n int) []*matchingv1.Task {
	var all []*matchingv1.Task
	for len(all) < n {
		got := pollN(t, e, queue, 100, 3*time.Second)
		if len(got) == 0 {
			break
		}
		all = append(all, got...)
	}
	return all
}

// copyDir copies a live Pebble directory: what a crashed process leaves behind.
func copyDir(t testing.TB, src string) string {
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestRestartRecoversBacklogLeasesAndRetries(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			opts := Options{BufferSize: 64}
			v := open(t, t.TempDir(), opts)
			const n = 500
			specs := make([]*matchingv1.TaskSpec, n)
			for i := range specs {
				specs[i] = tspec(fmt.Sprintf("t%04d", i), func(s *matchingv1.TaskSpec) {
					s.RetryPolicy = &matchingv1.RetryPolicy{InitialInterval: durationpb.New(time.Second)}
				})
			}
			add(t, v.e, specs...)
			running := pollN(t, v.e, "q", 1, time.Second)
			failing := pollN(t, v.e, "q", 1, time.Second)
			if len(running) != 1 || len(failing) != 1 {
				t.Fatal("poll did not return backlog tasks")
			}
			fr, err := v.e.Fail("ns", failing[0].TaskId, failing[0].LeaseId, &matchingv1.Failure{Message: "boom", ErrorType: "Transient"})
			if err != nil || fr.State != matchingv1.TaskState_TASK_STATE_SCHEDULED {
				t.Fatalf("fail = %v, %v", fr, err)
			}
			dir := v.dir
			if crash {
				dir = copyDir(t, v.dir) // the live engine keeps running; the copy is a crash image
			} else {
				v.close()
			}
			w := open(t, dir, opts)
			start := time.Now()
			// The running attempt kept its lease.
			if err := w.e.Complete("ns", running[0].TaskId, running[0].LeaseId, []byte("ok")); err != nil {
				t.Fatalf("complete after restart: %v", err)
			}
			got := drain(t, w.e, "q", n-2)
			t.Logf("restart: %d backlog tasks dispatched %s after reopen", len(got), time.Since(start))
			seen := map[string]bool{running[0].TaskId: true, failing[0].TaskId: true}
			for _, tk := range got {
				if seen[tk.TaskId] {
					t.Fatalf("task %s dispatched twice", tk.TaskId)
				}
				seen[tk.TaskId] = true
			}
			if len(got) != n-2 {
				t.Fatalf("dispatched %d backlog tasks after restart, want %d", len(got), n-2)
			}
			// The pending retry fires (1s backoff) and carries the failure.
			retry := pollN(t, w.e, "q", 1, 5*time.Second)
			if len(retry) != 1 || retry[0].TaskId != failing[0].TaskId || retry[0].Attempt != 2 || retry[0].LastFailure.GetErrorType() != "Transient" {
				t.Fatalf("retry after restart = %v", retry)
			}
		})
	}
}

func TestHeartbeatTimeoutRedispatchesWithDetails(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	add(t, v.e, tspec("hb", func(s *matchingv1.TaskSpec) {
		s.HeartbeatTimeout = durationpb.New(300 * time.Millisecond)
		s.RetryPolicy = &matchingv1.RetryPolicy{InitialInterval: durationpb.New(10 * time.Millisecond)}
	}))
	first := pollN(t, v.e, "q", 1, time.Second)
	if len(first) != 1 {
		t.Fatal("no task")
	}
	if _, err := v.e.Heartbeat("ns", "hb", first[0].LeaseId, []byte("step-7")); err != nil {
		t.Fatal(err)
	}
	// The worker dies: no more heartbeats. The task comes back with the details.
	second := pollN(t, v.e, "q", 1, 3*time.Second)
	if len(second) != 1 || second[0].Attempt != 2 || string(second[0].HeartbeatDetails) != "step-7" ||
		second[0].LastFailure.GetErrorType() != ErrorTypeHeartbeatTimeout {
		t.Fatalf("re-dispatch = %v", second)
	}
	err := v.e.Complete("ns", "hb", first[0].LeaseId, nil)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("stale lease complete: %v", err)
	}
	if err := v.e.Complete("ns", "hb", second[0].LeaseId, nil); err != nil {
		t.Fatal(err)
	}
}

func TestStartToCloseTimeoutExhaustsAttempts(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	add(t, v.e, tspec("s2c", func(s *matchingv1.TaskSpec) {
		s.StartToCloseTimeout = durationpb.New(200 * time.Millisecond)
		s.RetryPolicy = &matchingv1.RetryPolicy{InitialInterval: durationpb.New(time.Millisecond), MaximumAttempts: 2}
	}))
	for attempt := int32(1); attempt <= 2; attempt++ {
		got := pollN(t, v.e, "q", 1, 3*time.Second)
		if len(got) != 1 || got[0].Attempt != attempt {
			t.Fatalf("attempt %d: %v", attempt, got)
		}
	}
	info, err := v.e.Get(context.Background(), "ns", "s2c", 3*time.Second)
	if err != nil || info.State != matchingv1.TaskState_TASK_STATE_TIMED_OUT || info.Failure.GetErrorType() != ErrorTypeStartToCloseTimeout {
		t.Fatalf("final = %v, %v", info, err)
	}
}

func TestScheduleToStartTimesOut(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	add(t, v.e, tspec("late", func(s *matchingv1.TaskSpec) { s.ScheduleToStartTimeout = durationpb.New(200 * time.Millisecond) }))
	info, err := v.e.Get(context.Background(), "ns", "late", 3*time.Second)
	if err != nil || info.State != matchingv1.TaskState_TASK_STATE_TIMED_OUT || info.Failure.GetErrorType() != ErrorTypeScheduleToStartTimeout {
		t.Fatalf("state = %v, %v", info, err)
	}
	if got := pollN(t, v.e, "q", 1, 500*time.Millisecond); len(got) != 0 {
		t.Fatalf("timed-out task dispatched: %v", got)
	}
	if d := v.e.Describe("ns", "q"); len(d.Backlog) != 0 {
		t.Fatalf("backlog after timeout = %v", d.Backlog)
	}
}

func TestRetryPolicyAndNonRetryable(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	add(t, v.e, tspec("nr", func(s *matchingv1.TaskSpec) {
		s.RetryPolicy = &matchingv1.RetryPolicy{InitialInterval: durationpb.New(100 * time.Millisecond), BackoffCoefficient: 2, NonRetryableErrorTypes: []string{"Fatal"}}
	}))
	got := pollN(t, v.e, "q", 1, time.Second)
	start := time.Now()
	fr, err := v.e.Fail("ns", "nr", got[0].LeaseId, &matchingv1.Failure{ErrorType: "Transient"})
	if err != nil || fr.State != matchingv1.TaskState_TASK_STATE_SCHEDULED {
		t.Fatalf("fail 1 = %v %v", fr, err)
	}
	got = pollN(t, v.e, "q", 1, 2*time.Second)
	if len(got) != 1 || time.Since(start) < 90*time.Millisecond {
		t.Fatalf("retry came after %s: %v", time.Since(start), got)
	}
	start = time.Now()
	if _, err := v.e.Fail("ns", "nr", got[0].LeaseId, &matchingv1.Failure{ErrorType: "Transient"}); err != nil {
		t.Fatal(err)
	}
	got = pollN(t, v.e, "q", 1, 2*time.Second)
	if len(got) != 1 || time.Since(start) < 190*time.Millisecond || got[0].Attempt != 3 {
		t.Fatalf("second retry came after %s (want >= 200ms backoff): %v", time.Since(start), got)
	}
	fr, err = v.e.Fail("ns", "nr", got[0].LeaseId, &matchingv1.Failure{ErrorType: "Fatal", Message: "no"})
	if err != nil || fr.State != matchingv1.TaskState_TASK_STATE_FAILED {
		t.Fatalf("non-retryable fail = %v %v", fr, err)
	}
}

func TestPrioritiesAndAntiStarvation(t *testing.T) {
	v := open(t, t.TempDir(), Options{StarvationInterval: 10})
	var specs []*matchingv1.TaskSpec
	for i := 0; i < 50; i++ {
		specs = append(specs, tspec(fmt.Sprintf("low%d", i), func(s *matchingv1.TaskSpec) { s.Priority = 1 }))
	}
	for i := 0; i < 50; i++ {
		specs = append(specs, tspec(fmt.Sprintf("high%d", i), func(s *matchingv1.TaskSpec) { s.Priority = 5 }))
	}
	add(t, v.e, specs...)
	var prios []int32
	for i := 0; i < 30; i++ {
		got := pollN(t, v.e, "q", 1, time.Second)
		if len(got) != 1 {
			t.Fatal("poll empty")
		}
		prios = append(prios, got[0].Priority)
	}
	low := 0
	for i, p := range prios {
		if p == 1 {
			low++
			if (i+1)%10 != 0 {
				t.Errorf("dispatch %d took priority 1 outside the anti-starvation slot: %v", i+1, prios)
			}
		}
	}
	if low != 3 {
		t.Fatalf("low-priority dispatches in 30 = %d, want 3 (every 10th): %v", low, prios)
	}
	// A poller serving only priority 1 gets only those.
	got := pollN(t, v.e, "q", 10, time.Second, func(r *matchingv1.PollTasksRequest) { r.Priorities = []int32{1} })
	for _, tk := range got {
		if tk.Priority != 1 {
			t.Fatalf("priority filter ignored: %v", tk)
		}
	}
}

func TestGlobalRateLimitHolds(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	cfg := queueconfig.Default()
	cfg.RateLimit, cfg.Burst = 50, 5
	if err := v.e.Apply(context.Background(), queueconfig.Key{Namespace: "ns", Name: "q"}, cfg); err != nil {
		t.Fatal(err)
	}
	var specs []*matchingv1.TaskSpec
	for i := 0; i < 400; i++ {
		specs = append(specs, tspec(fmt.Sprintf("r%d", i)))
	}
	add(t, v.e, specs...)
	const run = 2 * time.Second
	start := time.Now()
	deadline := start.Add(run)
	var mu sync.Mutex
	count := 0
	var wg sync.WaitGroup
	for w := 0; w < 10; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				got, _ := v.e.Poll(ctx, &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: fmt.Sprint("w", w), MaxTasks: 10})
				cancel()
				mu.Lock()
				count += len(got)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	// The bound is the burst plus the rate over the time polls ran: a poll's deadline can
	// fire a little late on a loaded machine, and what it delivers until then counts.
	elapsed := time.Since(start)
	limit := int(50*elapsed.Seconds()) + 5
	t.Logf("dispatched %d in %s with rate 50/s burst 5 (limit %d)", count, elapsed, limit)
	if count > limit || count < limit*7/10 {
		t.Fatalf("dispatched %d, want about %d and never more", count, limit)
	}
	if d := v.e.Describe("ns", "q"); d.RateLimit.State != matchingv1.RateLimitState_RATE_LIMIT_STATE_THROTTLING {
		t.Fatalf("rate limit state = %v, want throttling", d.RateLimit)
	}
}

func TestPerWorkerRateHolds(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	var specs []*matchingv1.TaskSpec
	for i := 0; i < 300; i++ {
		specs = append(specs, tspec(fmt.Sprintf("r%d", i)))
	}
	add(t, v.e, specs...)
	const run = 1500 * time.Millisecond
	deadline := time.Now().Add(run)
	count := 0
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		got, _ := v.e.Poll(ctx, &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: "greedy", MaxTasks: 100, TasksPerSecond: 20})
		cancel()
		count += len(got)
	}
	limit := int(20*run.Seconds()) + 2
	t.Logf("worker declared 20/s polled for %s and got %d (limit %d)", run, count, limit)
	if count > limit || count < 20 {
		t.Fatalf("worker got %d tasks, want <= %d", count, limit)
	}
}

func TestCancelAndIdempotentAdd(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	res := add(t, v.e, tspec("c1"), tspec("c2"), tspec("c1"))
	if !res[0].Created || !res[1].Created || res[2].Created {
		t.Fatalf("created = %v", res)
	}
	st, err := v.e.Cancel("ns", "c1", "user")
	if err != nil || st != matchingv1.TaskState_TASK_STATE_CANCELED {
		t.Fatalf("cancel scheduled = %v %v", st, err)
	}
	got := pollN(t, v.e, "q", 10, time.Second)
	if len(got) != 1 || got[0].TaskId != "c2" {
		t.Fatalf("poll after cancel = %v", got)
	}
	st, err = v.e.Cancel("ns", "c2", "user")
	if err != nil || st != matchingv1.TaskState_TASK_STATE_STARTED {
		t.Fatalf("cancel started = %v %v", st, err)
	}
	cancelReq, err := v.e.Heartbeat("ns", "c2", got[0].LeaseId, nil)
	if err != nil || !cancelReq {
		t.Fatalf("heartbeat = %v %v, want cancel requested", cancelReq, err)
	}
	if err := v.e.ReportCanceled("ns", "c2", got[0].LeaseId, nil); err != nil {
		t.Fatal(err)
	}
	if res := add(t, v.e, tspec("c2")); res[0].Created {
		t.Fatal("re-adding a finished task created it again")
	}
	if _, err := v.e.Cancel("ns", "nope", ""); status.Code(err) != codes.NotFound {
		t.Fatalf("cancel unknown = %v", err)
	}
}

func TestRetentionSweeperDeletesExpired(t *testing.T) {
	clk := clock.NewFake(time.Now())
	v := open(t, t.TempDir(), Options{SweepInterval: time.Hour, Clock: clk})
	cfg := queueconfig.Default()
	cfg.Retention = time.Millisecond
	if err := v.e.Apply(context.Background(), queueconfig.Key{Namespace: "ns", Name: "q"}, cfg); err != nil {
		t.Fatal(err)
	}
	add(t, v.e, tspec("old"))
	got := pollN(t, v.e, "q", 1, time.Second)
	if err := v.e.Complete("ns", "old", got[0].LeaseId, nil); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Millisecond) // past the retention; not the sweep interval
	n, err := v.e.SweepExpired(10)
	if err != nil || n != 1 {
		t.Fatalf("swept %d, %v", n, err)
	}
	if _, err := v.e.Get(context.Background(), "ns", "old", 0); status.Code(err) != codes.NotFound {
		t.Fatalf("expired task still there: %v", err)
	}
}

func TestIdleQueuesUnloadAndCostLittle(t *testing.T) {
	v := open(t, t.TempDir(), Options{IdleQueueTimeout: time.Hour})
	const n = 20000
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	req := &matchingv1.PollTasksRequest{Namespace: "ns", WorkerIdentity: "w", MaxTasks: 1}
	for i := 0; i < n; i++ {
		// What a polled queue holds: its manager, the default levels of one kind, a poller.
		req.Queue = fmt.Sprintf("queue-%d", i)
		pr := newPollRequest(req, Owner{Identity: req.WorkerIdentity})
		if got, _, _ := v.e.queue("ns", req.Queue).claim(pr, v.e.now().UnixNano(), nil); len(got) != 0 {
			t.Fatalf("claimed %d tasks from an empty queue", len(got))
		}
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	if per <= 0 {
		t.Fatalf("heap did not grow (%d -> %d): measurement disturbed", before.HeapAlloc, after.HeapAlloc)
	}
	t.Logf("%d loaded idle queues: %.0f bytes each, %d goroutines (was %d)", n, per, runtime.NumGoroutine(), goroutines)
	if per > 2048 {
		t.Errorf("idle loaded queue costs %.0f bytes, want < 2048", per)
	}
	if g := runtime.NumGoroutine(); g > goroutines+10 {
		t.Errorf("goroutines grew from %d to %d for idle queues", goroutines, g)
	}
	if left := v.e.unloadIdle(v.e.now().Add(2 * time.Hour).UnixNano()); left != 0 {
		t.Errorf("%d queues still loaded after unload", left)
	}
}

// TestIdempotentAddFindsIdsOnDiskOnly: after a restart nothing is in memory, so a repeated
// caller id is found only by the storage check; ids the service generates skip that check
// and must still be unique.
func TestIdempotentAddFindsIdsOnDiskOnly(t *testing.T) {
	dir := t.TempDir()
	v := open(t, dir, Options{})
	add(t, v.e, tspec("waiting"), tspec("done"))
	got := pollN(t, v.e, "q", 2, time.Second)
	for _, tk := range got {
		if tk.TaskId == "done" {
			if err := v.e.Complete("ns", "done", tk.LeaseId, nil); err != nil {
				t.Fatal(err)
			}
		} else if err := v.e.Release("ns", tk.TaskId, tk.LeaseId); err != nil {
			t.Fatal(err)
		}
	}
	v.close()

	w := open(t, dir, Options{})
	res := add(t, w.e, tspec(""), tspec("waiting"), tspec("new"), tspec("done"), tspec(""), tspec("new"))
	want := []bool{true, false, true, false, true, false}
	for i, r := range res {
		if r.Created != want[i] {
			t.Fatalf("result %d (%s): created = %v, want %v", i, r.TaskId, r.Created, want[i])
		}
	}
	if res[0].TaskId == "" || res[0].TaskId == res[4].TaskId {
		t.Fatalf("generated ids %q, %q", res[0].TaskId, res[4].TaskId)
	}
	info, err := w.e.Get(context.Background(), "ns", "done", 0)
	if err != nil || info.State != matchingv1.TaskState_TASK_STATE_COMPLETED {
		t.Fatalf("re-added finished task = %v, %v", info, err)
	}
	// Exactly the backlog task from before the restart and the three new ones run.
	all := drain(t, w.e, "q", 5)
	if len(all) != 4 {
		t.Fatalf("dispatched %d tasks, want 4: %v", len(all), all)
	}
}

// TestNoBacklogStrandedByPageLoadBeforeCommit is the regression test for tasks left on
// disk: a disk-only backlog add whose write was still in flight when a page load scanned
// the level was invisible to that scan, which then marked the level as fully in memory,
// so the task waited on disk until the queue was touched again after an unload. Small
// buffers and concurrent adders and pollers make page loads overlap writes constantly.
func TestNoBacklogStrandedByPageLoadBeforeCommit(t *testing.T) {
	v := open(t, t.TempDir(), Options{BufferSize: 4})
	const adders, batches, perBatch = 8, 40, 5
	const total = adders * batches * perBatch
	var wg sync.WaitGroup
	for a := 0; a < adders; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				specs := make([]*matchingv1.TaskSpec, perBatch)
				for i := range specs {
					specs[i] = tspec(fmt.Sprintf("a%d-b%d-%d", a, b, i))
				}
				if _, err := v.e.AddTasks(context.Background(), specs); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	seen := make(map[string]bool, total)
	var mu sync.Mutex
	deadline := time.Now().Add(20 * time.Second)
	var pollers sync.WaitGroup
	for p := 0; p < 4; p++ {
		pollers.Add(1)
		go func() {
			defer pollers.Done()
			for time.Now().Before(deadline) {
				mu.Lock()
				done := len(seen) == total
				mu.Unlock()
				if done {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				got, err := v.e.Poll(ctx, &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: "w", MaxTasks: 3})
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, tk := range got {
					if seen[tk.TaskId] {
						t.Errorf("task %s dispatched twice", tk.TaskId)
					}
					seen[tk.TaskId] = true
				}
				mu.Unlock()
				for _, tk := range got {
					if err := v.e.Complete("ns", tk.TaskId, tk.LeaseId, nil); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	pollers.Wait()
	if len(seen) != total {
		t.Fatalf("dispatched %d of %d tasks: the rest are stranded on disk", len(seen), total)
	}
}
