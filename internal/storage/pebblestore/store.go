// Package pebblestore implements storage.Store on Pebble, an embedded LSM key-value store.
package pebblestore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/taskroute/taskroute/internal/storage"
)

// Store is a storage.Store backed by a Pebble database in one directory.
type Store struct {
	db    *pebble.DB
	spare eliderSpare // an elider for the next batch
}

var _ storage.Store = (*Store)(nil)

// DefaultMemTableBytes is the memtable size unless Options say otherwise. Pebble
// preallocates every WAL file at 110% of the memtable size and keeps up to
// MemTableStopWritesThreshold+1 old ones for reuse, so the memtable size, not the data,
// decides the floor of the directory's disk use: at 64 MiB an almost empty store took
// 423 MB. 4 MiB keeps that floor near 25 MB (docs/benchmarks.md, "Disk use").
const DefaultMemTableBytes = 4 << 20

// Options tune the database; the zero value is fine.
type Options struct {
	// CacheBytes is the block cache size for data, index and filter blocks (memtables are
	// accounted on top); 0 means 64 MiB.
	CacheBytes int64
	// MemTableBytes is the size of a memtable and so of each preallocated WAL file;
	// 0 means DefaultMemTableBytes. Larger values flush less often under heavy write
	// load and cost about 6.6x their size in disk.
	MemTableBytes int64
}

// Open opens (creating if needed) the database in dir. Pebble replays its WAL on open, so a
// process that crashed without Close recovers every synced write.
func Open(dir string, o Options) (*Store, error) {
	if o.CacheBytes == 0 {
		o.CacheBytes = 64 << 20
	}
	if o.MemTableBytes == 0 {
		o.MemTableBytes = DefaultMemTableBytes
	}
	// The memtable memory counted against the block cache in steady state (one mutable
	// memtable and one flushing); beyond that, blocks are evicted for memtables.
	memTableReserve := 2 * o.MemTableBytes
	// Pebble charges every live memtable (the mutable one and those waiting to flush)
	// against the block cache's capacity. Sized at CacheBytes alone, the memtables took the
	// whole cache and no block was ever cached: every read decompressed its filter and index
	// blocks from the file (measured: 57 µs per missing-id Get, half the server's CPU).
	// The budget for blocks is therefore added on top of the memtable reservation.
	cache := pebble.NewCache(o.CacheBytes + memTableReserve)
	defer cache.Unref()
	opts := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                uint64(o.MemTableBytes),
		MemTableStopWritesThreshold: 4,
		// A task's record is written about three times in its life (add, start, end) and
		// its index entries come and go, so most of what L0 holds is soon shadowed. A flushed
		// file holds keys of every prefix, so its range spans the store and every L0 ->
		// Lbase compaction rewrites all of Lbase, which holds every finished record kept for
		// the retention: each compaction is larger than the one before, and how many run is
		// what a sustained write load pays. Pebble compacts L0 once it is threshold/2 files
		// deep: at its default of 4, after every second flush (compactions were 42% of a
		// drain-batched run's CPU). At 64, thirty-two flushes gather, so compactions run a
		// quarter as often as at 16 (the former setting) and each drops more: the service
		// process's CPU for 300,000 tasks fell to 0.82x (docs/benchmarks.md, "Fewer L0
		// compactions"). The price is read amplification (a point read checks up to 32
		// bloom filters, a scan merges up to 32 files) and up to 32 flushed files on disk.
		// Writes stop only at twice that depth, when compactions fall far behind.
		L0CompactionThreshold:    64,
		L0StopWritesThreshold:    128,
		MaxConcurrentCompactions: func() int { return 2 },
		Logger:                   quietLogger{},
	}
	opts.Levels = make([]pebble.LevelOptions, 7)
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloomFilter
		opts.Levels[i].BlockSize = 32 << 10
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("opening pebble in %s: %w", dir, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// NewBatch returns an empty batch.
func (s *Store) NewBatch() storage.Batch { return newBatch(s.db.NewBatch(), &s.spare) }

// Commit applies the batch atomically, without the mutations a later one of the same key
// in the batch supersedes (see elider).
func (s *Store) Commit(b storage.Batch, sync bool) error {
	bt := b.(*batch)
	defer bt.close()
	if err := bt.elide(); err != nil {
		return err
	}
	pb := bt.b
	if pb.Empty() {
		return nil
	}
	opt := pebble.NoSync
	if sync {
		opt = pebble.Sync
	}
	if err := pb.Commit(opt); err != nil {
		if errors.Is(err, pebble.ErrClosed) {
			return storage.ErrClosed
		}
		return err
	}
	return nil
}

// GetTask appends a task record to dst.
func (s *Store) GetTask(dst []byte, ns, id string) ([]byte, error) {
	var kb [128]byte
	return s.get(dst, taskKey(kb[:0], ns, id))
}

// GetMeta returns a copy of a bookkeeping value.
func (s *Store) GetMeta(name string) ([]byte, error) {
	var kb [64]byte
	return s.get(nil, metaKey(kb[:0], name))
}

// get appends the value of key to dst.
func (s *Store) get(dst, key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return dst, storage.ErrNotFound
	}
	if err != nil {
		return dst, err
	}
	dst = append(dst, v...)
	closer.Close()
	return dst, nil
}

// ScanTasks visits a namespace's task records after a task id.
func (s *Store) ScanTasks(ns, after string, limit int, fn func(string, []byte) bool) error {
	prefix := taskKey(nil, ns, "")
	lower := prefix
	if after != "" {
		lower = append(taskKey(nil, ns, after), 0) // the smallest key after after's
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok && n < limit; ok = it.Next() {
		n++
		if !fn(string(it.Key()[len(prefix):]), it.Value()) {
			break
		}
	}
	return it.Error()
}

// ScanBacklog visits backlog entries after a sequence number.
func (s *Store) ScanBacklog(q storage.QueueRef, kind, prio uint8, after uint64, limit int, fn func(storage.BacklogEntry) bool) error {
	prefix := backlogLevelPrefix(nil, q, kind, prio)
	lower := binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), after+1)
	if after == ^uint64(0) {
		return nil
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok && n < limit; ok = it.Next() {
		k := it.Key()
		e := storage.BacklogEntry{Seq: binary.BigEndian.Uint64(k[len(prefix):])}
		e.TaskID, e.Record = parseBacklogValue(it.Value())
		n++
		if !fn(e) {
			break
		}
	}
	return it.Error()
}

// CountBacklog counts the backlog of one level with a key-only scan.
func (s *Store) CountBacklog(q storage.QueueRef, kind, prio uint8) (int64, uint64, error) {
	prefix := backlogLevelPrefix(nil, q, kind, prio)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return 0, 0, err
	}
	defer it.Close()
	var n int64
	var oldest uint64
	for ok := it.First(); ok; ok = it.Next() {
		if n == 0 {
			oldest = binary.BigEndian.Uint64(it.Key()[len(prefix):])
		}
		n++
	}
	return n, oldest, it.Error()
}

// BacklogQueues skips from queue to queue of a namespace's backlog by seeking past each
// (and past its partitions).
func (s *Store) BacklogQueues(ns, after string, fn func(string) bool) error {
	nsPrefix := append([]byte{prefixBacklog}, ns...)
	nsPrefix = append(nsPrefix, 0)
	return s.skipNames(nsPrefix, after, func(name []byte) bool { return fn(string(name)) }, partitionSep+1)
}

// BacklogPartitions skips from partition to partition of one queue's backlog.
func (s *Store) BacklogPartitions(q storage.QueueRef, fn func(string) bool) error {
	prefix := append([]byte{prefixBacklog}, q.Namespace...)
	prefix = append(prefix, 0)
	prefix = append(prefix, q.Queue...)
	prefix = append(prefix, partitionSep)
	return s.skipNames(prefix, "", func(name []byte) bool { return fn(string(name)) }, 1)
}

// skipNames calls fn with each distinct name (up to the next zero byte) of the keys under
// prefix, from the first name after after, seeking past each name's keys: the next name
// starts at name+bump (1 skips the name's zero-separated keys; 2 also its partitions).
func (s *Store) skipNames(prefix []byte, after string, fn func([]byte) bool, bump byte) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	seek := prefix
	if after != "" {
		seek = append(append(append([]byte(nil), prefix...), after...), bump)
	}
	for ok := it.SeekGE(seek); ok; {
		rest := it.Key()[len(prefix):]
		end := bytes.IndexByte(rest, 0)
		if end < 0 {
			end = len(rest)
		}
		name := rest[:end]
		if bump > 1 {
			if i := bytes.IndexByte(name, partitionSep); i >= 0 {
				name = name[:i]
			}
		}
		next := append(append(append([]byte(nil), prefix...), name...), bump)
		if !fn(name) {
			break
		}
		ok = it.SeekGE(next)
	}
	return it.Error()
}

func (s *Store) scanTime(prefix byte, from, before time.Time, limit int, fn func(storage.TimerEntry) bool) error {
	lower := []byte{prefix}
	if !from.IsZero() {
		lower = binary.BigEndian.AppendUint64(lower, uint64(from.UnixNano()))
	}
	upper := []byte{prefix + 1}
	if !before.IsZero() {
		upper = binary.BigEndian.AppendUint64([]byte{prefix}, uint64(before.UnixNano()))
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok && n < limit; ok = it.Next() {
		e, valid := parseTimeKey(it.Key())
		if !valid {
			continue
		}
		n++
		if !fn(e) {
			break
		}
	}
	return it.Error()
}

// ScanTimers visits timers from a deadline on.
func (s *Store) ScanTimers(from time.Time, limit int, fn func(storage.TimerEntry) bool) error {
	return s.scanTime(prefixTimer, from, time.Time{}, limit, fn)
}

// ScanExpiries visits expiries before a time.
func (s *Store) ScanExpiries(before time.Time, limit int, fn func(storage.TimerEntry) bool) error {
	return s.scanTime(prefixExpiry, time.Time{}, before, limit, fn)
}

// ScanConfigs visits every queue configuration.
func (s *Store) ScanConfigs(fn func(storage.QueueRef, []byte) bool) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixConfig}, UpperBound: []byte{prefixConfig + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		rest := it.Key()[1:]
		for i, c := range rest {
			if c == 0 {
				if !fn(storage.QueueRef{Namespace: string(rest[:i]), Queue: string(rest[i+1:])}, append([]byte(nil), it.Value()...)) {
					return it.Error()
				}
				break
			}
		}
	}
	return it.Error()
}

// ScanSessions visits every session record.
func (s *Store) ScanSessions(fn func(ns, id string, value []byte) bool) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixSession}, UpperBound: []byte{prefixSession + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		ns, id, found := bytes.Cut(it.Key()[1:], []byte{0})
		if found && !fn(string(ns), string(id), it.Value()) {
			break
		}
	}
	return it.Error()
}
