package matching

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

func pollAs(t *testing.T, e *Engine, principal, identity string, n int32) []*matchingv1.Task {
	t.Helper()
	ctx, cancel := context.WithTimeout(WithPrincipal(context.Background(), principal), 3*time.Second)
	defer cancel()
	tasks, err := e.Poll(ctx, &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: identity, MaxTasks: n})
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	if len(tasks) != int(n) {
		t.Fatalf("polled %d tasks, want %d", len(tasks), n)
	}
	return tasks
}

// leaseCalls are every call that acts on a lease, made by owner `by`.
func leaseCalls(e *Engine, tk *matchingv1.Task, by Owner) map[string]func() error {
	ns, id, lease := tk.Namespace, tk.TaskId, tk.LeaseId
	return map[string]func() error{
		"Complete": func() error { return e.CompleteAs(ns, id, lease, by, nil) },
		"CompleteMany": func() error {
			errs := e.CompleteManyAs([]*matchingv1.CompleteTaskRequest{{Namespace: ns, TaskId: id, LeaseId: lease, WorkerIdentity: by.Identity}}, by.Principal)
			if errs[0] != nil {
				return status.Error(codes.Code(errs[0].Code), errs[0].Message)
			}
			return nil
		},
		"Fail":      func() error { _, err := e.FailAs(ns, id, lease, by, &matchingv1.Failure{Message: "x"}); return err },
		"Heartbeat": func() error { _, err := e.HeartbeatAs(ns, id, lease, by, []byte("d")); return err },
		"ReportCanceled": func() error {
			return e.ReportCanceledAs(ns, id, lease, by, nil)
		},
		"Release": func() error { return e.ReleaseAs(ns, id, lease, by) },
	}
}

func wantDenied(t *testing.T, what string, err error, id string) {
	t.Helper()
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "task \""+id+"\" is leased to another worker") {
		t.Errorf("%s by another principal: got %v, want PermissionDenied naming task %s", what, err, id)
	}
}

func TestLeaseOwnerByPrincipal(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	e := v.e
	ids := []string{"Complete", "CompleteMany", "Fail", "Heartbeat", "ReportCanceled", "Release"}
	for _, id := range ids {
		add(t, e, tspec(id))
	}
	tasks := pollAs(t, e, "sa:team-a:worker/pod-1", "w1", int32(len(ids)))
	owner := Owner{Principal: "sa:team-a:worker/pod-1", Identity: "w1"}
	// Same identity string, same namespace, different principal (another pod): refused.
	thief := Owner{Principal: "sa:team-a:worker/pod-2", Identity: "w1"}
	for _, tk := range tasks {
		if tk.TaskId == "ReportCanceled" {
			if _, err := e.Cancel("ns", tk.TaskId, "stop"); err != nil {
				t.Fatal(err)
			}
		}
		wantDenied(t, tk.TaskId, leaseCalls(e, tk, thief)[tk.TaskId](), tk.TaskId)
		if err := leaseCalls(e, tk, owner)[tk.TaskId](); err != nil {
			t.Errorf("%s by the owner: %v", tk.TaskId, err)
		}
	}
}

func TestLeaseOwnerByIdentityWithoutAuth(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	add(t, v.e, tspec("a"))
	tk := pollAs(t, v.e, "", "worker-1", 1)[0]
	wantDenied(t, "Heartbeat", leaseCalls(v.e, tk, Owner{Identity: "worker-2"})["Heartbeat"](), "a")
	// Without auth an empty identity is not checked (old clients), the right one passes.
	if err := leaseCalls(v.e, tk, Owner{})["Heartbeat"](); err != nil {
		t.Fatal(err)
	}
	if err := leaseCalls(v.e, tk, Owner{Identity: "worker-1"})["Complete"](); err != nil {
		t.Fatal(err)
	}
}

func TestLeaseOwnerSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	v := open(t, dir, Options{})
	add(t, v.e, tspec("a"), tspec("b"))
	tasks := pollAs(t, v.e, "alice", "w", 2)
	v.close()

	v = open(t, dir, Options{})
	for _, tk := range tasks {
		wantDenied(t, "Complete after restart", leaseCalls(v.e, tk, Owner{Principal: "mallory", Identity: "w"})["Complete"](), tk.TaskId)
		if err := leaseCalls(v.e, tk, Owner{Principal: "alice", Identity: "w"})["Complete"](); err != nil {
			t.Fatalf("owner completes after restart: %v", err)
		}
	}
}

func TestRecordWithoutOwnerDecodes(t *testing.T) {
	tk := &task{ns: "ns", queue: "q", id: "x", state: stateStarted, lease: 7, owner: Owner{Principal: "p", Identity: "i"}}
	b := tk.encode(nil)
	got, err := decodeTask(b)
	if err != nil || got.owner != tk.owner {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	// A record written before the owner existed ends after the cancel reason (before the
	// fields appended later still: the first sequence, the requirement count, the
	// session's length, the preference count, the fairness key's length and the fairness
	// weight, 0 here, one byte each).
	old := b[:len(b)-len(appendString(appendString(nil, "p"), "i"))-6]
	got, err = decodeTask(old)
	if err != nil || got.owner != (Owner{}) || got.lease != 7 {
		t.Fatalf("old record: %+v, %v", got, err)
	}
}

// TestStaleLeaseOfReleasedAttemptIsFailedPrecondition: once an attempt is re-leased to
// another worker, every call with the old lease is refused because the lease is stale
// (FailedPrecondition, which the SDK treats as a lost lease), not because of its owner.
func TestStaleLeaseOfReleasedAttemptIsFailedPrecondition(t *testing.T) {
	for _, principals := range [][2]string{{"", ""}, {"sa:ns:w/pod-1", "sa:ns:w/pod-2"}} {
		v := open(t, t.TempDir(), Options{})
		ids := []string{"Complete", "CompleteMany", "Fail", "Heartbeat", "ReportCanceled", "Release"}
		for _, id := range ids {
			add(t, v.e, tspec(id))
		}
		first := pollAs(t, v.e, principals[0], "w1", int32(len(ids)))
		for _, tk := range first {
			if err := v.e.Release(tk.Namespace, tk.TaskId, tk.LeaseId); err != nil {
				t.Fatal(err)
			}
		}
		pollAs(t, v.e, principals[1], "w2", int32(len(ids)))
		late := Owner{Principal: principals[0], Identity: "w1"}
		for _, tk := range first {
			if tk.TaskId == "ReportCanceled" {
				if _, err := v.e.Cancel("ns", tk.TaskId, "stop"); err != nil {
					t.Fatal(err)
				}
			}
			err := leaseCalls(v.e, tk, late)[tk.TaskId]()
			if status.Code(err) != codes.FailedPrecondition {
				t.Errorf("principals %q: late %s with the re-leased attempt's old lease: %v, want FailedPrecondition", principals, tk.TaskId, err)
			}
		}
		v.close()
	}
}
