package matching

// What many fairness keys cost (fairness.go): a keyed partition is dropped once it is
// empty, and a key's scheduling state with its last partition.

// releaseFairKey notes that one of k's partitions was dropped. A key without partitions
// is forgotten once its rate bucket is full again (at once without a per-key rate limit):
// a key that comes back starts at the current pass, as an idle key that stayed would.
func (sq *subqueue) releaseFairKey(k *fairKey, now int64) {
	if k.partitions--; k.partitions == 0 && k.idle(now) {
		delete(sq.fairKeys, k.name)
		return
	}
	sq.noteKeyChurn(now)
}

// noteKeyChurn counts keys that lost their last partition or were created without one;
// when they are as many as half the keys, the idle ones are forgotten (amortised O(1)).
func (sq *subqueue) noteKeyChurn(now int64) {
	if sq.keyChurn++; sq.keyChurn < len(sq.fairKeys)/2+16 {
		return
	}
	sq.keyChurn = 0
	for name, k := range sq.fairKeys {
		if k.partitions == 0 && k.idle(now) {
			delete(sq.fairKeys, name)
		}
	}
}

// idle reports whether forgetting k changes nothing: its rate bucket is full.
func (k *fairKey) idle(now int64) bool {
	if k.bucket.rate == 0 {
		return true
	}
	k.bucket.refill(now)
	return k.bucket.tokens >= k.bucket.burst
}

// dropIfEmpty drops a keyed partition that holds no task and is not paging, so many keys
// cost memory only while they have tasks. It is created again by the next task of its key.
func (sq *subqueue) dropIfEmpty(b *backlog, now int64) {
	if b.fair == &sq.fairDefault || b.total() != 0 || b.busy() {
		return
	}
	for _, l := range b.levels {
		if l != nil && l.diskTail {
			return
		}
	}
	delete(sq.routed, b.ref.Partition)
	if sq.fairIdx != nil {
		sq.fairIdx.remove(b)
	}
	if len(b.requires) == 0 {
		sq.unrouted = removeBacklog(sq.unrouted, b)
	} else {
		sq.byFirst[b.requires[0]] = removeBacklog(sq.byFirst[b.requires[0]], b)
	}
	if b.prefers != nil {
		sq.preferring = removeBacklog(sq.preferring, b)
	}
	sq.gen++
	sq.releaseFairKey(b.fair, now)
}

func removeBacklog(bs []*backlog, b *backlog) []*backlog {
	for i, x := range bs {
		if x == b {
			bs[i] = bs[len(bs)-1]
			bs[len(bs)-1] = nil
			return bs[:len(bs)-1]
		}
	}
	return bs
}
