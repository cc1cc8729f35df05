package matching

import (
	"encoding/binary"
	"errors"
	"math"
	"sync/atomic"
	"time"
)

// Task states, numbered as in the protocol's TaskState.
const (
	stateScheduled  uint8 = 1
	stateStarted    uint8 = 2
	stateCompleted  uint8 = 3
	stateFailed     uint8 = 4
	stateCanceled   uint8 = 5
	stateTimedOut   uint8 = 6
	stateTerminated uint8 = 7
)

// Task kinds, numbered as in the protocol's TaskKind (unspecified is stored as activity).
const (
	kindActivity uint8 = 1
	kindWorkflow uint8 = 2
)

// Queue membership of a task (task.inq), changed with compare-and-swap so a canceler and a
// dispatcher racing for the same buffered task agree on who took it.
const (
	inqNone    uint32 = 0 // not in a backlog buffer
	inqBuffer  uint32 = 1 // in its queue's in-memory buffer
	inqClaimed uint32 = 2 // popped by a dispatcher that will start it
)

type retryPolicy struct {
	initial      time.Duration
	coefficient  float64
	maximum      time.Duration
	maxAttempts  int32
	nonRetryable []string
}

type failure struct {
	message      string
	errorType    string
	nonRetryable bool
	details      []byte
}

// task is a task's full record, the unit persisted under its id, plus a few fields that
// live only in memory (marked). Fields are guarded by the task's shard lock, except inq.
type task struct {
	ns, queue, id, taskType string
	payload                 []byte
	headers                 map[string]string
	scheduleToStart         time.Duration
	startToClose            time.Duration
	heartbeat               time.Duration
	retry                   retryPolicy

	state           uint8
	cancelRequested bool
	attempt         int32
	lease           uint64
	seq             uint64 // backlog sequence while in the backlog, else 0
	firstSeq        uint64 // sequence of the first scheduling: a retry's place in the backlog
	requires        []capability
	prefers         []preference // preferred capabilities (prefers.go)
	fairKey         string       // fairness key ("" the default)
	fairWeight      int32        // the weight the task carries (0: 1 unless the queue overrides it)
	kind, priority  uint8        // next to fairWeight: one word for the three
	scheduledAt     int64        // first scheduling, unix nanos
	readyAt         int64        // when the current scheduling became dispatchable
	startedAt       int64
	closedAt        int64
	s2cDeadline     int64
	hbDeadline      int64
	s2sDeadline     int64
	retryAt         int64
	timerAt         int64 // the timer index entry that exists for this task, 0 none
	expireAt        int64
	result          []byte
	failure         *failure
	hbDetails       []byte
	cancelReason    string
	owner           Owner  // who holds the current lease (owner.go)
	session         string // the session the task belongs to, if any (session.go)

	// memory only
	key            string // namespace \x00 id: its key in the task table, built once (taskKey)
	route          string // routeKey(requires), then the preferences (prefers.go): the routing constraint
	part           string // partitionName(route, fairKey): the backlog partition
	inq            atomic.Uint32
	pending        int32 // writes enqueued and not yet durable
	runningCounted bool  // counted in Engine.running (running.go)
	counted        bool  // counted in its namespace's backlog usage (quota.go)
	waiters        []chan struct{}
	tm             *timerItem
}

// maxTaskSize is the size class a task is allocated in (every add, every record read). The
// small fields are grouped so that no word holds one byte: spread out, their padding took
// the task to the next class (640 bytes).
const maxTaskSize = 576

func (t *task) finished() bool { return t.state >= stateCompleted }

// nextTimer is the earliest deadline that must wake the engine for this task, 0 for none.
func (t *task) nextTimer() int64 {
	switch t.state {
	case stateScheduled:
		if t.retryAt != 0 {
			return t.retryAt
		}
		return t.s2sDeadline
	case stateStarted:
		d := t.s2cDeadline
		if t.hbDeadline != 0 && (d == 0 || t.hbDeadline < d) {
			d = t.hbDeadline
		}
		return d
	}
	return 0
}

const recordVersion = 1

// encode appends the durable record of t to dst. A hand-written varint format keeps the
// hot path free of reflection and allocations beyond dst.
func (t *task) encode(dst []byte) []byte {
	dst = append(dst, recordVersion, t.kind, t.priority, t.state)
	dst = appendBool(dst, t.cancelRequested)
	dst = appendString(dst, t.ns)
	dst = appendString(dst, t.queue)
	dst = appendString(dst, t.id)
	dst = appendString(dst, t.taskType)
	dst = appendBytes(dst, t.payload)
	dst = binary.AppendUvarint(dst, uint64(len(t.headers)))
	for k, v := range t.headers {
		dst = appendString(dst, k)
		dst = appendString(dst, v)
	}
	dst = binary.AppendVarint(dst, int64(t.scheduleToStart))
	dst = binary.AppendVarint(dst, int64(t.startToClose))
	dst = binary.AppendVarint(dst, int64(t.heartbeat))
	dst = binary.AppendVarint(dst, int64(t.retry.initial))
	dst = binary.AppendUvarint(dst, math.Float64bits(t.retry.coefficient))
	dst = binary.AppendVarint(dst, int64(t.retry.maximum))
	dst = binary.AppendVarint(dst, int64(t.retry.maxAttempts))
	dst = binary.AppendUvarint(dst, uint64(len(t.retry.nonRetryable)))
	for _, s := range t.retry.nonRetryable {
		dst = appendString(dst, s)
	}
	for _, v := range [...]int64{int64(t.attempt), t.scheduledAt, t.readyAt, t.startedAt, t.closedAt,
		t.s2cDeadline, t.hbDeadline, t.s2sDeadline, t.retryAt, t.timerAt, t.expireAt} {
		dst = binary.AppendVarint(dst, v)
	}
	dst = binary.AppendUvarint(dst, t.lease)
	dst = binary.AppendUvarint(dst, t.seq)
	dst = appendBytes(dst, t.result)
	dst = appendBool(dst, t.failure != nil)
	if f := t.failure; f != nil {
		dst = appendString(dst, f.message)
		dst = appendString(dst, f.errorType)
		dst = appendBool(dst, f.nonRetryable)
		dst = appendBytes(dst, f.details)
	}
	dst = appendBytes(dst, t.hbDetails)
	dst = appendString(dst, t.cancelReason)
	// The lease owner was appended later; records without it decode with an empty owner.
	dst = appendString(dst, t.owner.Principal)
	dst = appendString(dst, t.owner.Identity)
	// The first sequence was appended later still; records without it decode with 0.
	dst = binary.AppendUvarint(dst, t.firstSeq)
	// Requirements were appended later again; records without them require nothing.
	dst = binary.AppendUvarint(dst, uint64(len(t.requires)))
	for _, c := range t.requires {
		dst = appendString(dst, c.name)
		dst = appendString(dst, c.value)
	}
	// The session was appended later still; records without it belong to none.
	dst = appendString(dst, t.session)
	// Then the preferences; records without them prefer nothing.
	dst = appendPreferences(dst, t.prefers)
	// The fairness key and weight were appended last; records without them have the default key.
	dst = appendString(dst, t.fairKey)
	dst = binary.AppendVarint(dst, int64(t.fairWeight))
	return dst
}

var errCorrupt = errors.New("corrupt task record")

func decodeTask(b []byte) (*task, error) { return decodeTaskReusing(b, nil) }

// recentNames are the queue and task type of the last record a shard decoded: the records
// a backlog page loads mostly share them, and reusing the strings saves two allocations
// per record.
type recentNames struct{ queue, taskType string }

// decodeTaskReusing is decodeTask taking the queue and task type strings from recent when
// the record's are the same, and leaving the record's in recent (recent may be nil).
func decodeTaskReusing(b []byte, recent *recentNames) (*task, error) {
	d := decoder{b: b}
	t := &task{}
	if d.byte() != recordVersion {
		return nil, errCorrupt
	}
	if recent == nil {
		recent = &recentNames{}
	}
	t.kind, t.priority, t.state = d.byte(), d.byte(), d.byte()
	t.cancelRequested = d.bool()
	ns := d.raw()
	t.queue = d.stringReusing(&recent.queue)
	t.key, t.ns, t.id = keyOf(ns, d.raw())
	t.taskType = d.stringReusing(&recent.taskType)
	t.payload = d.bytes()
	if n := d.uvarint(); n > 0 && n < 1<<16 {
		t.headers = make(map[string]string, n)
		for i := uint64(0); i < n; i++ {
			k := d.string()
			t.headers[k] = d.string()
		}
	}
	t.scheduleToStart, t.startToClose, t.heartbeat = time.Duration(d.varint()), time.Duration(d.varint()), time.Duration(d.varint())
	t.retry.initial = time.Duration(d.varint())
	t.retry.coefficient = math.Float64frombits(d.uvarint())
	t.retry.maximum = time.Duration(d.varint())
	t.retry.maxAttempts = int32(d.varint())
	if n := d.uvarint(); n > 0 && n < 1<<16 {
		t.retry.nonRetryable = make([]string, n)
		for i := range t.retry.nonRetryable {
			t.retry.nonRetryable[i] = d.string()
		}
	}
	t.attempt = int32(d.varint())
	for _, p := range [...]*int64{&t.scheduledAt, &t.readyAt, &t.startedAt, &t.closedAt,
		&t.s2cDeadline, &t.hbDeadline, &t.s2sDeadline, &t.retryAt, &t.timerAt, &t.expireAt} {
		*p = d.varint()
	}
	t.lease = d.uvarint()
	t.seq = d.uvarint()
	t.result = d.bytes()
	if d.bool() {
		t.failure = &failure{message: d.string(), errorType: d.string(), nonRetryable: d.bool(), details: d.bytes()}
	}
	t.hbDetails = d.bytes()
	t.cancelReason = d.string()
	if len(d.b) > 0 {
		t.owner.Principal, t.owner.Identity = d.string(), d.string()
	}
	if len(d.b) > 0 {
		t.firstSeq = d.uvarint()
	}
	if len(d.b) > 0 {
		if n := d.uvarint(); n > 0 && n <= 64 {
			t.requires = make([]capability, n)
			for i := range t.requires {
				t.requires[i] = capability{d.string(), d.string()}
			}
			t.route = routeKey(t.requires)
		}
	}
	if len(d.b) > 0 {
		t.session = d.string()
	}
	if len(d.b) > 0 {
		t.prefers = d.preferences()
		if t.prefers != nil {
			t.route += prefSep + preferencesKey(t.prefers)
		}
	}
	if len(d.b) > 0 {
		t.fairKey, t.fairWeight = d.string(), int32(d.varint())
	}
	t.part = partitionName(t.route, t.fairKey)
	if d.err {
		return nil, errCorrupt
	}
	t.counted = inBacklog(t)
	return t, nil
}

// recordQueue reads a task record's queue without decoding the rest (ListTasks skips the
// records of other queues with it).
func recordQueue(b []byte) ([]byte, bool) {
	d := decoder{b: b}
	if d.byte() != recordVersion {
		return nil, false
	}
	d.byte()
	d.byte()
	d.byte()
	d.bool()
	d.raw() // namespace
	q := d.raw()
	return q, !d.err
}

func appendBool(dst []byte, v bool) []byte {
	if v {
		return append(dst, 1)
	}
	return append(dst, 0)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) byte() uint8 {
	if len(d.b) < 1 {
		d.err = true
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bool() bool { return d.byte() == 1 }

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) raw() []byte {
	n := d.uvarint()
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.raw()) }

// stringReusing returns *last when the next string equals it, else the new string, which
// it leaves in *last.
func (d *decoder) stringReusing(last *string) string {
	r := d.raw()
	if string(r) != *last { // the comparison does not allocate
		*last = string(r)
	}
	return *last
}

func (d *decoder) bytes() []byte {
	r := d.raw()
	if len(r) == 0 {
		return nil
	}
	return append([]byte(nil), r...)
}
