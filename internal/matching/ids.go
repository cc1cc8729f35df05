package matching

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// A task added without an id gets a UUIDv7, whose leading 48 bits are the time in
// milliseconds. Task records are stored by id, so time-ordered ids keep the records of
// recent tasks, written about three times each within seconds, together at the end of the
// key space; with random ids every flushed file overlapped the whole key space and each
// L0 compaction rewrote every retained record (docs/benchmarks.md, "Storage writes per
// task").

// uuidTextLen is the length of a UUID's text form (8-4-4-4-12 hex digits).
const uuidTextLen = 36

// idBatch generates the ids of the tasks of one AddTasks call that come without one:
// UUIDv7s as github.com/google/uuid's NewV7 makes them (a 48-bit unix millisecond, a 12-bit
// sequence that keeps ids of one process ordered, 62 random bits), with the random bits of
// the whole batch read from crypto/rand at once and its timestamps reserved under one lock.
// NewV7 took the lock, read crypto/rand and allocated the UUID for every task.
type idBatch struct {
	random []byte // 8 random bytes for each id still to come
	next   int64  // unix_ts_ms<<12 | sequence of the next id
}

// v7Last is the timestamp and sequence (unix_ts_ms<<12 | sequence) of the last id reserved.
var v7Last struct {
	sync.Mutex
	v int64
}

// newIDBatch reserves n ids; nil for none.
func newIDBatch(n int) *idBatch {
	if n == 0 {
		return nil
	}
	b := &idBatch{random: make([]byte, 8*n)}
	_, _ = rand.Read(b.random) // never fails (crypto/rand crashes the program instead)
	nano := time.Now().UnixNano()
	milli := nano / int64(time.Millisecond)
	v := milli<<12 | (nano-milli*int64(time.Millisecond))>>8 // the millisecond's fraction in 12 bits, as NewV7
	v7Last.Lock()
	if v <= v7Last.v {
		v = v7Last.v + 1
	}
	v7Last.v = v + int64(n) - 1
	v7Last.Unlock()
	b.next = v
	return b
}

// keyWithGeneratedID returns the task-table key of a new task of namespace ns with the
// batch's next id, and the id, a slice of the key: one allocation for both.
func (b *idBatch) keyWithGeneratedID(ns string) (key, id string) {
	var u uuid.UUID
	v := b.next
	b.next++
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(v>>52), byte(v>>44), byte(v>>36), byte(v>>28), byte(v>>20), byte(v>>12)
	u[6], u[7] = 0x70|byte(v>>8)&0x0f, byte(v) // version 7, sequence
	copy(u[8:], b.random[:8])
	b.random = b.random[8:]
	u[8] = u[8]&0x3f | 0x80 // variant 10
	var text [uuidTextLen]byte
	encodeUUID(&text, u)
	var s strings.Builder
	s.Grow(len(ns) + 1 + uuidTextLen)
	s.WriteString(ns)
	s.WriteByte(0)
	s.Write(text[:])
	key = s.String()
	return key, key[len(ns)+1:]
}

// encodeUUID writes u's text form (as uuid.UUID.String) into dst without allocating.
func encodeUUID(dst *[uuidTextLen]byte, u uuid.UUID) {
	hex.Encode(dst[0:8], u[0:4])
	dst[8] = '-'
	hex.Encode(dst[9:13], u[4:6])
	dst[13] = '-'
	hex.Encode(dst[14:18], u[6:8])
	dst[18] = '-'
	hex.Encode(dst[19:23], u[8:10])
	dst[23] = '-'
	hex.Encode(dst[24:], u[10:])
}
