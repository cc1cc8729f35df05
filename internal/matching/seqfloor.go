package matching

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/taskroute/taskroute/internal/storage"
)

// Sequences order a queue's backlog and tell a task's leases apart. They come from the
// engine's clock (nanoseconds, bumped past the last one), which alone is not enough across
// a restart: a wall clock that stepped back would hand out sequences already used, and a new
// task's backlog entry could overwrite a waiting task's entry of the same priority (losing
// it from the backlog), sort before older tasks, or repeat a lease a stale worker still
// holds. So the engine reserves sequences ahead: a stored floor that every sequence handed
// out stays at or below, raised by seqReserve at a time, and on start sequences continue
// above it. The floor is written into the group commit before any write that uses a
// sequence it covers, so it is durable no later than they are. The reserve is short because
// sequences also tell a waiting task's age: right after a restart they run up to seqReserve
// ahead of the clock, and ages read that much low (never negative) until it catches up.
const (
	seqFloorKey = "seq-floor"
	seqReserve  = uint64(5 * time.Second)
)

// loadSeqFloor makes sequences continue above the stored floor.
func (e *Engine) loadSeqFloor() error {
	v, err := e.store.GetMeta(seqFloorKey)
	if err == storage.ErrNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the sequence floor: %w", err)
	}
	if len(v) != 8 {
		return fmt.Errorf("reading the sequence floor: %d bytes, want 8", len(v))
	}
	floor := binary.BigEndian.Uint64(v)
	e.lastSeq.Store(floor)
	e.seqReserved.Store(floor)
	return nil
}

// nextSeq returns a sequence above every one handed out before, also before a restart.
func (e *Engine) nextSeq() uint64 {
	now := uint64(e.now().UnixNano())
	for {
		last := e.lastSeq.Load()
		next := max(now, last+1)
		if e.lastSeq.CompareAndSwap(last, next) {
			if next > e.seqReserved.Load() {
				e.reserveSeqs(next)
			}
			return next
		}
	}
}

// reserveSeqs raises the stored floor above next. The caller stages the write that uses
// next after this returns, so the floor reaches the store in the same commit or an earlier
// one.
func (e *Engine) reserveSeqs(next uint64) {
	e.seqMu.Lock()
	defer e.seqMu.Unlock()
	if next <= e.seqReserved.Load() {
		return // another caller reserved past next meanwhile
	}
	floor := next + seqReserve
	e.committer.Write(func(b storage.Batch) {
		b.PutMeta(seqFloorKey, binary.BigEndian.AppendUint64(nil, floor))
	})
	e.seqReserved.Store(floor)
}
