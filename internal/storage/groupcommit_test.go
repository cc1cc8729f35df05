package storage_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/storage"
	"github.com/taskroute/taskroute/internal/storage/pebblestore"
)

func openStore(tb testing.TB) *pebblestore.Store {
	s, err := pebblestore.Open(tb.TempDir(), pebblestore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestGroupCommitDurableAndOrdered(t *testing.T) {
	s := openStore(t)
	c := storage.NewGroupCommitter(s)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				id := fmt.Sprintf("%d-%d", w, i)
				if err := c.Write(func(b storage.Batch) { b.PutTask("ns", id, []byte("v1")) }).Wait(); err != nil {
					t.Error(err)
				}
				// A later write of the same key lands after the earlier one.
				c.Write(func(b storage.Batch) { b.PutTask("ns", id, []byte("v2")) })
			}
		}(w)
	}
	wg.Wait()
	c.Close()
	commits, muts := c.Stats()
	if muts != 800 || commits == 0 || commits > muts {
		t.Fatalf("commits=%d mutations=%d", commits, muts)
	}
	for w := 0; w < 8; w++ {
		for i := 0; i < 50; i++ {
			v, err := s.GetTask(nil, "ns", fmt.Sprintf("%d-%d", w, i))
			if err != nil || string(v) != "v2" {
				t.Fatalf("%d-%d = %q, %v", w, i, v, err)
			}
		}
	}
	t.Logf("800 writes from 8 writers: %d synced commits", commits)
	if err := c.Write(func(storage.Batch) {}).Wait(); err != storage.ErrClosed {
		t.Fatalf("write after close: %v", err)
	}
}

// TestGroupCommitCountsWrittenMutations: Stats counts every mutation added, Written only
// those that reached the store, without the ones a later mutation of their key in the
// same commit superseded (a record put twice, a backlog entry put and deleted).
func TestGroupCommitCountsWrittenMutations(t *testing.T) {
	c := storage.NewGroupCommitter(openStore(t))
	q := storage.QueueRef{Namespace: "ns", Queue: "q"}
	k := storage.BacklogKey{Kind: 1, Priority: 3, Seq: 1}
	err := c.Write(func(b storage.Batch) {
		b.PutTask("ns", "a", []byte("added"))
		b.PutBacklog(q, k, "a", []byte("added"))
		b.PutTask("ns", "a", []byte("started"))
		b.DeleteBacklog(q, k)
	}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, muts := c.Stats(); muts != 4 {
		t.Fatalf("Stats counted %d mutations, want the 4 added", muts)
	}
	if w := c.Written(); w != 1 {
		t.Fatalf("Written %d, want 1 (the last record)", w)
	}
}

// BenchmarkSyncedCommit measures one synced Pebble commit of a batch of n task records.
func BenchmarkSyncedCommit(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprint("batch=", n), func(b *testing.B) {
			s := openStore(b)
			val := make([]byte, 100)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bt := s.NewBatch()
				for j := 0; j < n; j++ {
					bt.PutTask("ns", fmt.Sprint(i, "-", j), val)
				}
				if err := s.Commit(bt, true); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkGroupCommit: 64 concurrent writers, one record each per synced write.
func BenchmarkGroupCommit(b *testing.B) {
	s := openStore(b)
	c := storage.NewGroupCommitter(s)
	defer c.Close()
	val := make([]byte, 100)
	b.SetParallelism(32)
	start := time.Now()
	var n sync.Mutex
	i := 0
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n.Lock()
			i++
			id := fmt.Sprint(i)
			n.Unlock()
			if err := c.Write(func(bt storage.Batch) { bt.PutTask("ns", id, val) }).Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	commits, muts := c.Stats()
	b.ReportMetric(float64(muts)/time.Since(start).Seconds(), "writes/s")
	b.ReportMetric(float64(muts)/float64(max(commits, 1)), "writes/sync")
}
