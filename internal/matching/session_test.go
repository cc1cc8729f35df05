package matching

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
)

func sessionWorkerHeartbeat(e *Engine, identity, process string, slots int32) {
	e.RecordWorkerHeartbeat(&matchingv1.RecordWorkerHeartbeatRequest{Namespace: "ns", Queue: "q", WorkerIdentity: identity,
		Capabilities: []*matchingv1.Capability{{Name: capabilityProcess, Value: process}}, MaxSessions: slots})
}

// TestSessionFailsOneLivenessTimeoutAfterItsWorker, on the stepped clock: a session binds
// to the worker with a free slot; its task requires the worker's process; the session
// and its waiting task stay while the worker is within the liveness timeout and fail
// (SessionFailed) once it is past; the failure is stored.
func TestSessionFailsOneLivenessTimeoutAfterItsWorker(t *testing.T) {
	const liveness = 10 * time.Second
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	dir := t.TempDir()
	v := open(t, dir, Options{Clock: clk, WorkerLivenessTimeout: liveness})
	e := v.e
	sessionWorkerHeartbeat(e, "w1", "p1", 1)
	sessionWorkerHeartbeat(e, "w0", "p0", 0) // takes no sessions

	s, created, err := e.CreateSession(&matchingv1.CreateSessionRequest{Namespace: "ns", Queue: "q", SessionId: "s1"})
	if err != nil || !created || s.GetWorkerIdentity() != "w1" || s.GetWorkerProcess() != "p1" {
		t.Fatalf("CreateSession = %v, %v, %v", s, created, err)
	}
	if _, _, err := e.CreateSession(&matchingv1.CreateSessionRequest{Namespace: "ns", Queue: "q"}); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second session on one slot: %v, want ResourceExhausted", err)
	}
	add(t, e, &matchingv1.TaskSpec{Namespace: "ns", Queue: "q", TaskId: "t1", TaskType: "x", SessionId: "s1"})
	info, err := e.Get(context.Background(), "ns", "t1", 0)
	if err != nil || info.GetSessionId() != "s1" || len(info.GetRequires()) != 1 || info.GetRequires()[0].GetValue() != "p1" {
		t.Fatalf("session task = %v, %v", info, err)
	}

	clk.Advance(liveness)
	e.FailLostSessions()
	e.FailLostTargets()
	if got, _ := e.GetSession("ns", "s1"); got.GetState() != matchingv1.SessionState_SESSION_STATE_OPEN {
		t.Fatalf("session within the liveness timeout: %v", got)
	}
	clk.Advance(time.Millisecond)
	e.FailLostSessions()
	e.FailLostTargets()
	if got, _ := e.GetSession("ns", "s1"); got.GetState() != matchingv1.SessionState_SESSION_STATE_FAILED {
		t.Fatalf("session past the liveness timeout: %v", got)
	}
	info, _ = e.Get(context.Background(), "ns", "t1", 0)
	if info.GetState() != matchingv1.TaskState_TASK_STATE_FAILED || info.GetFailure().GetErrorType() != ErrorTypeSessionFailed {
		t.Fatalf("task of the failed session: %v", info)
	}

	v.close()
	v = open(t, dir, Options{Clock: clk, WorkerLivenessTimeout: liveness})
	if got, err := v.e.GetSession("ns", "s1"); err != nil || got.GetState() != matchingv1.SessionState_SESSION_STATE_FAILED {
		t.Fatalf("failed session after a restart: %v, %v", got, err)
	}
}

// TestSessionSlotFreedByComplete: completing a session releases its slot at once, and
// completing it again changes nothing.
func TestSessionSlotFreedByComplete(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	e := open(t, t.TempDir(), Options{Clock: clk}).e
	sessionWorkerHeartbeat(e, "w1", "p1", 1)
	if _, _, err := e.CreateSession(&matchingv1.CreateSessionRequest{Namespace: "ns", Queue: "q", SessionId: "a"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, err := e.CompleteSession("ns", "a"); err != nil || got.GetState() != matchingv1.SessionState_SESSION_STATE_COMPLETED {
			t.Fatalf("CompleteSession = %v, %v", got, err)
		}
	}
	if _, _, err := e.CreateSession(&matchingv1.CreateSessionRequest{Namespace: "ns", Queue: "q", SessionId: "b"}); err != nil {
		t.Fatalf("creating after a completion: %v", err)
	}
}

// TestSessionMetrics: the sessions gauge counts sessions by namespace and state.
func TestSessionMetrics(t *testing.T) {
	e := open(t, t.TempDir(), Options{Clock: clock.NewFake(time.Unix(1_700_000_000, 0))}).e
	reg := prometheus.NewRegistry()
	if _, err := e.Register(reg); err != nil {
		t.Fatal(err)
	}
	sessionWorkerHeartbeat(e, "w1", "p1", 2)
	for _, id := range []string{"a", "b"} {
		if _, _, err := e.CreateSession(&matchingv1.CreateSessionRequest{Namespace: "ns", Queue: "q", SessionId: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.CompleteSession("ns", "a"); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP taskroute_matching_sessions Sessions held, by namespace and state (Open; Completed and Failed until the queue's retention passes).
# TYPE taskroute_matching_sessions gauge
taskroute_matching_sessions{namespace="ns",state="Completed"} 1
taskroute_matching_sessions{namespace="ns",state="Open"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "taskroute_matching_sessions"); err != nil {
		t.Error(err)
	}
}

// TestConcurrentSessionCreateAndComplete: creators and completers racing on one worker's
// slots never exceed them, and every session's stored record ends in its final state.
func TestConcurrentSessionCreateAndComplete(t *testing.T) {
	dir := t.TempDir()
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	v := open(t, dir, Options{Clock: clk})
	e := v.e
	sessionWorkerHeartbeat(e, "w1", "p1", 4)
	var wg sync.WaitGroup
	var peak, running atomic.Int32
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				id := fmt.Sprintf("s-%d-%d", g, i)
				_, _, err := e.CreateSession(&matchingv1.CreateSessionRequest{Namespace: "ns", Queue: "q", SessionId: id})
				if status.Code(err) == codes.ResourceExhausted {
					continue
				} else if err != nil {
					t.Error(err)
					return
				}
				n := running.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				if n := e.sessions.openSessions("ns", "q", "w1"); n > 4 {
					t.Errorf("%d sessions open on 4 slots", n)
				}
				running.Add(-1)
				if _, err := e.CompleteSession("ns", id); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if peak.Load() > 4 {
		t.Errorf("peak %d sessions open on 4 slots", peak.Load())
	}
	v.close()
	e = open(t, dir, Options{Clock: clk}).e
	for _, s := range e.sessions.openList() {
		t.Errorf("session %s is open after the restart although it was completed", s.ID)
	}
}
