package pebblestore

import (
	"strconv"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/storage"
)

const tasksPerBenchBatch = 256

// benchCommits commits b.N batches of tasksPerBenchBatch tasks, each written by write, and
// reports the time and allocations per batch.
func benchCommits(b *testing.B, write func(bt storage.Batch, id string, at time.Time)) {
	s := openTemp(b)
	ids := make([]string, tasksPerBenchBatch)
	at := time.Unix(1_700_000_000, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range ids {
			ids[j] = strconv.Itoa(i*tasksPerBenchBatch + j)
		}
		bt := s.NewBatch()
		for j, id := range ids {
			write(bt, id, at.Add(time.Duration(i*tasksPerBenchBatch+j)))
		}
		if err := s.Commit(bt, false); err != nil {
			b.Fatal(err)
		}
	}
}

var benchRecord = make([]byte, 120)

// BenchmarkCommitDistinctKeys is a group of adds: no key repeats, nothing to elide.
func BenchmarkCommitDistinctKeys(b *testing.B) {
	q := storage.QueueRef{Namespace: "ns", Queue: "q"}
	seq := uint64(0)
	benchCommits(b, func(bt storage.Batch, id string, _ time.Time) {
		seq++
		bt.PutTask("ns", id, benchRecord)
		bt.PutBacklog(q, storage.BacklogKey{Kind: 1, Priority: 3, Seq: seq}, id, benchRecord)
	})
}

// BenchmarkCommitWholeLives writes each task's add, start and end in one batch: the
// records supersede each other and the backlog entry and timer cancel out.
func BenchmarkCommitWholeLives(b *testing.B) {
	q := storage.QueueRef{Namespace: "ns", Queue: "q"}
	seq := uint64(0)
	benchCommits(b, func(bt storage.Batch, id string, at time.Time) {
		seq++
		k := storage.BacklogKey{Kind: 1, Priority: 3, Seq: seq}
		bt.PutTask("ns", id, benchRecord)
		bt.PutBacklog(q, k, id, benchRecord)
		bt.PutTask("ns", id, benchRecord)
		bt.DeleteBacklog(q, k)
		bt.PutTimer(at, "ns", id)
		bt.PutTask("ns", id, benchRecord)
		bt.DeleteTimer(at, "ns", id)
		bt.PutExpiry(at, "ns", id)
	})
}

// BenchmarkElideDistinctKeys is the elider's pass over a group of adds in which nothing
// is superseded: what a batch without repeated keys pays at commit.
func BenchmarkElideDistinctKeys(b *testing.B) {
	s := openTemp(b)
	q := storage.QueueRef{Namespace: "ns", Queue: "q"}
	bt := s.NewBatch().(*batch)
	for j := range tasksPerBenchBatch {
		id := strconv.Itoa(j)
		bt.PutTask("ns", id, benchRecord)
		bt.PutBacklog(q, storage.BacklogKey{Kind: 1, Priority: 3, Seq: uint64(j)}, id, benchRecord)
	}
	var e elider
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := e.elide(bt.b); err != nil || bt.b.Count() != 2*tasksPerBenchBatch {
			b.Fatal(err, bt.b.Count())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2*tasksPerBenchBatch), "ns/mutation")
}
