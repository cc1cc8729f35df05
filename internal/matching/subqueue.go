package matching

import (
	"time"

	"github.com/taskroute/taskroute/internal/clock"
)

// subqueue is one kind of a queue: the polls waiting for it (matcher) and its backlog,
// partitioned by requirement set and fairness key: the plain partition holds tasks that
// require nothing and have the default key, each other partition the tasks of one
// requirement set and key (fairness.go). A poll takes from the partitions its worker's
// capabilities meet, so tasks that no poller can serve wait in their own partition without
// holding up the others. Guarded by its queue's lock.
type subqueue struct {
	q          *queueManager
	kind       uint8
	handedOff  bool // handOffLocked gave a poll a task: it may be full
	listed     bool // the routed partitions on disk were loaded
	matcher    matcher
	plain      backlog
	routed     map[string]*backlog       // every partition but the plain one, by partition name
	byFirst    map[capability][]*backlog // partitions with requirements, by their first requirement
	unrouted   []*backlog                // partitions without requirements: of preferences or a fairness key
	preferring []*backlog                // partitions of tasks with preferences (prefers_match.go)
	gen        uint64                    // bumped when a routed partition is added
	compat     map[string]servableCache  // capability key -> the partitions it may take from
	plainOnly  [1]*backlog               // servable when nothing is routed
	dispatched int                       // dispatches so far, for the anti-starvation rule

	fairDefault fairKey               // the default fairness key
	fairKeys    map[string]*fairKey   // the other keys that have a partition
	vtime       [maxLevels + 1]uint64 // by priority: the pass of the key served last
	fairIdx     *fairIndex            // the unrouted partitions' levels by pass (fairness_index.go), nil without keyed or preferring partitions
	rateWait    time.Duration         // set by pick when a key was skipped for its rate
	rateTimer   clock.Timer           // wakes dispatch when such a key has a token again
	keyChurn    int                   // keys left without partitions since the last prune
}

// servableCache is the partitions a capability set may take from, as of generation gen.
type servableCache struct {
	gen uint64
	bs  []*backlog
}

func newSubqueue(q *queueManager, kind uint8) *subqueue {
	sq := &subqueue{q: q, kind: kind}
	sq.plain = backlog{q: q, kind: kind, ref: q.ref}
	sq.plain.fair = sq.fairKeyOf("")
	sq.plainOnly[0] = &sq.plain
	return sq
}

// partitionOf returns the backlog partition of a task, creating it.
func (sq *subqueue) partitionOf(t *task) *backlog {
	return sq.partition(t.part, t.requires, t.fairKey)
}

// partition returns the backlog partition named name (partitionName of its requirements'
// route key and its fairness key), creating it.
func (sq *subqueue) partition(name string, requires []capability, fairKey string) *backlog {
	if name == "" {
		return &sq.plain
	}
	if b := sq.routed[name]; b != nil {
		return b
	}
	b := &backlog{q: sq.q, kind: sq.kind, ref: sq.q.ref, requires: requires, loadedAt: sq.q.e.now().UnixNano()}
	b.ref.Partition = name
	b.fair = sq.fairKeyOf(fairKey)
	b.fresh = sq.listed
	route, _ := splitPartition(name)
	if sq.routed == nil {
		sq.routed, sq.byFirst = map[string]*backlog{}, map[capability][]*backlog{}
	}
	sq.routed[name] = b
	sq.addPreferring(b, route)
	if len(requires) == 0 {
		sq.unrouted = append(sq.unrouted, b)
	} else {
		sq.byFirst[requires[0]] = append(sq.byFirst[requires[0]], b)
	}
	sq.indexUnrouted(b)
	sq.gen++
	return b
}

// listPartitions loads the routed partitions that have entries on disk (once per load of
// the queue): tasks added before a restart or an unload are found again.
func (sq *subqueue) listPartitions() {
	if sq.listed {
		return
	}
	sq.listed = true
	q := sq.q
	if err := q.e.store.BacklogPartitions(q.ref, func(name string) bool {
		route, fairKey := splitPartition(name)
		sq.partition(name, parseRouteKey(route), fairKey).onDisk = true
		return true
	}); err != nil {
		q.e.log.Error(err, "Failed to list backlog partitions", "queue", q.key)
	}
}

// servable returns the partitions a worker with caps (its key) may take from: those
// without requirements (every fairness key) and the routed ones whose requirements caps
// meets. Routed partitions are found by
// their first requirement, so a worker's own host or process partition is found among
// thousands without looking at the others; the result is cached per capability set until
// a partition is added.
func (sq *subqueue) servable(caps capabilitySet, key string) []*backlog {
	if len(sq.routed) == 0 {
		return sq.plainOnly[:]
	}
	if c, ok := sq.compat[key]; ok && c.gen == sq.gen {
		return c.bs
	}
	bs := append([]*backlog{&sq.plain}, sq.unrouted...)
	for _, c := range caps {
		for _, first := range [...]capability{c, {c.name, ""}} {
			for _, b := range sq.byFirst[first] {
				if caps.meetsAll(b.requires[1:]) {
					bs = append(bs, b)
				}
			}
			if c.value == "" {
				break
			}
		}
	}
	if sq.compat == nil {
		sq.compat = map[string]servableCache{}
	}
	sq.compat[key] = servableCache{sq.gen, bs}
	return bs
}

// ensureLevels creates the levels a poll may take from in the partitions bs, so their disk
// backlog is counted and paged in: every level in mask up to the queue's configured number.
// A partition other than the plain one that had no entries on disk when the queue was
// loaded has a level for each priority it was given tasks of, and needs no others.
func ensureLevels(bs []*backlog, mask uint16, configured int) {
	for _, b := range bs {
		if b.ref.Partition != "" && !b.onDisk {
			continue
		}
		for p := 1; p <= max(configured, 1); p++ {
			if mask&(1<<p) != 0 && b.levels[p] == nil {
				b.level(uint8(p))
			}
		}
	}
}

// pick chooses the level to dispatch from among the partitions bs, and its partition: the
// highest priority in mask with a waiting task, and at that priority the fairness key with
// the smallest pass (fairHead; the oldest head task when all tasks have one key); except
// that every StarvationInterval-th dispatch takes the oldest such head among the lower
// priorities, so low priorities keep moving under sustained high-priority load. Levels
// whose head the gate holds for a preferring poll are passed over.
func (sq *subqueue) pick(bs []*backlog, mask uint16, gate *prefGate, now int64) (*level, *backlog) {
	var top *level
	var topB *backlog
	topPrio := 0
	sq.rateWait = 0
	for p := maxLevels; p >= 1 && top == nil; p-- {
		if mask&(1<<p) != 0 {
			top, topB = sq.fairHead(bs, p, gate, now)
			topPrio = p
		}
	}
	if top == nil {
		return nil, nil
	}
	if (sq.dispatched+1)%sq.q.e.opts.StarvationInterval != 0 {
		return top, topB
	}
	var oldest *level
	var oldestB *backlog
	for p := topPrio - 1; p >= 1; p-- {
		if mask&(1<<p) == 0 {
			continue
		}
		if l, b := sq.fairHead(bs, p, gate, now); l != nil && (oldest == nil || l.headSeq() < oldest.headSeq()) {
			oldest, oldestB = l, b
		}
	}
	if oldest != nil {
		return oldest, oldestB
	}
	return top, topB
}

// busy reports whether a partition holds tasks in memory or is paging.
func (sq *subqueue) busy() bool {
	if sq.plain.busy() {
		return true
	}
	for _, b := range sq.routed {
		if b.busy() {
			return true
		}
	}
	return false
}

// each calls fn for every partition, the plain one first.
func (sq *subqueue) each(fn func(b *backlog)) {
	fn(&sq.plain)
	for _, b := range sq.routed {
		fn(b)
	}
}
