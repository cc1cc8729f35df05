// Package storage is the durable state of the matching service behind a small interface,
// so a shared SQL backend can be added later next to the embedded Pebble one.
//
// The model is deliberately narrow: task records keyed by namespace and id, a backlog index
// per queue/kind/priority ordered by sequence, a timer index ordered by deadline, a
// retention index ordered by expiry, and queue configurations. Every mutation goes through a
// Batch that is committed atomically; the engine decides what a batch contains.
package storage

import (
	"errors"
	"time"
)

// ErrNotFound is returned by Get* when the key does not exist.
var ErrNotFound = errors.New("storage: not found")

// QueueRef names a queue: namespace and queue name. Neither may contain a zero byte.
// Partition names one backlog of the queue (tasks with the same routing requirements);
// empty is the queue's plain backlog. It matters to backlog keys only and may not contain
// a zero byte.
type QueueRef struct {
	Namespace string
	Queue     string
	Partition string
}

// BacklogKey locates one waiting task of a queue.
type BacklogKey struct {
	Kind     uint8
	Priority uint8
	Seq      uint64
}

// BacklogEntry is one entry of the backlog index. Record is the task record written with
// the entry (nil for entries written without one). TaskID and Record alias the store's
// memory and are only valid during the callback: a page load reads its tasks' keys from
// them without a copy per entry.
type BacklogEntry struct {
	Seq    uint64
	TaskID []byte
	Record []byte
}

// TimerEntry is one entry of the timer (or expiry) index.
type TimerEntry struct {
	At        time.Time
	Namespace string
	TaskID    string
}

// Store is the durable state. Implementations must be safe for concurrent use.
type Store interface {
	// NewBatch returns an empty batch.
	NewBatch() Batch
	// Commit applies b atomically; with sync it returns after the write reached stable
	// storage. b must not be used afterwards. A store may leave out a mutation that a
	// later one of the same key in b supersedes (a put followed by another put or a
	// delete of its key, an index key's put followed by its delete): the outcome is the
	// same.
	Commit(b Batch, sync bool) error

	// GetTask appends the record of a task to dst.
	GetTask(dst []byte, namespace, taskID string) ([]byte, error)
	// ScanTasks calls fn with the task records of namespace whose ids sort after after, in
	// id order, until fn returns false or limit records were visited. record is only valid
	// during the callback.
	ScanTasks(namespace, after string, limit int, fn func(taskID string, record []byte) bool) error
	// ScanBacklog calls fn for the backlog entries of q/kind/priority with Seq > after, in
	// Seq order, until fn returns false or limit entries were visited.
	ScanBacklog(q QueueRef, kind, priority uint8, after uint64, limit int, fn func(BacklogEntry) bool) error
	// CountBacklog counts the backlog entries of q/kind/priority and returns the smallest Seq
	// (0 when empty).
	CountBacklog(q QueueRef, kind, priority uint8) (count int64, oldest uint64, err error)
	// BacklogQueues calls fn with each queue of namespace that has backlog entries (in any
	// partition), in name order, starting after the queue name after.
	BacklogQueues(namespace, after string, fn func(queue string) bool) error
	// BacklogPartitions calls fn with each non-empty partition of q that has backlog
	// entries, in order (q.Partition is ignored).
	BacklogPartitions(q QueueRef, fn func(partition string) bool) error
	// ScanTimers calls fn for timer entries with At >= from in deadline order.
	ScanTimers(from time.Time, limit int, fn func(TimerEntry) bool) error
	// ScanExpiries calls fn for expiry entries with At < before in order.
	ScanExpiries(before time.Time, limit int, fn func(TimerEntry) bool) error
	// ScanConfigs calls fn for every stored queue configuration.
	ScanConfigs(fn func(q QueueRef, value []byte) bool) error
	// ScanSessions calls fn for every stored session record (value is only valid during
	// the callback).
	ScanSessions(fn func(namespace, sessionID string, value []byte) bool) error
	// GetMeta returns a copy of the engine's own bookkeeping value name (ErrNotFound when
	// it was never written).
	GetMeta(name string) ([]byte, error)

	Close() error
}

// Batch collects mutations for one atomic Commit. Keys and values are copied.
//
// Index keys written once between deletes: a backlog, timer or expiry key may be put only
// when it has no entry (it was never put, or deleted since), and deleted only when it has
// one. A store may then delete such a key in a way that vanishes together with its put
// (Pebble's SingleDelete); putting a key that has an entry again makes the behaviour
// undefined (an older entry may reappear after its delete).
type Batch interface {
	PutTask(namespace, taskID string, record []byte)
	DeleteTask(namespace, taskID string)
	// PutBacklog adds a backlog entry carrying a copy of the task record written in the
	// same batch, so paging the backlog in needs no read per task. The key must have no
	// entry (see above): the engine puts a fresh sequence, or a task's first sequence
	// again only after the start that deleted it.
	PutBacklog(q QueueRef, k BacklogKey, taskID string, record []byte)
	// DeleteBacklog removes an entry that exists; its key was put once since it last had
	// none.
	DeleteBacklog(q QueueRef, k BacklogKey)
	// PutTimer and DeleteTimer keep a task's next deadline (see above: the engine puts a
	// new deadline and deletes the old one in the write that changes it, and the task
	// record keeps which one exists).
	PutTimer(at time.Time, namespace, taskID string)
	DeleteTimer(at time.Time, namespace, taskID string)
	// PutExpiry and DeleteExpiry keep a finished task's retention expiry (see above: put
	// once when the task finishes, deleted by the retention sweep).
	PutExpiry(at time.Time, namespace, taskID string)
	DeleteExpiry(at time.Time, namespace, taskID string)
	PutConfig(q QueueRef, value []byte)
	DeleteConfig(q QueueRef)
	PutSession(namespace, sessionID string, value []byte)
	DeleteSession(namespace, sessionID string)
	// PutMeta writes one of the engine's own bookkeeping values.
	PutMeta(name string, value []byte)
	// Len is the number of mutations added to the batch, superseded ones included.
	Len() int
}

// ErrClosed is returned for writes after the store or committer was closed.
var ErrClosed = errors.New("storage: closed")
