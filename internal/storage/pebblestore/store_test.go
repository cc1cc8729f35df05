package pebblestore

import (
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/taskroute/taskroute/internal/storage"
)

// openTemp opens a store in a temporary directory, closed when the test ends.
func openTemp(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(tb.TempDir(), Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// TestBlockCacheHoldsBlocksBesideMemtables guards the cache sizing: Pebble charges
// memtables against the block cache, and when they used it all every Get read its filter
// and index blocks from the file again.
func TestBlockCacheHoldsBlocksBesideMemtables(t *testing.T) {
	s := openTemp(t)
	rec := make([]byte, 100)
	for i := 0; i < 20000; i += 1000 {
		b := s.NewBatch()
		for j := i; j < i+1000; j++ {
			b.PutTask("ns", "id-"+strconv.Itoa(j), rec)
		}
		if err := s.Commit(b, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Flush(); err != nil { // the records now live in an sstable
		t.Fatal(err)
	}
	// Grow the memtables to their full size (they start small and double per flush), as
	// in a long-running server.
	big := make([]byte, 64<<10)
	for i := 0; i < 3000; i++ {
		b := s.NewBatch()
		b.PutTask("filler", strconv.Itoa(i), big)
		if err := s.Commit(b, false); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2000; i++ {
		if _, err := s.GetTask(nil, "ns", "id-"+strconv.Itoa(i)); err != nil {
			t.Fatalf("get id-%d: %v", i, err)
		}
		if _, err := s.GetTask(nil, "ns", "id-"+strconv.Itoa(i)+"x"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("get missing id: %v", err)
		}
	}
	m := s.db.Metrics()
	if m.BlockCache.Count == 0 || m.BlockCache.Hits < 3000 {
		t.Fatalf("block cache: %d blocks, %d hits, %d misses: blocks are not cached", m.BlockCache.Count, m.BlockCache.Hits, m.BlockCache.Misses)
	}
	t.Logf("block cache: %d blocks, %d hits, %d misses", m.BlockCache.Count, m.BlockCache.Hits, m.BlockCache.Misses)
}

func TestBacklogEntriesCarryRecords(t *testing.T) {
	s := openTemp(t)
	q := storage.QueueRef{Namespace: "ns", Queue: "q"}
	b := s.NewBatch()
	b.PutBacklog(q, storage.BacklogKey{Kind: 1, Priority: 3, Seq: 7}, "with-record", []byte("record bytes"))
	b.PutBacklog(q, storage.BacklogKey{Kind: 1, Priority: 3, Seq: 8}, "", nil)
	// An entry as older stores wrote it: the bare task id.
	_ = b.(*batch).b.Set(backlogKey(nil, q, storage.BacklogKey{Kind: 1, Priority: 3, Seq: 9}), []byte("bare-id"), nil)
	if err := s.Commit(b, true); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := s.ScanBacklog(q, 1, 3, 0, 10, func(e storage.BacklogEntry) bool {
		got = append(got, strconv.FormatUint(e.Seq, 10)+":"+string(e.TaskID)+":"+string(e.Record)+":"+strconv.FormatBool(e.Record == nil))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "[7:with-record:record bytes:false 8:::false 9:bare-id::true]"
	if g := fmt.Sprint(got); g != want {
		t.Fatalf("entries = %s, want %s", g, want)
	}
}

// TestScanTasksPagesOneNamespaceInIDOrder: a scan sees only its namespace (not one whose
// name extends it), in id order, from after the given id, at most limit records.
func TestScanTasksPagesOneNamespaceInIDOrder(t *testing.T) {
	s := openTemp(t)
	b := s.NewBatch()
	for _, id := range []string{"c", "a", "b", "b\x01", "d"} {
		b.PutTask("ns", id, []byte("rec-"+id))
	}
	b.PutTask("ns2", "a", []byte("other"))
	b.PutTask("n", "z", []byte("other"))
	if err := s.Commit(b, true); err != nil {
		t.Fatal(err)
	}
	scan := func(after string, limit int) (got []string) {
		err := s.ScanTasks("ns", after, limit, func(id string, rec []byte) bool {
			if string(rec) != "rec-"+id {
				t.Errorf("record of %q: %q", id, rec)
			}
			got = append(got, id)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := fmt.Sprint(scan("", 100)); got != fmt.Sprint([]string{"a", "b", "b\x01", "c", "d"}) {
		t.Errorf("all: %q", got)
	}
	if got := fmt.Sprint(scan("b", 2)); got != fmt.Sprint([]string{"b\x01", "c"}) {
		t.Errorf("after b, 2: %q", got)
	}
	if got := scan("d", 10); len(got) != 0 {
		t.Errorf("after the last: %q", got)
	}
}
