package pebblestore

import (
	"testing"

	"github.com/cockroachdb/pebble"

	"github.com/taskroute/taskroute/internal/storage"
)

// tombstonesOnDisk flushes the memtable and counts the point tombstones in every table.
func tombstonesOnDisk(t *testing.T, s *Store) uint64 {
	t.Helper()
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	levels, err := s.db.SSTables(pebble.WithProperties())
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, tables := range levels {
		for _, tbl := range tables {
			n += tbl.Properties.NumPointDeletions()
		}
	}
	return n
}

func commit(t *testing.T, s *Store, write func(storage.Batch)) {
	t.Helper()
	b := s.NewBatch()
	write(b)
	if err := s.Commit(b, false); err != nil {
		t.Fatal(err)
	}
}

// TestBacklogDeleteVanishesAtFlush guards the SingleDelete of backlog entries: an entry
// put (at add) and deleted (at start) before a flush leaves nothing in the flushed table,
// where a Delete's tombstone would be written and carried down through the compactions.
// A task record keeps the table from being empty.
func TestBacklogDeleteVanishesAtFlush(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := storage.QueueRef{Namespace: "ns", Queue: "q", Partition: "gpu=a100"}
	const tasks = 100
	for i := uint64(1); i <= tasks; i++ {
		k := storage.BacklogKey{Kind: 1, Priority: 3, Seq: i}
		commit(t, s, func(b storage.Batch) {
			b.PutTask("ns", "id", []byte("record"))
			b.PutBacklog(q, k, "id", []byte("record"))
		})
		commit(t, s, func(b storage.Batch) { b.DeleteBacklog(q, k) })
	}
	// A retry puts the task's first sequence again after its start deleted it.
	k := storage.BacklogKey{Kind: 1, Priority: 3, Seq: 1}
	commit(t, s, func(b storage.Batch) { b.PutBacklog(q, k, "id", []byte("record")) })
	commit(t, s, func(b storage.Batch) { b.DeleteBacklog(q, k) })

	if n := tombstonesOnDisk(t, s); n != 0 {
		t.Fatalf("%d tombstones flushed for %d backlog entries put and deleted before the flush; want none", n, tasks+1)
	}
	if n, _, err := s.CountBacklog(q, 1, 3); err != nil || n != 0 {
		t.Fatalf("backlog after the deletes: %d entries (err %v), want none", n, err)
	}
}

// TestBacklogDeleteOfFlushedEntry checks the other order: the entry was flushed before its
// delete, which then removes it for good (in a compaction, not at once).
func TestBacklogDeleteOfFlushedEntry(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	q := storage.QueueRef{Namespace: "ns", Queue: "q"}
	k := storage.BacklogKey{Kind: 1, Priority: 3, Seq: 7}
	commit(t, s, func(b storage.Batch) { b.PutBacklog(q, k, "id", []byte("record")) })
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	commit(t, s, func(b storage.Batch) { b.DeleteBacklog(q, k) })
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Compact([]byte{prefixBacklog}, []byte{prefixBacklog + 1}, true); err != nil {
		t.Fatal(err)
	}
	if n, _, err := s.CountBacklog(q, 1, 3); err != nil || n != 0 {
		t.Fatalf("backlog after delete and compaction: %d entries (err %v), want none", n, err)
	}
	if n := tombstonesOnDisk(t, s); n != 0 {
		t.Fatalf("%d tombstones left after the compaction met the entry; want none", n)
	}
}
