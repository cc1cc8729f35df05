package pebblestore

import (
	"strconv"
	"testing"
)

// TestL0GathersFilesBeforeCompacting guards the L0 threshold: task records are rewritten
// soon after they are written, over the whole key space, so every flushed file overlaps
// all others and every L0 compaction rewrites the level below. Pebble compacts L0 once it
// is threshold/2 files deep: thirty-one such flushes must stay in L0 (no compaction yet);
// at its usual threshold of 4 they were compacted after the second, at the former 16
// after the eighth.
func TestL0GathersFilesBeforeCompacting(t *testing.T) {
	s := openTemp(t)
	rec := make([]byte, 100)
	const flushes = 31
	for f := 0; f < flushes; f++ {
		b := s.NewBatch()
		for i := 0; i < 1000; i++ {
			b.PutTask("ns", "id-"+strconv.Itoa(i*flushes+f), rec) // spread over the key space
		}
		if err := s.Commit(b, false); err != nil {
			t.Fatal(err)
		}
		if err := s.db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	m := s.db.Metrics()
	if got := m.Levels[0].NumFiles; got != flushes || m.Compact.Count != 0 {
		t.Fatalf("after %d overlapping flushes: %d files in L0, %d compactions; want %d files, none compacted", flushes, got, m.Compact.Count, flushes)
	}
}
