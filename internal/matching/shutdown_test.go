package matching

import (
	"context"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// TestShutdownWorkerReturnsWaitingPollsAndRefusesLateOnes: ShutdownWorker returns the
// identity's waiting poll at once, a later poll of that identity returns empty without
// taking the waiting task, other identities and other principals are unaffected.
func TestShutdownWorkerReturnsWaitingPollsAndRefusesLateOnes(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	e := v.e
	poll := func(principal, identity string, wait time.Duration) chan []*matchingv1.Task {
		out := make(chan []*matchingv1.Task, 1)
		go func() {
			ctx, cancel := context.WithTimeout(WithPrincipal(context.Background(), principal), wait)
			defer cancel()
			tasks, err := e.Poll(ctx, &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: identity, MaxTasks: 1})
			if err != nil {
				t.Errorf("poll of %s: %v", identity, err)
			}
			out <- tasks
		}()
		return out
	}
	waiting := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if q := e.loadedQueue("ns", "q"); q != nil {
				q.mu.Lock()
				got := 0
				if sq := q.kind[0]; sq != nil {
					sq.matcher.each(func(*poller) bool { got++; return true })
				}
				q.mu.Unlock()
				if got == n {
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("not %d waiting polls", n)
	}

	stopping := poll("alice", "w1", 30*time.Second)
	waiting(1)
	if n := e.ShutdownWorker("ns", "q", "w1", Owner{Principal: "mallory", Identity: "w1"}); n != 0 {
		t.Fatalf("another principal returned %d polls of w1", n)
	}
	start := time.Now()
	if n := e.ShutdownWorker("ns", "q", "w1", Owner{Principal: "alice", Identity: "w1"}); n != 1 {
		t.Fatalf("ShutdownWorker returned %d polls, want 1", n)
	}
	if tasks := <-stopping; len(tasks) != 0 || time.Since(start) > 2*time.Second {
		t.Fatalf("stopped poll: %d tasks after %v", len(tasks), time.Since(start))
	}
	add(t, e, tspec("a"))
	if tasks := <-poll("alice", "w1", 30*time.Second); len(tasks) != 0 {
		t.Fatalf("a late poll of the stopped worker took %d tasks", len(tasks))
	}
	if tasks := <-poll("bob", "w2", 5*time.Second); len(tasks) != 1 {
		t.Fatalf("another worker's poll got %d tasks, want the waiting one", len(tasks))
	}
}
