package server_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/storage"
	"github.com/taskroute/taskroute/internal/storage/pebblestore"
)

func sessionSlotHeartbeat(t *testing.T, c matchingv1.MatchingServiceClient) {
	t.Helper()
	if _, err := c.RecordWorkerHeartbeat(ctxT(t, 5*time.Second), &matchingv1.RecordWorkerHeartbeatRequest{Namespace: "default",
		Queue: "q", WorkerIdentity: "w", MaxSessions: 4,
		Capabilities: []*matchingv1.Capability{{Name: "taskroute.dev/process", Value: "p1"}}}); err != nil {
		t.Fatal(err)
	}
}

// TestSessionCreateAnswersBeforeItsSync: CreateSession answers once the session is bound
// and its record queued for the next group commit, while that commit is still syncing; a
// task added to the session afterwards is acknowledged only once the record is durable
// (groups commit in order), and the session is then stored.
func TestSessionCreateAnswersBeforeItsSync(t *testing.T) {
	h, e, addr := startHeld(t)
	c := dial(t, addr)
	sessionSlotHeartbeat(t, c)

	h.armed.Store(true)
	held := make(chan struct{})
	go func() { <-h.entered; close(held) }()
	resp, err := c.CreateSession(ctxT(t, 5*time.Second), &matchingv1.CreateSessionRequest{Namespace: "default", Queue: "q", SessionId: "s1"})
	if err != nil {
		t.Fatalf("CreateSession while its commit is held: %v", err)
	}
	<-held // the session's record is in the held commit
	if resp.GetSession().GetState() != matchingv1.SessionState_SESSION_STATE_OPEN {
		t.Fatalf("session = %v", resp.GetSession())
	}
	if storedSession(t, h, "s1") {
		t.Fatal("the session record is stored before its commit was let through")
	}
	added := make(chan error, 1)
	go func() {
		task := spec("t1")
		task.Queue, task.SessionId = "q", "s1"
		_, err := c.AddTask(ctxT(t, 10*time.Second), &matchingv1.AddTaskRequest{Task: task})
		added <- err
	}()
	h.let()
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	if !storedSession(t, h, "s1") {
		t.Fatal("no session record once a task of the session was acknowledged")
	}
	if _, err := e.GetSession("default", "s1"); err != nil {
		t.Fatal(err)
	}
}

// storedSession tells whether st holds the record of session id of namespace default.
func storedSession(t *testing.T, st storage.Store, id string) bool {
	t.Helper()
	found := false
	if err := st.ScanSessions(func(ns, sid string, _ []byte) bool {
		found = found || (ns == "default" && sid == id)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

// failingStore is the real Pebble store whose commits fail once armed.
type failingStore struct {
	*pebblestore.Store
	failing atomic.Bool
}

func (f *failingStore) Commit(b storage.Batch, sync bool) error {
	if f.failing.Load() {
		return errors.New("disk gone")
	}
	return f.Store.Commit(b, sync)
}

// TestSessionCreateWhoseRecordFailsIsForgotten: the create was answered before its write;
// when that write fails the session is forgotten (NotFound), as a crash before the sync
// would leave it, and its slot is free again.
func TestSessionCreateWhoseRecordFailsIsForgotten(t *testing.T) {
	var f *failingStore
	_, addr := serveOver(t, func(ps *pebblestore.Store) storage.Store {
		f = &failingStore{Store: ps}
		return f
	})
	c := dial(t, addr)
	sessionSlotHeartbeat(t, c)

	f.failing.Store(true)
	if _, err := c.CreateSession(ctxT(t, 10*time.Second), &matchingv1.CreateSessionRequest{Namespace: "default", Queue: "q", SessionId: "s1"}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.GetSession(ctxT(t, 5*time.Second), &matchingv1.GetSessionRequest{Namespace: "default", SessionId: "s1"})
		if status.Code(err) == codes.NotFound {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetSession of a session whose record failed = %v, want NotFound", err)
		}
		time.Sleep(5 * time.Millisecond) // polling a bounded wait for the commit loop's outcome
	}
	d, err := c.DescribeQueue(ctxT(t, 5*time.Second), &matchingv1.DescribeQueueRequest{Namespace: "default", Queue: "q"})
	if err != nil || len(d.GetPollers()) != 1 || d.GetPollers()[0].GetOpenSessions() != 0 {
		t.Fatalf("pollers after the forgotten create = %v, %v; want w with 0 open sessions", d.GetPollers(), err)
	}
}
