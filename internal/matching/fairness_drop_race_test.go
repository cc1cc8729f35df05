package matching

import (
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/storage"
)

// TestCommitPagesAnEntryOfADroppedKeyPartition drives the lost task of the stress test
// (TestNoTaskLostUnderRacingPollsAndPageIns/fairness-keys) exactly: task a of key k waits
// on disk only and its entry is not durable yet, so a page load sees nothing and ends
// with the level's tail clear and its count reset. A newer task of k is buffered and
// dispatched, the keyed partition is empty and is dropped. When a's entry then commits,
// the backlog the commit is told about is the key's partition made again, without
// levels: the commit must still have its level paged, or a waits on disk forever.
func TestCommitPagesAnEntryOfADroppedKeyPartition(t *testing.T) {
	e, q, ref, commitA := loadMissesACommit(t)

	// A newer task of k is buffered and dispatched: the partition is empty and dropped.
	add(t, e, tspec("b", keyK))
	if got := pollN(t, e, "q", 1, time.Second); len(got) != 1 || got[0].GetTaskId() != "b" {
		t.Fatalf("polled %v, want b", got)
	}
	if !partitionDropped(q, ref.Partition) {
		t.Fatal("the empty keyed partition was not dropped: the test did not drive the race")
	}

	commitA()
	if got := pollN(t, e, "q", 1, 2*time.Second); len(got) != 1 || got[0].GetTaskId() != "a" {
		t.Fatalf("polled %d tasks after a's commit, want a: its entry waits on disk unpaged", len(got))
	}
}

// The same missed commit without the drop: the load that missed a's entry reset the
// level's count, and dispatching a once it is paged in must not take the count below
// zero (DescribeQueue showed -1, and the keyed partition was never dropped again).
func TestBacklogCountStaysNonNegativeAfterALoadMissedACommit(t *testing.T) {
	e, q, ref, commitA := loadMissesACommit(t)
	commitA()
	if got := pollN(t, e, "q", 1, 2*time.Second); len(got) != 1 || got[0].GetTaskId() != "a" {
		t.Fatalf("polled %v after a's commit, want a", got)
	}
	if !partitionDropped(q, ref.Partition) {
		q.mu.Lock()
		n := q.sub(kindActivity).routed[ref.Partition].total()
		q.mu.Unlock()
		t.Fatalf("the drained keyed partition stays, counting %d waiting tasks", n)
	}
}

func keyK(s *matchingv1.TaskSpec) { s.Priority, s.FairnessKey = 3, "k" }

func partitionDropped(q *queueManager, partition string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.sub(kindActivity).routed[partition] == nil
}

// diskOnlyEntryNotDurable sets up the race of a page load with a commit: key k's level
// (buffer size 2) holds f1 and f2 in its buffer and a on disk only, a's entry is made not
// durable yet (deleted from the store, as before its group commit), and f1 and f2 are
// polled, so the next poll starts a page load. commitA writes a's entry and tells the
// backlog, as the group commit does. The store's scan hook is armed (afterScan).
func diskOnlyEntryNotDurable(t *testing.T) (st *scanHookStore, e *Engine, ref storage.QueueRef, commitA func()) {
	t.Helper()
	st = newScanHookStore(t)
	st.afterScan = true
	pebble := st.Store
	e, err := New(st, Options{BufferSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); pebble.Close() })
	for _, id := range []string{"f1", "f2", "a"} { // f1, f2 fill the level's buffer; a waits on disk only
		add(t, e, tspec(id, keyK))
	}
	ref = storage.QueueRef{Namespace: "ns", Queue: "q", Partition: partitionName("", "k")}
	entA := backlogEntryOf(t, pebble, ref, "a")
	key := storage.BacklogKey{Kind: kindActivity, Priority: 3, Seq: entA.Seq}
	if err := e.committer.Write(func(b storage.Batch) { b.DeleteBacklog(ref, key) }).Wait(); err != nil {
		t.Fatal(err) // a's entry is not durable yet
	}
	if got := pollN(t, e, "q", 2, time.Second); len(got) != 2 {
		t.Fatalf("polled %d buffered tasks, want 2", len(got))
	}
	commitA = func() {
		if err := e.committer.Write(func(b storage.Batch) { b.PutBacklog(ref, key, "a", entA.Record) }).Wait(); err != nil {
			t.Fatal(err)
		}
		e.loadedQueue("ns", "q").backlogCommitted(&task{ns: "ns", queue: "q", id: "a", kind: kindActivity, priority: 3, seq: entA.Seq,
			part: ref.Partition, fairKey: "k"})
	}
	return st, e, ref, commitA
}

// loadMissesACommit adds task a of key k on disk only with its entry not durable yet and
// runs a page load of k's level that sees nothing (its tail cleared, its count reset). It
// returns the engine, the queue, k's partition and a function that commits a's entry and
// tells the backlog, as the group commit does.
func loadMissesACommit(t *testing.T) (*Engine, *queueManager, storage.QueueRef, func()) {
	t.Helper()
	st, e, ref, commitA := diskOnlyEntryNotDurable(t)
	// A poll finds the buffer empty and starts a page load, which sees no entry.
	polled := pollDuringHeldScan(t, st, e, 1, 50*time.Millisecond)
	close(st.release)
	if got := <-polled; len(got.tasks) != 0 {
		t.Fatalf("polled %d tasks during the page load, want none", len(got.tasks))
	}
	q := e.loadedQueue("ns", "q")
	waitPageLoaded(t, q, ref.Partition, 3)
	return e, q, ref, commitA
}

// waitPageLoaded waits, with a bound, until level prio of the partition is not loading.
func waitPageLoaded(t *testing.T, q *queueManager, partition string, prio uint8) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		q.mu.Lock()
		b := q.sub(kindActivity).routed[partition]
		loading := b != nil && b.levels[prio] != nil && b.levels[prio].loading
		q.mu.Unlock()
		if !loading {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the page load did not end within 10 s")
		}
		time.Sleep(time.Millisecond) // polling with a bounded deadline
	}
}
