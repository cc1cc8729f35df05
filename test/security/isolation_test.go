package security

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/auth"
	"github.com/taskroute/taskroute/internal/testutil"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: got %v (%v), want %v", what, got, err, want)
	}
}

// TestNamespaceIsolation: a worker of namespace A cannot poll, add to, describe, complete
// or heartbeat tasks of namespace B, while B's own worker can.
func TestNamespaceIsolation(t *testing.T) {
	srv := startServer(t)
	nsA, nsB := cluster.NewNamespace(t, "team-a"), cluster.NewNamespace(t, "team-b")
	newServiceAccount(t, nsA, "worker")
	newServiceAccount(t, nsB, "worker")
	a := dial(t, srv.addr, srv.caFile, requestToken(t, nsA, "worker", auth.DefaultAudience, nil))
	b := dial(t, srv.addr, srv.caFile, requestToken(t, nsB, "worker", auth.DefaultAudience, nil))
	ctx := callCtx(t)

	// B adds two tasks and leases one; A then tries every call on them.
	for _, id := range []string{"b-1", "b-2"} {
		if _, err := b.AddTask(ctx, &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{
			Namespace: nsB, Queue: "jobs", TaskId: id, TaskType: "t",
			StartToCloseTimeout: durationpb.New(time.Minute), HeartbeatTimeout: durationpb.New(time.Minute),
		}}); err != nil {
			t.Fatalf("B adding to its own namespace: %v", err)
		}
	}
	polled, err := b.PollTasks(ctx, &matchingv1.PollTasksRequest{Namespace: nsB, Queue: "jobs", WorkerIdentity: "b-worker", MaxTasks: 1})
	if err != nil || len(polled.Tasks) != 1 {
		t.Fatalf("B polling its own queue: %v, %v", polled, err)
	}
	leased := polled.Tasks[0]

	wantCode(t, "A AddTask to B", func() error {
		_, err := a.AddTask(ctx, &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{Namespace: nsB, Queue: "jobs", TaskType: "t"}})
		return err
	}(), codes.PermissionDenied)
	wantCode(t, "A AddTasks mixing A and B", func() error {
		_, err := a.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: []*matchingv1.TaskSpec{
			{Namespace: nsA, Queue: "jobs", TaskType: "t"}, {Namespace: nsB, Queue: "jobs", TaskType: "t"}}})
		return err
	}(), codes.PermissionDenied)
	wantCode(t, "A PollTasks of B", func() error {
		_, err := a.PollTasks(ctx, &matchingv1.PollTasksRequest{Namespace: nsB, Queue: "jobs", WorkerIdentity: "a-worker", MaxTasks: 1})
		return err
	}(), codes.PermissionDenied)
	wantCode(t, "A GetTask of B", func() error {
		_, err := a.GetTask(ctx, &matchingv1.GetTaskRequest{Namespace: nsB, TaskId: "b-2"})
		return err
	}(), codes.PermissionDenied)
	wantCode(t, "A DescribeQueue of B", func() error {
		_, err := a.DescribeQueue(ctx, &matchingv1.DescribeQueueRequest{Namespace: nsB, Queue: "jobs"})
		return err
	}(), codes.PermissionDenied)
	wantCode(t, "A HeartbeatTask of B's lease", func() error {
		_, err := a.HeartbeatTask(ctx, &matchingv1.HeartbeatTaskRequest{Namespace: nsB, TaskId: leased.TaskId, LeaseId: leased.LeaseId, WorkerIdentity: "b-worker"})
		return err
	}(), codes.PermissionDenied)
	wantCode(t, "A CompleteTask of B's lease", func() error {
		_, err := a.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: nsB, TaskId: leased.TaskId, LeaseId: leased.LeaseId, WorkerIdentity: "b-worker", Result: []byte("stolen")})
		return err
	}(), codes.PermissionDenied)
	wantCode(t, "A CancelTask of B", func() error {
		_, err := a.CancelTask(ctx, &matchingv1.CancelTaskRequest{Namespace: nsB, TaskId: "b-2"})
		return err
	}(), codes.PermissionDenied)

	// Nothing of B changed: the lease is B's, the other task still waits for B.
	if _, err := b.HeartbeatTask(ctx, &matchingv1.HeartbeatTaskRequest{Namespace: nsB, TaskId: leased.TaskId, LeaseId: leased.LeaseId, WorkerIdentity: "b-worker"}); err != nil {
		t.Fatalf("B heartbeating its lease: %v", err)
	}
	if _, err := b.CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: nsB, TaskId: leased.TaskId, LeaseId: leased.LeaseId, WorkerIdentity: "b-worker", Result: []byte("ok")}); err != nil {
		t.Fatalf("B completing its lease: %v", err)
	}
	got, err := b.GetTask(ctx, &matchingv1.GetTaskRequest{Namespace: nsB, TaskId: leased.TaskId})
	if err != nil || got.Task.State != matchingv1.TaskState_TASK_STATE_COMPLETED || string(got.Task.Result) != "ok" {
		t.Fatalf("B's task after A's attempts: %v, %v", got, err)
	}
	if d, err := b.DescribeQueue(ctx, &matchingv1.DescribeQueueRequest{Namespace: nsB, Queue: "jobs"}); err != nil {
		t.Fatalf("B describing its queue: %v", err)
	} else {
		t.Logf("B's queue: %v", d)
	}
	// A's own namespace works for A.
	if _, err := a.AddTask(ctx, &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{Namespace: nsA, Queue: "jobs", TaskType: "t"}}); err != nil {
		t.Fatalf("A adding to its own namespace: %v", err)
	}
}

// TestBadTokensAreUnauthenticated: no token, a forged one, one for another audience.
func TestBadTokensAreUnauthenticated(t *testing.T) {
	srv := startServer(t)
	ns := cluster.NewNamespace(t, "team")
	newServiceAccount(t, ns, "worker")
	ctx := callCtx(t)
	describe := func(c matchingv1.MatchingServiceClient) error {
		_, err := c.DescribeQueue(ctx, &matchingv1.DescribeQueueRequest{Namespace: ns, Queue: "jobs"})
		return err
	}
	good := requestToken(t, ns, "worker", auth.DefaultAudience, nil)
	if err := describe(dial(t, srv.addr, srv.caFile, good)); err != nil {
		t.Fatalf("a good token: %v", err)
	}
	wantCode(t, "no token", describe(dial(t, srv.addr, srv.caFile, "")), codes.Unauthenticated)
	// The good token with its signature replaced: same claims, not signed by the apiserver.
	forged := good[:len(good)-10] + "AAAAAAAAAA"
	wantCode(t, "forged token", describe(dial(t, srv.addr, srv.caFile, forged)), codes.Unauthenticated)
	wantCode(t, "garbage token", describe(dial(t, srv.addr, srv.caFile, "not-a-jwt")), codes.Unauthenticated)
	// A token for the kube API (or any other audience) is useless here.
	other := requestToken(t, ns, "worker", "https://kubernetes.default.svc", nil)
	wantCode(t, "wrong-audience token", describe(dial(t, srv.addr, srv.caFile, other)), codes.Unauthenticated)
}

// TestRotatedTokenKeepsWorking: the SDK (client.FromEnvironment) re-reads the token file
// the kubelet swaps (atomic symlink swap), so one client keeps working across rotations
// without a restart. A garbage token swapped in between proves the file is really re-read.
func TestRotatedTokenKeepsWorking(t *testing.T) {
	srv := startServer(t)
	ns := cluster.NewNamespace(t, "team")
	newServiceAccount(t, ns, "worker")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vol := &testutil.ProjectedVolume{Dir: t.TempDir()}
	vol.Write(t, map[string]string{"token": requestToken(t, ns, "worker", auth.DefaultAudience, nil)})

	t.Setenv(workerenv.Address, srv.addr)
	t.Setenv(workerenv.Namespace, ns)
	t.Setenv(workerenv.TokenFile, filepath.Join(vol.Dir, "token"))
	t.Setenv(workerenv.CAFile, srv.caFile)
	os.Unsetenv(workerenv.Insecure)
	c, err := client.FromEnvironment(ctx, client.WithCallTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	describe := func() error { _, err := c.DescribeQueue(ctx, "jobs"); return err }
	if err := describe(); err != nil {
		t.Fatalf("with the first token: %v", err)
	}
	// waitFor polls until describe's code is want: the SDK stats the file every 5 s.
	waitFor := func(what string, want codes.Code) {
		t.Helper()
		deadline := time.Now().Add(12 * time.Second)
		for {
			err := describe()
			if status.Code(err) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %v", what, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	vol.Write(t, map[string]string{"token": "garbage-after-a-bad-rotation"})
	waitFor("the swapped (garbage) token was not picked up", codes.Unauthenticated)
	vol.Write(t, map[string]string{"token": requestToken(t, ns, "worker", auth.DefaultAudience, nil)})
	waitFor("the rotated token was not picked up", codes.OK)
	if _, err := c.AddTask(ctx, client.Task{Queue: "jobs", Type: "t"}); err != nil {
		t.Fatalf("after rotation, with the same client: %v", err)
	}
}
