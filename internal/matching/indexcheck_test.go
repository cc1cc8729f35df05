package matching

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/taskroute/taskroute/internal/storage"
	"github.com/taskroute/taskroute/internal/storage/pebblestore"
)

// indexCheckStore is the real store with a check of the storage.Batch contract on index
// keys, which lets the store delete them with Pebble's SingleDelete: at each commit it
// replays the batch's backlog, timer and expiry puts and deletes against the store's state
// before the commit, and fails the test on a put of a key that has an entry (a SingleDelete
// would let the older entry reappear) or a delete of a key that has none (the engine lost
// track of its entries). Every engine test that opens its store with open runs under it.
type indexCheckStore struct {
	storage.Store
	tb       testing.TB
	mu       sync.Mutex      // one commit checked at a time, so the store's state is the one before it
	expiries map[string]bool // the expiry index (it cannot be probed by key), read at open
	checked  atomic.Int64    // index puts and deletes checked
}

func newIndexCheckStore(tb testing.TB, st storage.Store) *indexCheckStore {
	s := &indexCheckStore{Store: st, tb: tb, expiries: map[string]bool{}}
	err := st.ScanExpiries(time.Unix(0, math.MaxInt64), math.MaxInt, func(te storage.TimerEntry) bool {
		s.expiries[indexKey{kind: 'x', at: te.At.UnixNano(), ns: te.Namespace, id: te.TaskID}.String()] = true
		return true
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// indexKey is one key of the backlog ('b'), timer ('d') or expiry ('x') index.
type indexKey struct {
	kind   byte
	q      storage.QueueRef
	k      storage.BacklogKey
	at     int64
	ns, id string
}

func (k indexKey) String() string {
	if k.kind == 'b' {
		return fmt.Sprintf("backlog %s/%s/%q kind %d priority %d seq %d", k.q.Namespace, k.q.Queue, k.q.Partition, k.k.Kind, k.k.Priority, k.k.Seq)
	}
	return fmt.Sprintf("%c %d %s/%s", k.kind, k.at, k.ns, k.id)
}

// indexOp is a put (or delete) of an index key.
type indexOp struct {
	put bool
	key indexKey
}

// checkedBatch records the index operations of a batch in order.
type checkedBatch struct {
	storage.Batch
	ops []indexOp
}

func (s *indexCheckStore) NewBatch() storage.Batch { return &checkedBatch{Batch: s.Store.NewBatch()} }

func (b *checkedBatch) PutBacklog(q storage.QueueRef, k storage.BacklogKey, id string, rec []byte) {
	b.Batch.PutBacklog(q, k, id, rec)
	b.ops = append(b.ops, indexOp{put: true, key: indexKey{kind: 'b', q: q, k: k}})
}

func (b *checkedBatch) DeleteBacklog(q storage.QueueRef, k storage.BacklogKey) {
	b.Batch.DeleteBacklog(q, k)
	b.ops = append(b.ops, indexOp{key: indexKey{kind: 'b', q: q, k: k}})
}

func (b *checkedBatch) PutTimer(at time.Time, ns, id string) {
	b.Batch.PutTimer(at, ns, id)
	b.ops = append(b.ops, indexOp{put: true, key: indexKey{kind: 'd', at: at.UnixNano(), ns: ns, id: id}})
}

func (b *checkedBatch) DeleteTimer(at time.Time, ns, id string) {
	b.Batch.DeleteTimer(at, ns, id)
	b.ops = append(b.ops, indexOp{key: indexKey{kind: 'd', at: at.UnixNano(), ns: ns, id: id}})
}

func (b *checkedBatch) PutExpiry(at time.Time, ns, id string) {
	b.Batch.PutExpiry(at, ns, id)
	b.ops = append(b.ops, indexOp{put: true, key: indexKey{kind: 'x', at: at.UnixNano(), ns: ns, id: id}})
}

func (b *checkedBatch) DeleteExpiry(at time.Time, ns, id string) {
	b.Batch.DeleteExpiry(at, ns, id)
	b.ops = append(b.ops, indexOp{key: indexKey{kind: 'x', at: at.UnixNano(), ns: ns, id: id}})
}

// Commit checks the batch's index operations in order, then commits it.
func (s *indexCheckStore) Commit(b storage.Batch, sync bool) error {
	cb := b.(*checkedBatch)
	s.mu.Lock()
	defer s.mu.Unlock()
	after := map[string]bool{} // keys the batch touched: whether each has an entry after it
	for _, op := range cb.ops {
		name := op.key.String()
		has, touched := after[name]
		if !touched {
			has = s.exists(op.key, name)
		}
		switch {
		case op.put && has:
			s.tb.Errorf("put of %s, which has an entry: a SingleDelete of it would let the older entry reappear", name)
		case !op.put && !has:
			s.tb.Errorf("delete of %s, which has no entry", name)
		}
		after[name] = op.put
	}
	if err := s.Store.Commit(cb.Batch, sync); err != nil {
		return err
	}
	for _, op := range cb.ops {
		if op.key.kind == 'x' {
			s.expiries[op.key.String()] = op.put
		}
	}
	s.checked.Add(int64(len(cb.ops)))
	return nil
}

// exists reports whether key has an entry in the store.
func (s *indexCheckStore) exists(key indexKey, name string) bool {
	found := false
	var err error
	switch key.kind {
	case 'b':
		err = s.Store.ScanBacklog(key.q, key.k.Kind, key.k.Priority, key.k.Seq-1, 1, func(e storage.BacklogEntry) bool {
			found = e.Seq == key.k.Seq
			return false
		})
	case 'd':
		err = s.Store.ScanTimers(time.Unix(0, key.at), math.MaxInt, func(te storage.TimerEntry) bool {
			found = te.At.UnixNano() == key.at && te.Namespace == key.ns && te.TaskID == key.id
			return !found && te.At.UnixNano() == key.at
		})
	case 'x':
		found = s.expiries[name]
	}
	if err != nil {
		s.tb.Errorf("probing %s: %v", name, err)
	}
	return found
}

// errorRecorder is a testing.TB that keeps what Errorf reports.
type errorRecorder struct {
	testing.TB
	errs []string
}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestIndexCheckStoreCatchesViolations: the check sees a put of a key that has an entry in
// the store (put by an earlier commit) or earlier in the same batch, and a delete of a key
// without one; puts and deletes that alternate pass.
func TestIndexCheckStoreCatchesViolations(t *testing.T) {
	st, err := pebblestore.Open(t.TempDir(), pebblestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := &errorRecorder{TB: t}
	s := newIndexCheckStore(rec, st)
	q := storage.QueueRef{Namespace: "ns", Queue: "q"}
	k := storage.BacklogKey{Kind: kindActivity, Priority: 3, Seq: 7}
	at := time.Unix(0, 1_700_000_000_000_000_000)
	commit := func(write func(storage.Batch)) {
		b := s.NewBatch()
		write(b)
		if err := s.Commit(b, false); err != nil {
			t.Fatal(err)
		}
	}
	commit(func(b storage.Batch) {
		b.PutBacklog(q, k, "id", nil)
		b.PutTimer(at, "ns", "id")
		b.PutExpiry(at, "ns", "id")
	})
	commit(func(b storage.Batch) {
		b.DeleteBacklog(q, k)
		b.DeleteTimer(at, "ns", "id")
		b.DeleteExpiry(at, "ns", "id")
	})
	commit(func(b storage.Batch) {
		b.PutBacklog(q, k, "id", nil)
		b.PutTimer(at, "ns", "id")
		b.PutExpiry(at, "ns", "id")
	})
	if len(rec.errs) != 0 {
		t.Fatalf("alternating puts and deletes reported: %v", rec.errs)
	}
	commit(func(b storage.Batch) {
		b.PutBacklog(q, k, "id", nil)
		b.PutTimer(at, "ns", "id")
		b.PutExpiry(at, "ns", "id")
	})
	commit(func(b storage.Batch) { b.DeleteBacklog(q, k); b.DeleteBacklog(q, k) })
	commit(func(b storage.Batch) { b.PutTimer(at.Add(1), "ns", "id"); b.PutTimer(at.Add(1), "ns", "id") })
	if len(rec.errs) != 5 {
		t.Fatalf("reported %d violations, want 5 (three puts of keys with entries, a second delete, a second put in one batch): %q", len(rec.errs), rec.errs)
	}
}
