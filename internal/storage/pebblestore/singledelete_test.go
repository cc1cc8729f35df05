package pebblestore

import (
	"testing"
	"time"

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

// TestIndexDeletesVanishAtFlush guards the SingleDelete of index entries: an entry put
// (a backlog entry at add, a timer at start, an expiry at the end) and deleted (at start,
// at the end, by the sweep) before a flush leaves nothing in the flushed table, where a
// Delete's tombstone would be written and carried down through the compactions. A key put
// again after its delete (a retry's first sequence, a deadline that comes back) vanishes
// too. A task record keeps the table from being empty.
func TestIndexDeletesVanishAtFlush(t *testing.T) {
	q := storage.QueueRef{Namespace: "ns", Queue: "q", Partition: "gpu=a100"}
	at := func(i int) time.Time { return time.Unix(1_700_000_000, int64(i)) }
	for _, index := range []struct {
		name       string
		put, del   func(b storage.Batch, i int)
		countAfter func(s *Store) int
	}{
		{"backlog",
			func(b storage.Batch, i int) {
				b.PutBacklog(q, storage.BacklogKey{Kind: 1, Priority: 3, Seq: uint64(i)}, "id", []byte("record"))
			},
			func(b storage.Batch, i int) {
				b.DeleteBacklog(q, storage.BacklogKey{Kind: 1, Priority: 3, Seq: uint64(i)})
			},
			func(s *Store) int { n, _, _ := s.CountBacklog(q, 1, 3); return int(n) }},
		{"timer",
			func(b storage.Batch, i int) { b.PutTimer(at(i), "ns", "id") },
			func(b storage.Batch, i int) { b.DeleteTimer(at(i), "ns", "id") },
			func(s *Store) int {
				return countEntries(t, func(fn func(storage.TimerEntry) bool) error { return s.ScanTimers(time.Time{}, 1000, fn) })
			}},
		{"expiry",
			func(b storage.Batch, i int) { b.PutExpiry(at(i), "ns", "id") },
			func(b storage.Batch, i int) { b.DeleteExpiry(at(i), "ns", "id") },
			func(s *Store) int {
				return countEntries(t, func(fn func(storage.TimerEntry) bool) error { return s.ScanExpiries(at(1000), 1000, fn) })
			}},
	} {
		t.Run(index.name, func(t *testing.T) {
			s := openTemp(t)
			const keys = 100
			for i := 1; i <= keys+1; i++ {
				k := min(i, keys) // the last pair puts key 100 again after its delete
				commit(t, s, func(b storage.Batch) {
					b.PutTask("ns", "id", []byte("record"))
					index.put(b, k)
				})
				commit(t, s, func(b storage.Batch) { index.del(b, k) })
			}
			if n := tombstonesOnDisk(t, s); n != 0 {
				t.Fatalf("%d tombstones flushed for %d %s entries put and deleted before the flush; want none", n, keys+1, index.name)
			}
			if n := index.countAfter(s); n != 0 {
				t.Fatalf("%d %s entries after the deletes, want none", n, index.name)
			}
		})
	}
}

// TestBacklogDeleteOfFlushedEntry checks the other order: the entry was flushed before its
// delete, which then removes it for good (in a compaction, not at once).
func TestBacklogDeleteOfFlushedEntry(t *testing.T) {
	s := openTemp(t)
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

// countEntries counts the entries a timer or expiry scan visits.
func countEntries(t *testing.T, scan func(func(storage.TimerEntry) bool) error) int {
	t.Helper()
	n := 0
	if err := scan(func(storage.TimerEntry) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	return n
}
