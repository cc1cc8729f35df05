package pebblestore

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"sync"

	"github.com/cockroachdb/pebble"
)

// elider finds, while a batch is written, the mutations that a later mutation of the same
// key in the batch supersedes, so that Commit leaves them out of what Pebble logs to its
// WAL, inserts into its memtable and iterates at each flush. A task's record is put at
// add, start and end, and its backlog entry and timer are put and deleted, often within
// one group commit. With M1 the key's last surviving mutation and M2 the new one:
//
//	Set, Set          drop M1: the later value wins
//	Set, SingleDelete drop both: under the storage.Batch contract the key was set once
//	                  since its last delete, so no older version is left to uncover
//	Set, Delete       drop M1, keep the Delete: it may remove versions in the store
//	any other pair    keep both: a Delete or SingleDelete may remove versions in the store
//
// Survivors keep their order and are committed in one Pebble batch, as before. Keys are
// found by a hash of their bytes and confirmed against the batch, so a collision only
// loses an elision.
type elider struct {
	last    map[uint64]int32 // key hash -> index in muts of the key's last survivor, -1 for none
	muts    []mutation
	dropped int
}

// mutation is one record of the batch.
type mutation struct {
	off     uint32 // where the record starts in the batch's representation
	kind    pebble.InternalKeyKind
	dropped bool
}

// batchHeaderLen is the size of a Pebble batch's header: an 8-byte sequence number and
// the 4-byte count of its records.
const batchHeaderLen = 12

// maxPooledMutations bounds the eliders kept for reuse: clearing a map costs its capacity.
const maxPooledMutations = 1 << 14

var (
	keyHashSeed = maphash.MakeSeed()
	eliders     = sync.Pool{New: func() any { return &elider{last: make(map[uint64]int32)} }}
)

func newElider() *elider { return eliders.Get().(*elider) }

// release returns e for reuse by a later batch.
func (e *elider) release() {
	if len(e.muts) > maxPooledMutations {
		return
	}
	clear(e.last)
	e.muts = e.muts[:0]
	e.dropped = 0
	eliders.Put(e)
}

// note records the mutation of key just written to pb at offset off and drops what it
// supersedes. Only a Set is ever superseded, and any later mutation of its key supersedes
// it, so what a mutation drops depends only on the key's last survivor.
func (e *elider) note(pb *pebble.Batch, off int, kind pebble.InternalKeyKind, key []byte) {
	h := maphash.Bytes(keyHashSeed, key)
	m := mutation{off: uint32(off), kind: kind}
	if j, ok := e.last[h]; ok && j >= 0 && e.muts[j].kind == pebble.InternalKeyKindSet &&
		bytes.Equal(recordKey(pb.Repr(), e.muts[j].off), key) {
		e.drop(j)
		if kind == pebble.InternalKeyKindSingleDelete {
			m.dropped = true
			e.dropped++
			e.last[h] = -1
			e.muts = append(e.muts, m)
			return
		}
	}
	e.last[h] = int32(len(e.muts))
	e.muts = append(e.muts, m)
}

func (e *elider) drop(i int32) {
	e.muts[i].dropped = true
	e.dropped++
}

// compact moves the surviving records of data (a batch's representation) together in
// place, sets the header's count, and returns the shortened representation.
func (e *elider) compact(data []byte) []byte {
	w := batchHeaderLen
	for i, m := range e.muts {
		end := len(data)
		if i+1 < len(e.muts) {
			end = int(e.muts[i+1].off)
		}
		if m.dropped {
			continue
		}
		if w != int(m.off) {
			copy(data[w:], data[m.off:end])
		}
		w += end - int(m.off)
	}
	binary.LittleEndian.PutUint32(data[8:batchHeaderLen], uint32(len(e.muts)-e.dropped))
	return data[:w]
}

// recordKey returns the key of the batch record at off: a kind byte, the key's length as
// a uvarint, the key.
func recordKey(data []byte, off uint32) []byte {
	rec := data[off+1:]
	n, w := binary.Uvarint(rec)
	return rec[w : w+int(n)]
}
