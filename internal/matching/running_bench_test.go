package matching

import "testing"

// BenchmarkRunningCounts counts one attempt's start and end, as every dispatched task does.
func BenchmarkRunningCounts(b *testing.B) {
	r := newRunningCounts()
	q := queueName{"default", "bench"}
	r.add(q, "worker-1", 1) // another attempt runs, so the queue's entry stays
	b.ReportAllocs()
	for range b.N {
		r.add(q, "worker-1", 1)
		r.add(q, "worker-1", -1)
	}
}
