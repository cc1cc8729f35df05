package server_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/auth"
	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/matching/server"
	"github.com/taskroute/taskroute/internal/storage/pebblestore"
)

// fakeAuth injects the Caller named by the "x-test-user" header (the real TokenReview path
// is tested in internal/auth); no header means auth disabled.
func fakeAuth(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if u := md.Get("x-test-user"); len(u) == 1 {
		ns, name, _ := strings.Cut(u[0], ":")
		ctx = auth.WithCaller(ctx, &auth.Caller{Username: "system:serviceaccount:" + ns + ":" + name,
			ServiceAccountNamespace: ns, ServiceAccountName: name, PodName: md.Get("x-test-pod")[0]})
	}
	return h(ctx, req)
}

// authServer runs the real engine on Pebble in dir behind real gRPC on loopback with the
// fake caller interceptor; stop closes everything (the directory can be reopened).
func authServer(t *testing.T, dir string, q matching.Quotas) (matchingv1.MatchingServiceClient, *matching.Engine, func()) {
	t.Helper()
	st, err := pebblestore.Open(dir, pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := matching.New(st, matching.Options{Quotas: q})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.UnaryInterceptor(fakeAuth))
	server.New(e, server.Limits{}).Register(g)
	go func() { _ = g.Serve(lis) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			e.Close()
			g.Stop()
			st.Close()
		})
	}
	t.Cleanup(stop)
	return dial(t, lis.Addr().String()), e, stop
}

func as(ctx context.Context, sa, pod string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "x-test-user", sa, "x-test-pod", pod)
}

func ownerCalls(c matchingv1.MatchingServiceClient, ctx context.Context, tk *matchingv1.Task) map[string]func() error {
	ns, id, lease, w := tk.Namespace, tk.TaskId, tk.LeaseId, "w1"
	return map[string]func() error{
		"Complete": func() error {
			_, err := c.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: ns, TaskId: id, LeaseId: lease, WorkerIdentity: w})
			return err
		},
		"CompleteTasks": func() error {
			r, err := c.CompleteTasks(ctx, &matchingv1.CompleteTasksRequest{Completions: []*matchingv1.CompleteTaskRequest{{Namespace: ns, TaskId: id, LeaseId: lease, WorkerIdentity: w}}})
			if err == nil && r.Errors[0] != nil {
				err = status.Error(codes.Code(r.Errors[0].Code), r.Errors[0].Message)
			}
			return err
		},
		"Fail": func() error {
			_, err := c.FailTask(ctx, &matchingv1.FailTaskRequest{Namespace: ns, TaskId: id, LeaseId: lease, WorkerIdentity: w, Failure: &matchingv1.Failure{Message: "x"}})
			return err
		},
		"Heartbeat": func() error {
			_, err := c.HeartbeatTask(ctx, &matchingv1.HeartbeatTaskRequest{Namespace: ns, TaskId: id, LeaseId: lease, WorkerIdentity: w})
			return err
		},
		"ReportCanceled": func() error {
			_, err := c.ReportTaskCanceled(ctx, &matchingv1.ReportTaskCanceledRequest{Namespace: ns, TaskId: id, LeaseId: lease, WorkerIdentity: w})
			return err
		},
		"Release": func() error {
			_, err := c.ReleaseTask(ctx, &matchingv1.ReleaseTaskRequest{Namespace: ns, TaskId: id, LeaseId: lease, WorkerIdentity: w})
			return err
		},
	}
}

func TestLeaseOwnershipOverGRPC(t *testing.T) {
	dir := t.TempDir()
	c, _, stop := authServer(t, dir, matching.Quotas{})
	ctx := ctxT(t, 20*time.Second)
	owner, thief := as(ctx, "team-a:worker", "pod-1"), as(ctx, "team-a:worker", "pod-2")
	calls := []string{"Complete", "CompleteTasks", "Fail", "Heartbeat", "ReportCanceled", "Release"}
	for _, id := range calls {
		if _, err := c.AddTask(owner, &matchingv1.AddTaskRequest{Task: spec(id)}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := c.PollTasks(owner, &matchingv1.PollTasksRequest{Namespace: "default", Queue: "q1", WorkerIdentity: "w1", MaxTasks: 10})
	if err != nil || len(resp.Tasks) != len(calls) {
		t.Fatalf("poll: %d tasks, %v", len(resp.GetTasks()), err)
	}
	stop() // the owner must still be enforced after a restart
	c, _, _ = authServer(t, dir, matching.Quotas{})
	for _, tk := range resp.Tasks {
		if tk.TaskId == "ReportCanceled" {
			if _, err := c.CancelTask(owner, &matchingv1.CancelTaskRequest{Namespace: "default", TaskId: tk.TaskId}); err != nil {
				t.Fatal(err)
			}
		}
		err := ownerCalls(c, thief, tk)[tk.TaskId]()
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), fmt.Sprintf("task %q is leased to another worker", tk.TaskId)) {
			t.Errorf("%s by another pod of the same ServiceAccount: %v, want PermissionDenied", tk.TaskId, err)
		}
		if err := ownerCalls(c, owner, tk)[tk.TaskId](); err != nil {
			t.Errorf("%s by the owner: %v", tk.TaskId, err)
		}
	}
}

func TestQuotaErrorsOverGRPC(t *testing.T) {
	c, _, _ := authServer(t, t.TempDir(), matching.Quotas{Default: matching.Quota{MaxBacklog: 2, MaxPayloadBytes: 16, MaxQueues: 5}})
	ctx := ctxT(t, 10*time.Second)
	batch := []*matchingv1.TaskSpec{spec("a"), spec("b"), spec("c")}
	_, err := c.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: batch})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), `namespace "default" is at its backlog quota of 2 tasks`) {
		t.Fatalf("batch over backlog: %v", err)
	}
	big := spec("big")
	big.Payload = make([]byte, 17)
	_, err = c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: big})
	if want := `namespace "default" is over its payload quota of 16 bytes: the task's payload has 17 bytes (--quota-max-payload-bytes)`; status.Code(err) != codes.ResourceExhausted || status.Convert(err).Message() != want {
		t.Fatalf("payload of a single add: %v, want ResourceExhausted %q", err, want)
	}
	_, err = c.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{spec("small"), big}})
	if want := "payload quota of 16 bytes: tasks[1].payload has 17 bytes"; status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), want) {
		t.Fatalf("payload in a batch: %v, want ResourceExhausted naming %q", err, want)
	}
	if _, err := c.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: batch[:2]}); err != nil {
		t.Fatal(err)
	}
	other := spec("a")
	other.Namespace = "team-b"
	if _, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: other}); err != nil {
		t.Fatalf("another namespace: %v", err)
	}
}

// TestQuotaIsolation: namespace A floods adds far over its quotas while B's sync-match
// dispatch latency (add -> task in a waiting poller's hands) stays within 2x of B's
// unloaded latency measured in the same run.
func TestQuotaIsolation(t *testing.T) {
	if testing.Short() {
		t.Skip("latency measurement")
	}
	c, e, _ := authServer(t, t.TempDir(), matching.Quotas{Default: matching.Quota{MaxBacklog: 500, AddRate: 2000, AddBurst: 1000}})
	ctx := ctxT(t, 2*time.Minute)

	// measure returns B's sync-match latencies: add -> task in a waiting poller's hands.
	// Each sample's poll has its own worker identity, so that the engine listing it says
	// the poll reached the engine: the add starts only then, however late the poll
	// arrives on a loaded machine, and the latency is that of a match, not of the poll's
	// way to the server.
	measure := func(round string, samples int) []time.Duration {
		lat := make([]time.Duration, 0, samples)
		for i := range samples {
			id := fmt.Sprintf("%s-%d", round, i)
			got := make(chan time.Time, 1)
			go func() {
				r, err := c.PollTasks(ctx, &matchingv1.PollTasksRequest{Namespace: "team-b", Queue: "q", WorkerIdentity: "wb-" + id, MaxTasks: 1})
				if err == nil && len(r.Tasks) == 1 {
					got <- time.Now()
					_, _ = c.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: "team-b", TaskId: r.Tasks[0].TaskId, LeaseId: r.Tasks[0].LeaseId})
					return
				}
				got <- time.Time{}
			}()
			waitPoller(t, e, "team-b", "q", "wb-"+id)
			start := time.Now()
			if _, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{Namespace: "team-b", Queue: "q", TaskId: id, TaskType: "t"}}); err != nil {
				t.Fatalf("B add: %v", err)
			}
			at := <-got
			if at.IsZero() {
				t.Fatalf("B poll got no task")
			}
			lat = append(lat, at.Sub(start))
		}
		return lat
	}

	// whileFlooding runs fn while namespace A floods adds from 3 goroutines, from the
	// moment A is refused (at its quota) on.
	var refused, accepted atomic.Int64
	whileFlooding := func(round int, fn func()) {
		stopFlood := make(chan struct{})
		atQuota := make(chan struct{})
		var quotaReached sync.Once
		var wg sync.WaitGroup
		for g := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deadline := time.Now().Add(time.Minute) // bounded even if the measurement hangs
				for i := 0; time.Now().Before(deadline); i++ {
					select {
					case <-stopFlood:
						return
					default:
					}
					tasks := make([]*matchingv1.TaskSpec, 20)
					for j := range tasks {
						tasks[j] = &matchingv1.TaskSpec{Namespace: "team-a", Queue: fmt.Sprintf("q%d", j%4), TaskId: fmt.Sprintf("%d-%d-%d-%d", round, g, i, j), TaskType: "t"}
					}
					_, err := c.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: tasks})
					switch status.Code(err) {
					case codes.OK:
						accepted.Add(1)
					case codes.ResourceExhausted:
						refused.Add(1)
						quotaReached.Do(func() { close(atQuota) })
					default:
						t.Errorf("A add: %v", err)
						return
					}
				}
			}()
		}
		select {
		case <-atQuota:
		case <-ctx.Done():
			t.Fatalf("A was never refused")
		}
		fn()
		close(stopFlood)
		wg.Wait()
	}

	// Unloaded and flooded rounds alternate, so load from outside the test (other
	// packages share these 2 cores in CI) falls on both sides alike; each side pools its
	// rounds before taking percentiles. Rounds are short, so a burst of outside load
	// spans both sides rather than one: a flood starts at A's first refusal (its backlog
	// stays at its quota between rounds), not after a guessed delay.
	const rounds, samples = 12, 50
	measure("warm", samples)
	var unloaded, loaded []time.Duration
	for r := range rounds {
		unloaded = append(unloaded, measure(fmt.Sprintf("unloaded%d", r), samples)...)
		whileFlooding(r, func() { loaded = append(loaded, measure(fmt.Sprintf("loaded%d", r), samples)...) })
	}
	percentiles := func(lat []time.Duration) (p50, p99 time.Duration) {
		slices.Sort(lat)
		return lat[len(lat)/2], lat[len(lat)*99/100]
	}
	u50, u99 := percentiles(unloaded)
	l50, l99 := percentiles(loaded)

	t.Logf("B sync-match latency unloaded p50=%v p99=%v; while A floods p50=%v p99=%v; A batches accepted=%d refused=%d",
		u50, u99, l50, l99, accepted.Load(), refused.Load())
	if refused.Load() == 0 {
		t.Fatalf("A was never refused")
	}
	// Below these floors a difference is scheduler jitter on 2 cores, not interference: the
	// p99 floor is the service's own p99 sync-match target (1 ms, docs/benchmarks.md).
	// hack/test.sh runs this test alone, after the parallel suites, for the same reason.
	floor50 := func(d time.Duration) time.Duration { return max(d, 500*time.Microsecond) }
	floor99 := func(d time.Duration) time.Duration { return max(d, time.Millisecond) }
	if l50 > 2*floor50(u50) || l99 > 2*floor99(u99) {
		t.Fatalf("B's latency under A's flood exceeds 2x unloaded: p50 %v vs %v, p99 %v vs %v", l50, u50, l99, u99)
	}
}

// waitPoller waits (bounded) until the engine lists identity among the pollers of queue:
// its poll has reached the engine.
func waitPoller(t *testing.T, e *matching.Engine, ns, queue, identity string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, p := range e.Describe(ns, queue).GetPollers() {
			if p.GetIdentity() == identity {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("poller %s of %s/%s never reached the engine", identity, ns, queue)
		}
		time.Sleep(50 * time.Microsecond)
	}
}
