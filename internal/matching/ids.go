package matching

import "github.com/google/uuid"

// generatedID is the id of a task added without one: a UUIDv7, whose leading 48 bits are
// the time in milliseconds. Task records are stored by id, so time-ordered ids keep the
// records of recent tasks, written about three times each within seconds, together at the
// end of the key space; with random ids every flushed file overlapped the whole key space
// and each L0 compaction rewrote every retained record (docs/benchmarks.md, "Storage
// writes per task").
func generatedID() string { return uuid.Must(uuid.NewV7()).String() }
