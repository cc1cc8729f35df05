package matching

import (
	"fmt"
	"testing"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// BenchmarkFairPick measures one fair dispatch decision of a subqueue with many active
// fairness keys (each with buffered tasks at one priority): pick the key, take its head,
// charge the key, and give the task back at the tail of its key's level so the number of
// active keys stays the same.
//
//	go test ./internal/matching -run '^$' -bench FairPick -benchmem -count 6
func BenchmarkFairPick(b *testing.B) {
	for _, keys := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("keys-%d", keys), func(b *testing.B) { benchFairPick(b, keys) })
	}
}

func benchFairPick(b *testing.B, keys int) {
	v := openUnchecked(b, b.TempDir(), Options{})
	e := v.e
	const perKey = 2
	specs := make([]*matchingv1.TaskSpec, 0, 1000)
	for k := range keys {
		for i := range perKey {
			specs = append(specs, tspec(fmt.Sprintf("k%d-%d", k, i), func(s *matchingv1.TaskSpec) {
				s.Priority, s.FairnessKey = 3, fmt.Sprintf("tenant-%d", k)
			}))
		}
		if len(specs) >= 1000 || k == keys-1 {
			add(b, e, specs...)
			specs = specs[:0]
		}
	}
	q := e.loadedQueue("ns", "q")
	q.mu.Lock()
	defer q.mu.Unlock()
	sq := q.sub(kindActivity)
	bs := sq.servable(nil, "")
	now := e.now().UnixNano()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l, part := sq.pick(bs, 1<<3, nil, now)
		if l == nil {
			b.Fatal("nothing to pick")
		}
		t := l.pop()
		sq.charge(part.fair, t.priority, t.fairWeight, now)
		t.seq = e.nextSeq() // to the tail of its level: the key stays active
		part.giveBack(t)
	}
}
