package pebblestore

import (
	"slices"
	"testing"

	"github.com/taskroute/taskroute/internal/storage"
)

// Partitions of a queue's backlog are separate backlogs under the queue's name: listed
// with the queue once, enumerable per queue, and scanned and counted apart.
func TestBacklogPartitions(t *testing.T) {
	s := openTemp(t)
	refs := []storage.QueueRef{
		{Namespace: "ns", Queue: "a"},
		{Namespace: "ns", Queue: "a", Partition: "gpu=a100"},
		{Namespace: "ns", Queue: "a", Partition: "arch=arm64\x1fgpu="},
		{Namespace: "ns", Queue: "a-b"},
		{Namespace: "ns", Queue: "b", Partition: "gpu="},
	}
	b := s.NewBatch()
	for i, r := range refs {
		for seq := uint64(1); seq <= uint64(i+1); seq++ {
			b.PutBacklog(r, storage.BacklogKey{Kind: 1, Priority: 3, Seq: seq}, "t", []byte("rec"))
		}
	}
	if err := s.Commit(b, true); err != nil {
		t.Fatal(err)
	}
	var queues []string
	if err := s.BacklogQueues("ns", "", func(q string) bool { queues = append(queues, q); return true }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(queues, []string{"a", "a-b", "b"}) {
		t.Fatalf("queues = %q", queues)
	}
	queues = nil
	if err := s.BacklogQueues("ns", "a", func(q string) bool { queues = append(queues, q); return true }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(queues, []string{"a-b", "b"}) {
		t.Fatalf("queues after a = %q", queues)
	}
	var parts []string
	if err := s.BacklogPartitions(refs[0], func(p string) bool { parts = append(parts, p); return true }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(parts, []string{"arch=arm64\x1fgpu=", "gpu=a100"}) {
		t.Fatalf("partitions of a = %q", parts)
	}
	for i, r := range refs {
		n, _, err := s.CountBacklog(r, 1, 3)
		if err != nil || n != int64(i+1) {
			t.Fatalf("count of %+v = %d, %v; want %d", r, n, err, i+1)
		}
	}
}
