package matching

import (
	"encoding/hex"
	"strings"

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

// keyWithGeneratedID returns the task-table key of a new task of namespace ns with a
// generated id, and the id, a slice of the key: one allocation for both.
func keyWithGeneratedID(ns string) (key, id string) {
	u := uuid.Must(uuid.NewV7())
	var b strings.Builder
	b.Grow(len(ns) + 1 + uuidTextLen)
	b.WriteString(ns)
	b.WriteByte(0)
	var text [uuidTextLen]byte
	encodeUUID(&text, u)
	b.Write(text[:])
	key = b.String()
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
