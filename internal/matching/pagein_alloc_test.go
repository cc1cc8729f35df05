package matching

import (
	"fmt"
	"testing"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// pageSize is the page a pageInFixture reads: its BufferSize.
const pageSize = 1000

// pageInFixture is an engine whose queue "q" has 2*pageSize tasks on disk, the first page of
// which it pages in again and again (reset, then load) through the real store.
type pageInFixture struct {
	v    *env
	b    *backlog
	prio uint8
	l    *level
}

func newPageInFixture(tb testing.TB) *pageInFixture {
	v := openUnchecked(tb, tb.TempDir(), Options{BufferSize: pageSize})
	specs := make([]*matchingv1.TaskSpec, 2*pageSize)
	for i := range specs {
		specs[i] = tspec(fmt.Sprintf("task-%05d", i))
	}
	add(tb, v.e, specs...)
	f := &pageInFixture{v: v, b: &v.e.queue("ns", "q").sub(kindActivity).plain}
	for p, l := range f.b.levels {
		if l != nil && l.count > 0 {
			f.prio, f.l = uint8(p), l
		}
	}
	if f.l == nil || f.l.count != 2*pageSize {
		tb.Fatalf("want a level of %d tasks", 2*pageSize)
	}
	return f
}

// reset empties the level's buffer and drops its tasks from memory, as if they had been
// added while the buffer was full: all of them wait on disk only.
func (f *pageInFixture) reset() {
	q, tt := f.b.q, f.b.q.e.tasks
	q.mu.Lock()
	buffered := append([]*task(nil), f.l.buf[f.l.head:]...)
	for _, t := range buffered {
		t.inq.Store(inqNone)
	}
	f.l.buf, f.l.head = f.l.buf[:0], 0
	f.l.cursor, f.l.diskTail, f.l.loading = 0, true, true
	q.mu.Unlock()
	for _, t := range buffered {
		s, _ := tt.shard(t.key)
		s.mu.Lock()
		s.evict(t.key, t)
		s.mu.Unlock()
	}
}

// load pages the first page in and checks that it filled the buffer.
func (f *pageInFixture) load(tb testing.TB) {
	f.b.pageIn(f.prio, f.l)
	if n := f.l.len(); n != pageSize {
		tb.Fatalf("paged in %d tasks; want %d", n, pageSize)
	}
}

// maxAllocsPerPagedTask bounds the allocations of paging one task in from disk: the task,
// its key (with the namespace and id as slices of it) and its payload, plus a few per page
// (the iterator, the key buffer). It was 4 while the store copied each entry's id into a
// string.
const maxAllocsPerPagedTask = 3.05

func TestPageInAllocations(t *testing.T) {
	f := newPageInFixture(t)
	f.reset()
	f.load(t) // warm the shards' reused names and the buffer's capacity
	perTask := testing.AllocsPerRun(5, func() {
		f.reset()
		f.load(t)
	}) / pageSize
	t.Logf("%.2f allocations per paged task", perTask)
	if perTask > maxAllocsPerPagedTask {
		t.Fatalf("%.2f allocations per paged task; want at most %.2f", perTask, maxAllocsPerPagedTask)
	}
}

// BenchmarkPageIn pages in 1,000 backlog entries per op from the real store.
func BenchmarkPageIn(b *testing.B) {
	f := newPageInFixture(b)
	f.reset()
	f.load(b)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		f.reset()
		b.StartTimer()
		f.load(b)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*pageSize), "ns/task")
}

// TestShardOfBytesIsShardOfString: a page load finds a task's shard from the key's bytes,
// everything else from the key string; both must name the same shard.
func TestShardOfBytesIsShardOfString(t *testing.T) {
	tt := newTaskTable(nil)
	for i := range 1000 {
		key := taskKey("ns", fmt.Sprintf("task-%d", i))
		s, si := tt.shard(key)
		b, bi := tt.shardOfBytes(appendTaskKey(nil, "ns", []byte(key[3:])))
		if s != b || si != bi {
			t.Fatalf("%q: shard %d from the string, %d from the bytes", key, si, bi)
		}
	}
}
