package pebblestore

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
)

// elider drops, before a batch's commit, the mutations that a later mutation of the same
// key in the batch supersedes, so that Pebble neither logs them to its WAL, nor inserts
// them into its memtable, nor iterates them at the next flush. A task's record is put at
// add, start and end, and its backlog entry and timer are put and deleted, often within
// one group commit. With M1 the key's last surviving mutation and M2 a later one:
//
//	Set, Set          drop M1: the later value wins
//	Set, SingleDelete drop both: under the storage.Batch contract the key was set once
//	                  since its last delete, so no older version is left to uncover
//	Set, Delete       drop M1, keep the Delete: it may remove versions in the store
//	any other pair    keep both: a Delete or SingleDelete may remove versions in the store
//
// Only a Set is ever superseded, and any later mutation of its key supersedes it, so the
// elider remembers each key's last Set only: in sets, by a hash of the key, confirmed
// against the batch on a hit (a collision only loses an elision). Survivors keep their
// order and are committed in one Pebble batch, as before.
//
// The work is done at commit, in one pass over the batch: a write pays nothing for it, and
// the table and records are touched in one burst, while they are in the cache. (Noting
// each mutation as it was written cost about 2% of a drain-batched run's CPU, most of it
// cache misses in the table between writes.)
type elider struct {
	sets    setTable
	muts    []mutation
	dropped int
}

// mutation is one record of the batch.
type mutation struct {
	off     uint32 // where the record starts in the batch's representation
	dropped bool
}

// batchHeaderLen is the size of a Pebble batch's header: an 8-byte sequence number and
// the 4-byte count of its records.
const batchHeaderLen = 12

var keyHashSeed = maphash.MakeSeed()

// elide drops the superseded mutations of pb.
func (e *elider) elide(pb *pebble.Batch) error {
	e.muts, e.dropped = e.muts[:0], 0
	if pb.Count() < 2 {
		return nil
	}
	data := pb.Repr()
	if !e.mark(data) {
		return nil
	}
	return pb.SetRepr(e.compact(data))
}

// mark finds the superseded records of data (a batch's representation) and tells whether
// there are any.
func (e *elider) mark(data []byte) bool {
	r, n := pebble.ReadBatch(data)
	e.sets.init(int(n))
	for {
		off := len(data) - len(r)
		kind, key, _, ok, err := r.Next()
		if err != nil {
			return false // not a batch this store wrote: commit it as it is
		}
		if !ok {
			return e.dropped > 0
		}
		if kind != pebble.InternalKeyKindSet && kind != pebble.InternalKeyKindDelete && kind != pebble.InternalKeyKindSingleDelete {
			return false
		}
		e.note(data, off, kind, key)
	}
}

// note records the mutation of key at offset off and drops what it supersedes.
func (e *elider) note(data []byte, off int, kind pebble.InternalKeyKind, key []byte) {
	h := max(maphash.Bytes(keyHashSeed, key), 1) // 0 marks an empty slot of sets
	i := int32(len(e.muts))
	e.muts = append(e.muts, mutation{off: uint32(off)})
	s := e.sets.find(h)
	if s.hash == h && s.set >= 0 && bytes.Equal(recordKey(data, e.muts[s.set].off), key) {
		e.drop(s.set)
		s.set = -1
		if kind == pebble.InternalKeyKindSingleDelete {
			e.drop(i)
		}
	}
	if kind == pebble.InternalKeyKindSet {
		s.hash, s.set = h, i
	}
}

func (e *elider) drop(i int32) {
	e.muts[i].dropped = true
	e.dropped++
}

// compact moves the surviving records of data together in place, sets the header's count,
// and returns the shortened representation.
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

// eliderSpare keeps one elider of a store for its next commit, so its table and records
// are reused (commits seldom overlap: the group committer runs one at a time).
type eliderSpare struct{ p atomic.Pointer[elider] }

func (s *eliderSpare) get() *elider {
	if e := s.p.Swap(nil); e != nil {
		return e
	}
	return &elider{}
}

// put keeps e for the next commit unless one is kept already or e grew past
// maxSpareMutations (a burst's memory is not held for good).
func (s *eliderSpare) put(e *elider) {
	if len(e.muts) > maxSpareMutations {
		return
	}
	s.p.CompareAndSwap(nil, e)
}

const maxSpareMutations = 1 << 16
