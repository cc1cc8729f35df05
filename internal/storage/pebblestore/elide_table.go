package pebblestore

// setTable maps a key's hash to the index of its last Set in the batch (-1 once a later
// mutation superseded it): open addressing with linear probing over a power-of-two array
// sized at init to at least twice the batch's records, so it is never more than half
// full. Hash 0 marks an empty slot: callers pass hashes of at least 1.
type setTable struct {
	slots []setSlot
}

type setSlot struct {
	hash uint64
	set  int32
}

const setTableMinSlots = 64

// init empties the table for a batch of n records.
func (t *setTable) init(n int) {
	size := setTableMinSlots
	for size < 2*n {
		size *= 2
	}
	if cap(t.slots) < size {
		t.slots = make([]setSlot, size)
		return
	}
	t.slots = t.slots[:size]
	clear(t.slots)
}

// find returns the slot of h, or the empty slot where h goes.
func (t *setTable) find(h uint64) *setSlot {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if s := &t.slots[i]; s.hash == h || s.hash == 0 {
			return s
		}
	}
}
