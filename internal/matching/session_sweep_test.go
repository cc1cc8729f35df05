package matching

import (
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/clock"
)

// TestSessionSweepDoesNotLoadQueues, on the stepped clock: the sweep fails the session of
// a worker gone from a queue that was unloaded meanwhile without loading that queue again
// (memory per idle queue is a measured target), and keeps the session of a live worker.
func TestSessionSweepDoesNotLoadQueues(t *testing.T) {
	const liveness = 10 * time.Second
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	v := open(t, t.TempDir(), Options{Clock: clk, WorkerLivenessTimeout: liveness, IdleQueueTimeout: time.Minute})
	e := v.e
	heartbeat := func(queue, identity, process string) {
		e.RecordWorkerHeartbeat(&matchingv1.RecordWorkerHeartbeatRequest{Namespace: "ns", Queue: queue, WorkerIdentity: identity,
			Capabilities: []*matchingv1.Capability{{Name: capabilityProcess, Value: process}}, MaxSessions: 1})
	}
	createSession := func(queue, id string) {
		t.Helper()
		if _, created, err := e.CreateSession(&matchingv1.CreateSessionRequest{Namespace: "ns", Queue: queue, SessionId: id}); err != nil || !created {
			t.Fatalf("CreateSession %s: %v, %v", id, created, err)
		}
	}
	heartbeat("idle", "gone", "p1")
	heartbeat("busy", "live", "p2")
	createSession("idle", "s-gone")
	createSession("busy", "s-live")

	clk.Advance(2 * time.Minute) // past the idle timeout and the gone worker's liveness
	heartbeat("busy", "live", "p2")
	e.UnloadIdle()
	if e.loadedQueue("ns", "idle") != nil || e.loadedQueue("ns", "busy") == nil {
		t.Fatal("setup: want queue idle unloaded and queue busy loaded")
	}

	// The engine's own sweep runs on the stepped clock too and may have failed the session
	// already (then this one finds nothing): the states below tell what both did.
	e.FailLostSessions()
	if e.loadedQueue("ns", "idle") != nil {
		t.Fatal("the session sweep loaded the unloaded queue of a session")
	}
	if got, _ := e.GetSession("ns", "s-gone"); got.GetState() != matchingv1.SessionState_SESSION_STATE_FAILED {
		t.Fatalf("session of the gone worker: %v", got)
	}
	if got, _ := e.GetSession("ns", "s-live"); got.GetState() != matchingv1.SessionState_SESSION_STATE_OPEN {
		t.Fatalf("session of the live worker: %v", got)
	}
}
