package server_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/matching/server"
	"github.com/taskroute/taskroute/internal/storage"
	"github.com/taskroute/taskroute/internal/storage/pebblestore"
)

// heldStore is the real Pebble store whose next Commit, once armed, waits until released:
// a sync that takes as long as the test needs.
type heldStore struct {
	*pebblestore.Store
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

// let releases the held commit (once; a failed test's cleanup calls it too).
func (h *heldStore) let() { h.once.Do(func() { close(h.release) }) }

func (h *heldStore) Commit(b storage.Batch, sync bool) error {
	if h.armed.CompareAndSwap(true, false) {
		h.entered <- struct{}{}
		<-h.release
	}
	return h.Store.Commit(b, sync)
}

// startHeld serves the real handler over gRPC on loopback, on an engine over a heldStore.
func startHeld(t *testing.T) (*heldStore, *matching.Engine, string) {
	t.Helper()
	var h *heldStore
	e, addr := serveOver(t, func(ps *pebblestore.Store) storage.Store {
		h = &heldStore{Store: ps, entered: make(chan struct{}), release: make(chan struct{})}
		return h
	})
	t.Cleanup(h.let) // before the server stops: a held commit would keep it from stopping
	return h, e, addr
}

// serveOver serves the real handler over gRPC on loopback, on an engine over the store
// wrap makes of a real Pebble store; all of it stops when the test ends.
func serveOver(t *testing.T, wrap func(*pebblestore.Store) storage.Store) (*matching.Engine, string) {
	t.Helper()
	ps, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := matching.New(wrap(ps), matching.Options{})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	server.New(e, server.Limits{}).Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(func() { g.Stop(); e.Close(); ps.Close() })
	return e, lis.Addr().String()
}

// TestWorkerStreamWritesOutcomesWhileEarlierOnesSync: a stream's outcomes are written as
// they arrive, not after the earlier ones are acknowledged, so when tasks trickle in they
// share the next group commit with the adds written meanwhile instead of syncing alone
// after it.
func TestWorkerStreamWritesOutcomesWhileEarlierOnesSync(t *testing.T) {
	h, e, addr := startHeld(t)
	c := dial(t, addr)
	ctx := ctxT(t, 20*time.Second)
	for _, id := range []string{"a", "b"} {
		if _, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec(id)}); err != nil {
			t.Fatal(err)
		}
	}
	s := openStream(t, c, 2)
	tasks := recvTasks(t, s, 2)
	h.armed.Store(true)
	if err := s.Send(&matchingv1.WorkerStreamRequest{Namespace: "default", Seq: 1, Completions: complete(tasks[:1])}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.entered: // the first completion's commit is syncing, held
	case <-ctx.Done():
		t.Fatal("the first completion was never committed")
	}
	before := e.CommitsByCauses()
	if err := s.Send(&matchingv1.WorkerStreamRequest{Namespace: "default", Seq: 2, Completions: complete(tasks[1:])}); err != nil {
		t.Fatal(err)
	}
	added := make(chan error, 1)
	go func() {
		_, err := c.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec("c")})
		added <- err
	}()
	waitState(t, e, tasks[1].GetTaskId(), matchingv1.TaskState_TASK_STATE_COMPLETED)
	waitState(t, e, "c", matchingv1.TaskState_TASK_STATE_SCHEDULED)
	h.let()
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for len(seqs) < 2 {
		m, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range m.GetAcks() {
			seqs = append(seqs, a.GetSeq())
		}
	}
	if seqs[0] != 1 || seqs[1] != 2 {
		t.Fatalf("acks %v; want 1 then 2", seqs)
	}
	both := storage.CauseAdd | storage.CauseOutcome
	if n := e.CommitsByCauses()[both] - before[both]; n != 1 {
		t.Fatalf("%d commits carried the second completion with the add; want 1", n)
	}
}

// waitState waits, up to a bounded deadline, until the engine shows task id in state want
// (its write is staged and enqueued; it need not be durable yet).
func waitState(t *testing.T, e *matching.Engine, id string, want matchingv1.TaskState) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := e.Get(ctxT(t, time.Second), "default", id, 0)
		if err == nil && info.GetState() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: state %v (err %v) after 5s; want %v", id, info.GetState(), err, want)
		}
		time.Sleep(time.Millisecond)
	}
}
