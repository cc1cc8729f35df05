package matching

// The fairness index: a min-heap per priority over the levels of the unrouted partitions
// (the plain one and those of fairness keys and preferences, which every poll may take
// from), ordered as fairHead compares them: by the key's pass, then by the head task's
// sequence. It spares the pick a scan over every active key: a pick looks at the top.
//
// An entry's order is a snapshot. Orders only grow on their own (a key's pass and the
// level's virtual time only advance, popping or dropping a head only moves the head to a
// newer task), so a stale entry is too low, never too high: the pick re-sorts the top
// until it is current. The one way down, a head older than the snapshot (a task given
// back, retried or paged in behind newer ones) or a level that had left the heap
// becoming live, is offered (backlog.offered) and sifted up at once.
//
// Created with the first unrouted partition other than the plain one: a queue without
// fairness keys or preferences scans its few partitions and pays nothing for an index.

// fairOrder is what fairHead compares levels by.
type fairOrder struct {
	pass uint64 // the key's pass at the priority (subqueue.passOf)
	head uint64 // the head task's backlog sequence
}

func (a fairOrder) less(b fairOrder) bool {
	return a.pass < b.pass || a.pass == b.pass && a.head < b.head
}

type fairEntry struct {
	order fairOrder
	b     *backlog
}

// fairIndex is the heaps of a subqueue's unrouted partitions. Each indexed partition has
// a slot (backlog.fairSlot, from 1) that holds its entries' heap positions.
type fairIndex struct {
	sq      *subqueue
	heaps   [maxLevels + 1][]fairEntry // by priority
	pos     [][maxLevels + 1]int32     // by slot and priority: the entry's position, -1 none
	free    []int32                    // slots of dropped partitions
	unpaged []pagingLevel              // levels a page load left empty with tasks on disk
	aside   []fairEntry                // entries a pick passed over, put back when it ends
}

// pagingLevel names one level of an indexed partition.
type pagingLevel struct {
	b    *backlog
	prio uint8
}

// indexUnrouted creates the index once the subqueue has an unrouted partition other than
// the plain one (fairness keys, preferences), and indexes b. No-op for routed partitions.
func (sq *subqueue) indexUnrouted(b *backlog) {
	if len(b.requires) != 0 {
		return
	}
	if sq.fairIdx == nil {
		sq.fairIdx = &fairIndex{sq: sq, pos: make([][maxLevels + 1]int32, 1)} // slot 0: none
		sq.fairIdx.add(&sq.plain)
		for _, u := range sq.unrouted {
			sq.fairIdx.add(u)
		}
	}
	if b.fairSlot == 0 {
		sq.fairIdx.add(b)
	}
}

// add gives b a slot and offers its live levels.
func (x *fairIndex) add(b *backlog) {
	var slot int32
	if n := len(x.free); n > 0 {
		slot, x.free = x.free[n-1], x.free[:n-1]
	} else {
		slot = int32(len(x.pos))
		x.pos = append(x.pos, [maxLevels + 1]int32{})
	}
	for p := range x.pos[slot] {
		x.pos[slot][p] = -1
	}
	b.fairSlot = slot
	for p, l := range b.levels {
		if l != nil {
			x.offer(b, uint8(p))
		}
	}
}

// remove takes a dropped partition's entries out and frees its slot.
func (x *fairIndex) remove(b *backlog) {
	if b.fairSlot == 0 {
		return
	}
	for p, i := range x.pos[b.fairSlot] {
		if i >= 0 {
			x.removeAt(p, int(i))
		}
	}
	x.free = append(x.free, b.fairSlot)
	b.fairSlot = 0
}

// offer enters or raises (sifts up) the entry of level prio of b after its head may have
// become older or the level live.
func (x *fairIndex) offer(b *backlog, prio uint8) {
	l := b.levels[prio]
	if l == nil || !l.live() {
		return
	}
	o := fairOrder{x.sq.passOf(b.fair, int(prio)), l.headSeq()}
	if i := x.pos[b.fairSlot][prio]; i < 0 {
		x.push(int(prio), fairEntry{o, b})
	} else if h := x.heaps[prio]; o.less(h[i].order) {
		h[i].order = o
		x.up(int(prio), int(i))
	}
}

// head returns the level of priority p that fairHead would choose among the indexed
// partitions (see fairHead), paging levels in as it looks at them.
func (x *fairIndex) head(p int, gate *prefGate, now int64) (*level, *backlog) {
	sq := x.sq
	x.pageUnpaged()
	defer x.restoreAside(p)
	for h := x.heaps[p]; len(x.heaps[p]) > 0; h = x.heaps[p] {
		b := h[0].b
		l := b.levels[p]
		b.maybePage(uint8(p), l)
		if !l.live() {
			x.removeAt(p, 0) // offered again when a task is buffered
			continue
		}
		if o := (fairOrder{sq.passOf(b.fair, p), l.headSeq()}); o != h[0].order {
			h[0].order = o
			x.down(p, 0)
			continue
		}
		if gate.holds(b, l) {
			x.setAside(p)
			continue
		}
		if ok, wait := sq.keyAllows(b.fair, now); !ok {
			if sq.rateWait == 0 || wait < sq.rateWait {
				sq.rateWait = wait
			}
			x.setAside(p)
			continue
		}
		return l, b
	}
	return nil, nil
}

// pagingStopped notes a level a page load left with nothing buffered and tasks still on
// disk (an add landed during the load, or the read failed): it is in no heap, so the
// next pick starts its next load, as a scan over every level would.
func (x *fairIndex) pagingStopped(b *backlog, prio uint8) {
	x.unpaged = append(x.unpaged, pagingLevel{b, prio})
}

func (x *fairIndex) pageUnpaged() {
	if len(x.unpaged) == 0 {
		return
	}
	levels := x.unpaged
	x.unpaged = nil
	for _, u := range levels {
		if u.b.fairSlot != 0 {
			u.b.maybePage(u.prio, u.b.levels[u.prio])
		}
	}
}

func (x *fairIndex) setAside(p int) {
	x.aside = append(x.aside, x.heaps[p][0])
	x.removeAt(p, 0)
}

func (x *fairIndex) restoreAside(p int) {
	for _, e := range x.aside {
		x.push(p, e)
	}
	clear(x.aside)
	x.aside = x.aside[:0]
}

func (x *fairIndex) push(p int, e fairEntry) {
	x.heaps[p] = append(x.heaps[p], e)
	i := len(x.heaps[p]) - 1
	x.pos[e.b.fairSlot][p] = int32(i)
	x.up(p, i)
}

func (x *fairIndex) removeAt(p, i int) {
	h := x.heaps[p]
	last := len(h) - 1
	x.pos[h[i].b.fairSlot][p] = -1
	if i != last {
		h[i] = h[last]
		x.pos[h[i].b.fairSlot][p] = int32(i)
	}
	h[last] = fairEntry{}
	x.heaps[p] = h[:last]
	if i != last {
		x.down(p, i)
		x.up(p, i)
	}
}

func (x *fairIndex) swap(p, i, j int) {
	h := x.heaps[p]
	h[i], h[j] = h[j], h[i]
	x.pos[h[i].b.fairSlot][p] = int32(i)
	x.pos[h[j].b.fairSlot][p] = int32(j)
}

func (x *fairIndex) up(p, i int) {
	h := x.heaps[p]
	for i > 0 {
		parent := (i - 1) / 2
		if !h[i].order.less(h[parent].order) {
			return
		}
		x.swap(p, i, parent)
		i = parent
	}
}

func (x *fairIndex) down(p, i int) {
	h := x.heaps[p]
	for {
		least := i
		for _, c := range [...]int{2*i + 1, 2*i + 2} {
			if c < len(h) && h[c].order.less(h[least].order) {
				least = c
			}
		}
		if least == i {
			return
		}
		x.swap(p, i, least)
		i = least
	}
}
