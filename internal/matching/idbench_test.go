package matching

import "testing"

// BenchmarkGeneratedIDs makes the ids of a batch of 1,000 tasks added without ids.
func BenchmarkGeneratedIDs(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		ids := newIDBatch(1000)
		for range 1000 {
			ids.keyWithGeneratedID("ns")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/id")
}
