package matching

import (
	"bytes"
	"context"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/storage"
	"github.com/taskroute/taskroute/internal/storage/pebblestore"
)

// scanHookStore is the real store with one hook: once armed, the next ScanBacklog opens
// its iterator (its view of the store is fixed from then on) and, before handing the first
// entry over (or, with afterScan, once the scan is over), tells started and waits for
// release.
type scanHookStore struct {
	storage.Store
	armed     chan struct{} // a token arms the hook for one scan
	afterScan bool
	started   chan struct{}
	release   chan struct{}
}

func newScanHookStore(t *testing.T) *scanHookStore {
	pebble, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &scanHookStore{Store: newIndexCheckStore(t, pebble), armed: make(chan struct{}, 1), started: make(chan struct{}), release: make(chan struct{})}
}

func (s *scanHookStore) ScanBacklog(q storage.QueueRef, kind, prio uint8, after uint64, limit int, fn func(storage.BacklogEntry) bool) error {
	select {
	case <-s.armed:
	default:
		return s.Store.ScanBacklog(q, kind, prio, after, limit, fn)
	}
	if s.afterScan {
		err := s.Store.ScanBacklog(q, kind, prio, after, limit, fn)
		close(s.started)
		<-s.release
		return err
	}
	first := true
	return s.Store.ScanBacklog(q, kind, prio, after, limit, func(ent storage.BacklogEntry) bool {
		if first {
			first = false
			close(s.started)
			<-s.release
		}
		return fn(ent)
	})
}

// pollResult is the outcome of a poll run in the background.
type pollResult struct {
	tasks []*matchingv1.Task
	err   error
}

// pollDuringHeldScan arms st's hook and starts a poll of queue q for up to max tasks that
// finds the buffer empty, so a page load starts; it returns once that load's scan is held.
// The poll's outcome comes once st.release is closed (or wait passed).
func pollDuringHeldScan(t *testing.T, st *scanHookStore, e *Engine, max int32, wait time.Duration) <-chan pollResult {
	t.Helper()
	st.armed <- struct{}{}
	polled := make(chan pollResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		tasks, err := e.Poll(ctx, &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: "w", MaxTasks: max})
		polled <- pollResult{tasks, err}
	}()
	select {
	case <-st.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no page load began within 10 s")
	}
	return polled
}

// TestPageLoadKeepsTheCursorBeforeAnEntryCommittedDuringItsScan drives the lost wake-up of
// backlog paging exactly: task a's disk-only entry (older sequence) becomes durable after
// a page load's scan began, so the scan sees only b's (newer) entry. The commit lands
// while the scan is held before its first entry, when the cursor is still before a:
// nothing to rewind. The scan then meets b; it must not move the cursor past a (the
// commit bumps rewinds while loading), or a waits on disk forever while polls find
// nothing.
func TestPageLoadKeepsTheCursorBeforeAnEntryCommittedDuringItsScan(t *testing.T) {
	st := newScanHookStore(t)
	pebble := st.Store
	e, err := New(st, Options{BufferSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); pebble.Close() })
	prio3 := func(s *matchingv1.TaskSpec) { s.Priority = 3 }
	for _, id := range []string{"f1", "f2", "a", "b"} { // f1, f2 fill the buffer; a, b wait on disk only
		add(t, e, tspec(id, prio3))
	}
	ref := storage.QueueRef{Namespace: "ns", Queue: "q"}
	entA := backlogEntryOf(t, pebble, ref, "a")

	// a's entry is not durable yet: take it out of the store.
	key := storage.BacklogKey{Kind: kindActivity, Priority: 3, Seq: entA.Seq}
	if err := e.committer.Write(func(b storage.Batch) { b.DeleteBacklog(ref, key) }).Wait(); err != nil {
		t.Fatal(err)
	}
	if got := pollN(t, e, "q", 2, time.Second); len(got) != 2 { // empties the buffer
		t.Fatalf("polled %d buffered tasks, want 2", len(got))
	}
	polled := pollDuringHeldScan(t, st, e, 2, 5*time.Second)

	// a's entry commits while the scan is held, as the group commit then tells the backlog.
	if err := e.committer.Write(func(b storage.Batch) { b.PutBacklog(ref, key, "a", entA.Record) }).Wait(); err != nil {
		t.Fatal(err)
	}
	e.loadedQueue("ns", "q").backlogCommitted(&task{ns: "ns", queue: "q", id: "a", kind: kindActivity, priority: 3, seq: entA.Seq})
	close(st.release)

	got := map[string]bool{}
	first := <-polled
	if first.err != nil {
		t.Fatalf("poll during the page load: %v", first.err)
	}
	for _, tk := range first.tasks {
		got[tk.GetTaskId()] = true
	}
	for deadline := time.Now().Add(5 * time.Second); len(got) < 2 && time.Now().Before(deadline); {
		for _, tk := range pollN(t, e, "q", 2, 500*time.Millisecond) {
			got[tk.GetTaskId()] = true
		}
	}
	if !got["a"] || !got["b"] {
		t.Fatalf("polled %v after the page load, want a and b: a's entry was skipped by the cursor", got)
	}
}

// backlogEntryOf returns the stored backlog entry of a task of the plain priority-3
// Activity level, its record copied.
func backlogEntryOf(t *testing.T, st storage.Store, ref storage.QueueRef, id string) storage.BacklogEntry {
	t.Helper()
	var found storage.BacklogEntry
	err := st.ScanBacklog(ref, kindActivity, 3, 0, 100, func(ent storage.BacklogEntry) bool {
		if string(ent.TaskID) == id {
			found = storage.BacklogEntry{Seq: ent.Seq, TaskID: bytes.Clone(ent.TaskID), Record: bytes.Clone(ent.Record)}
			return false
		}
		return true
	})
	if err != nil || found.Seq == 0 {
		t.Fatalf("backlog entry of %s: %v, %v", id, found, err)
	}
	return found
}
