package matching

import (
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/storage"
)

const numShards = 64

// taskTable holds the tasks the engine keeps in memory, in shards by key: running tasks,
// buffered backlog tasks, tasks with writes in flight or with waiters. Everything else
// lives only in storage. A task's fields are guarded by its shard's lock.
type taskTable struct {
	store  storage.Store
	seed   maphash.Seed
	shards [numShards]shard
}

// shard is one lock's worth of the task table.
type shard struct {
	mu    sync.Mutex
	tasks map[string]*task // key: namespace \x00 id
	// evictions counts tasks dropped from memory and evicted remembers the key hashes of
	// the last ones: a storage read made before locking (AddTasks' existence check, a
	// backlog page's record copies) is current for a task that is not in memory now and
	// was not evicted since (see mayHaveEvicted).
	evictions atomic.Uint64
	evicted   [evictedRing]uint64
	recent    recentNames // of the records this shard decoded last (decodeTaskReusing)
}

const evictedRing = 64

var evictSeed = maphash.MakeSeed()

func newTaskTable(store storage.Store) *taskTable {
	tt := &taskTable{store: store, seed: maphash.MakeSeed()}
	for i := range tt.shards {
		tt.shards[i].tasks = map[string]*task{}
	}
	return tt
}

func taskKey(ns, id string) string { return ns + "\x00" + id }

// appendTaskKey appends the key of the task ns/id to dst: a page load builds each entry's
// key in one reused buffer and indexes the table with it without allocating.
func appendTaskKey(dst []byte, ns string, id []byte) []byte {
	dst = append(dst, ns...)
	dst = append(dst, 0)
	return append(dst, id...)
}

// completionKeys returns the keys of the tasks the requests name, all slices of one string
// (one allocation per batch). They are for lookups only: a task is stored in the table
// under its own key (task.key), so no batch's string outlives the call.
func completionKeys(reqs []*matchingv1.CompleteTaskRequest) []string {
	n := 0
	for _, r := range reqs {
		n += len(r.GetNamespace()) + 1 + len(r.GetTaskId())
	}
	var b strings.Builder
	b.Grow(n)
	for _, r := range reqs {
		b.WriteString(r.GetNamespace())
		b.WriteByte(0)
		b.WriteString(r.GetTaskId())
	}
	all := b.String()
	keys := make([]string, len(reqs))
	for i, r := range reqs {
		n := len(r.GetNamespace()) + 1 + len(r.GetTaskId())
		keys[i], all = all[:n], all[n:]
	}
	return keys
}

// keyOf builds the key of the task ns/id from a record's bytes and returns it with the
// namespace and id as slices of it: one allocation for the three strings.
func keyOf(ns, id []byte) (key, nsStr, idStr string) {
	var b strings.Builder
	b.Grow(len(ns) + 1 + len(id))
	b.Write(ns)
	b.WriteByte(0)
	b.Write(id)
	key = b.String()
	return key, key[:len(ns)], key[len(ns)+1:]
}

func (tt *taskTable) index(key string) int { return int(maphash.String(tt.seed, key) % numShards) }

// shard returns the shard of key and its index.
func (tt *taskTable) shard(key string) (*shard, int) {
	i := tt.index(key)
	return &tt.shards[i], i
}

// shardOfBytes is shard for a key held in a byte slice (maphash hashes a string and the
// same bytes alike).
func (tt *taskTable) shardOfBytes(key []byte) (*shard, int) {
	i := int(maphash.Bytes(tt.seed, key) % numShards)
	return &tt.shards[i], i
}

// shardSet is a set of shard indexes, locked and unlocked in index order (the lock order
// for several shards).
type shardSet [numShards]bool

func (tt *taskTable) lockAll(set *shardSet) {
	for i := range set {
		if set[i] {
			tt.shards[i].mu.Lock()
		}
	}
}

func (tt *taskTable) unlockAll(set *shardSet) {
	for i := range set {
		if set[i] {
			tt.shards[i].mu.Unlock()
		}
	}
}

// evictionCounts snapshots every shard's eviction count (see shard.mayHaveEvicted).
func (tt *taskTable) evictionCounts() (c [numShards]uint64) {
	for i := range tt.shards {
		c[i] = tt.shards[i].evictions.Load()
	}
	return c
}

// lookup returns the task from memory or loads it from storage into memory. Call with
// the shard locked; a task loaded only to be read must be passed to evict afterwards.
func (tt *taskTable) lookup(s *shard, key, ns, id string) (*task, error) {
	if t, ok := s.tasks[key]; ok {
		return t, nil
	}
	rec, err := tt.store.GetTask(nil, ns, id)
	if err != nil {
		return nil, err
	}
	t, err := decodeTaskReusing(rec, &s.recent)
	if err != nil {
		return nil, fmt.Errorf("task %s/%s: %w", ns, id, err)
	}
	s.tasks[t.key] = t
	return t, nil
}

// loadForScan returns the task of a backlog entry (its key ns \x00 id in key, aliasing the
// scan's memory like the entry) read by a scan that began when the shard's eviction count
// was since: from memory, from the entry's record copy when that is current, or from
// storage. Only the last allocates its key. Call with the shard locked.
func (tt *taskTable) loadForScan(s *shard, key []byte, ns string, ent storage.BacklogEntry, since uint64) (*task, error) {
	if t, inMemory := s.tasks[string(key)]; inMemory { // the conversion does not allocate
		return t, nil
	}
	if ent.Record != nil && !s.mayHaveEvictedBytes(key, since) {
		t, err := decodeTaskReusing(ent.Record, &s.recent)
		if err == nil {
			s.tasks[t.key] = t
		}
		return t, err
	}
	return tt.lookup(s, string(key), ns, string(ent.TaskID))
}

// mayHaveEvicted reports whether key may have been dropped from memory since the shard's
// eviction count was since: true when it is among the evictions remembered since then or
// when more happened than are remembered. Call with the shard locked.
func (s *shard) mayHaveEvicted(key string, since uint64) bool {
	n := s.evictions.Load()
	return n != since && s.evictedAmong(maphash.String(evictSeed, key), since, n)
}

// mayHaveEvictedBytes is mayHaveEvicted for a key held in a byte slice (a page load's).
func (s *shard) mayHaveEvictedBytes(key []byte, since uint64) bool {
	n := s.evictions.Load()
	return n != since && s.evictedAmong(maphash.Bytes(evictSeed, key), since, n)
}

// evictedAmong reports whether the key hash h is among the shard's evictions numbered
// since to n, or whether more than the remembered ones happened.
func (s *shard) evictedAmong(h, since, n uint64) bool {
	if n-since > evictedRing {
		return true
	}
	for i := since; i < n; i++ {
		if s.evicted[i%evictedRing] == h {
			return true
		}
	}
	return false
}

// evict drops a task from memory when nothing needs it there: no write in flight, not in a
// backlog buffer, not running, nobody waiting for it. Call with the shard locked.
func (s *shard) evict(key string, t *task) {
	if t.pending == 0 && t.inq.Load() == inqNone && t.state != stateStarted && len(t.waiters) == 0 {
		if cur, ok := s.tasks[key]; ok && cur == t {
			delete(s.tasks, key)
			s.evicted[s.evictions.Load()%evictedRing] = maphash.String(evictSeed, key)
			s.evictions.Add(1)
		}
	}
}
