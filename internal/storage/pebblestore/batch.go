package pebblestore

import (
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/taskroute/taskroute/internal/storage"
)

// batch is the storage.Batch of a Store. Mutations go straight into a Pebble batch (the
// backlog value is encoded in place); Commit leaves out those that a later mutation of the
// same key supersedes (see elider).
type batch struct {
	b       *pebble.Batch
	spare   *eliderSpare // the store's elider for the commit
	written int          // mutations that reached Pebble, known after Commit
	key     [160]byte
}

func newBatch(pb *pebble.Batch, spare *eliderSpare) *batch { return &batch{b: pb, spare: spare} }

// Len counts every mutation added, superseded or not.
func (b *batch) Len() int { return int(b.b.Count()) }

// Written is the number of mutations Commit passed to Pebble: Len less those elided.
func (b *batch) Written() int { return b.written }

// elide drops the superseded mutations from the Pebble batch before its commit.
func (b *batch) elide() error {
	e := b.spare.get()
	defer b.spare.put(e)
	if err := e.elide(b.b); err != nil {
		return err
	}
	b.written = int(b.b.Count())
	return nil
}

func (b *batch) close() { _ = b.b.Close() }

func (b *batch) set(key, value []byte) { _ = b.b.Set(key, value, nil) }

func (b *batch) delete(key []byte) { _ = b.b.Delete(key, nil) }

func (b *batch) singleDelete(key []byte) { _ = b.b.SingleDelete(key, nil) }

func (b *batch) PutTask(ns, id string, rec []byte) { b.set(taskKey(b.key[:0], ns, id), rec) }
func (b *batch) DeleteTask(ns, id string)          { b.delete(taskKey(b.key[:0], ns, id)) }
func (b *batch) PutBacklog(q storage.QueueRef, k storage.BacklogKey, id string, rec []byte) {
	key := backlogKey(b.key[:0], q, k)
	// Write the value in place in the batch: no intermediate buffer.
	op := b.b.SetDeferred(len(key), backlogValueLen(id, rec))
	copy(op.Key, key)
	appendBacklogValue(op.Value[:0], id, rec)
	_ = op.Finish()
}

// DeleteBacklog, DeleteTimer and DeleteExpiry write SingleDeletes: the engine sets these
// index keys at most once between deletes (the storage.Batch contract), so the tombstone
// and the Set it deletes drop each other when they meet, already in the flush that finds
// both in one memtable (or, both in one batch, before the commit: see elider). A plain
// Delete would be written to L0 and carried down by each compaction until no level below
// may hold its key. Were a live key Set twice, the older Set would reappear: keys without
// that rule (records, configs, sessions) keep Delete. Stores written with Delete stay
// correct: a SingleDelete that meets a Delete of its key in a compaction becomes a Delete.
func (b *batch) DeleteBacklog(q storage.QueueRef, k storage.BacklogKey) {
	b.singleDelete(backlogKey(b.key[:0], q, k))
}
func (b *batch) PutTimer(at time.Time, ns, id string) {
	b.set(timeKey(b.key[:0], prefixTimer, at, ns, id), nil)
}
func (b *batch) DeleteTimer(at time.Time, ns, id string) {
	b.singleDelete(timeKey(b.key[:0], prefixTimer, at, ns, id))
}
func (b *batch) PutExpiry(at time.Time, ns, id string) {
	b.set(timeKey(b.key[:0], prefixExpiry, at, ns, id), nil)
}
func (b *batch) DeleteExpiry(at time.Time, ns, id string) {
	b.singleDelete(timeKey(b.key[:0], prefixExpiry, at, ns, id))
}
func (b *batch) PutConfig(q storage.QueueRef, v []byte) { b.set(configKey(b.key[:0], q), v) }
func (b *batch) DeleteConfig(q storage.QueueRef)        { b.delete(configKey(b.key[:0], q)) }
func (b *batch) PutSession(ns, id string, v []byte)     { b.set(sessionKey(b.key[:0], ns, id), v) }
func (b *batch) DeleteSession(ns, id string)            { b.delete(sessionKey(b.key[:0], ns, id)) }
func (b *batch) PutMeta(name string, v []byte)          { b.set(metaKey(b.key[:0], name), v) }
