package matching

import (
	"testing"
	"time"
)

// benchRecord is the record of a task as a page load reads it: added with a generated id,
// default timeouts and retry policy, waiting in the backlog.
func benchRecord() []byte {
	now := time.Now().UnixNano()
	t := &task{ns: "default", queue: "bench", id: "019ad3c2-5a1e-7c3b-9f00-2b4c5d6e7f80", taskType: "noop",
		payload: make([]byte, 100), state: stateScheduled, kind: kindActivity, priority: 3,
		scheduleToStart: time.Hour, startToClose: 5 * time.Minute, heartbeat: 0,
		retry:       retryPolicy{initial: time.Second, coefficient: 2, maximum: 100 * time.Second},
		scheduledAt: now, readyAt: now, s2sDeadline: now + int64(time.Hour), timerAt: now + int64(time.Hour),
		seq: uint64(now), firstSeq: uint64(now)}
	return t.encode(nil)
}

// BenchmarkDecodeRecord decodes one backlog task's record, as a page load does per entry.
func BenchmarkDecodeRecord(b *testing.B) {
	rec := benchRecord()
	var recent recentNames
	b.ReportAllocs()
	for range b.N {
		if _, err := decodeTaskReusing(rec, &recent); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeRecord encodes one task's record, as every write of a task does.
func BenchmarkEncodeRecord(b *testing.B) {
	t, err := decodeTask(benchRecord())
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for range b.N {
		buf = t.encode(buf[:0])
	}
}
