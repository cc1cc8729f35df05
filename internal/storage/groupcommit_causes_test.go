package storage_test

import (
	"testing"

	"github.com/taskroute/taskroute/internal/storage"
)

// TestCommitsByCausesCountsEachCommitUnderItsWritesCauses: a commit is counted once,
// under the union of the causes of the writes it carried.
func TestCommitsByCausesCountsEachCommitUnderItsWritesCauses(t *testing.T) {
	c := storage.NewGroupCommitter(openStore(t))
	defer c.Close()
	if err := c.WriteFor(storage.CauseAdd, func(b storage.Batch) { b.PutTask("ns", "a", []byte("v")) }).Wait(); err != nil {
		t.Fatal(err)
	}
	// The first write is durable before the second is made: two commits.
	done := make(chan error, 1)
	c.WriteThenFor(storage.CauseOutcome, func(b storage.Batch) { b.PutTask("ns", "b", []byte("v")) }, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := c.CommitsByCauses()
	commits, _ := c.Stats()
	var sum uint64
	for _, n := range got {
		sum += n
	}
	if sum != commits || got[storage.CauseAdd] != 1 || got[storage.CauseOutcome] != 1 {
		t.Fatalf("by causes %v (%d commits); want one add-only and one outcome-only commit", got, commits)
	}
}
