package matching

import (
	"sort"
	"strings"
)

// Fairness within a queue: a task may carry a fairness key (a tenant, a customer). The key
// is part of its backlog partition's identity, not a routing constraint: any poll that may
// take the partition's requirement set takes any key. Within one priority level the keys
// with waiting tasks are served by stride scheduling: each key has a pass per level, the
// smallest pass is served and advances by strideUnit/weight, so a key of weight 3 is served
// three times as often as a key of weight 1, and a flood of one key cannot starve another.

// fairSep joins a route key and a fairness key in a partition name; fairness keys and
// capabilities cannot contain control characters, and route keys use routeSep and prefSep.
const fairSep = "\x1d"

// strideUnit is the stride of a key of weight 1. Passes are uint64: at 2^20 a level can
// dispatch 2^44 tasks (11 years at 50,000 a second) before they wrap, and the stride of
// the largest weight is still exact to 0.05%.
const strideUnit = 1 << 20

// MaxFairnessWeight bounds a fairness key's weight.
const MaxFairnessWeight = 1000

// partitionName names the backlog partition of a route key and a fairness key: the route
// key alone for the default (empty) fairness key, so existing partitions keep their names.
func partitionName(route, fairKey string) string {
	if fairKey == "" {
		return route
	}
	return route + fairSep + fairKey
}

// splitPartition is the inverse of partitionName.
func splitPartition(name string) (route, fairKey string) {
	route, fairKey, _ = strings.Cut(name, fairSep)
	return route, fairKey
}

// fairKey is the scheduling state of one fairness key in a subqueue, shared by the key's
// partitions (one per requirement set). It lives while the key has a partition.
type fairKey struct {
	name       string
	pass       [maxLevels + 1]uint64 // by priority: the key's virtual time
	bucket     tokenBucket           // the queue's per-key rate limit
	partitions int                   // partitions that point here
}

// fairKeyOf returns the state of a fairness key, creating it, and counts one more partition.
func (sq *subqueue) fairKeyOf(name string) *fairKey {
	if name == "" {
		sq.fairDefault.partitions++
		return &sq.fairDefault
	}
	k := sq.fairKeys[name]
	if k == nil {
		k = &fairKey{name: name}
		if sq.fairKeys == nil {
			sq.fairKeys = map[string]*fairKey{}
		}
		sq.fairKeys[name] = k
	}
	k.partitions++
	return k
}

// weightOf is the weight a task of key k is served with: the queue's override for the key,
// else the task's own weight, else 1.
func (sq *subqueue) weightOf(k *fairKey, taskWeight int32) uint64 {
	if w, ok := sq.q.cfg.FairnessWeightOverrides[k.name]; ok && w > 0 {
		return uint64(w)
	}
	if taskWeight > 0 {
		return uint64(min(taskWeight, MaxFairnessWeight))
	}
	return 1
}

// passOf is the pass k is compared by at priority p: its own, or the level's current
// pass when it is behind (a key that was idle cannot bank credit).
func (sq *subqueue) passOf(k *fairKey, p int) uint64 { return max(k.pass[p], sq.vtime[p]) }

// charge advances k's pass at priority p for one dispatched task of weight taskWeight and
// takes a token of its rate.
func (sq *subqueue) charge(k *fairKey, p uint8, taskWeight int32, now int64) {
	pass := sq.passOf(k, int(p))
	sq.vtime[p] = pass
	k.pass[p] = pass + strideUnit/sq.weightOf(k, taskWeight)
	sq.keyAllows(k, now) // refills under the current configuration before the take
	k.bucket.take(1)
}

// fairHead returns, among the levels of priority p of the partitions bs that hold a
// buffered task, whose key is within its rate and whose head the gate does not hold for a
// preferring poll, the one of the key with the smallest pass (the oldest head among
// equals, so one key alone is served oldest first), paging levels in as it looks. It notes
// in sq.rateWait when a key was skipped for its rate. The unrouted partitions, which every
// poll may take from, come from the fairness index when there is one (fairness_index.go);
// the others of bs, those whose requirements the poll's worker meets, are scanned.
func (sq *subqueue) fairHead(bs []*backlog, p int, gate *prefGate, now int64) (*level, *backlog) {
	if sq.fairIdx == nil {
		return sq.fairScan(bs, p, gate, now)
	}
	best, bestB := sq.fairIdx.head(p, gate, now)
	routed := bs[sort.Search(len(bs), func(i int) bool { return len(bs[i].requires) > 0 }):]
	if l, b := sq.fairScan(routed, p, gate, now); l != nil && (best == nil || sq.fairBefore(b, l, bestB, best, p)) {
		return l, b
	}
	return best, bestB
}

// fairScan is fairHead over the partitions bs, looking at each.
func (sq *subqueue) fairScan(bs []*backlog, p int, gate *prefGate, now int64) (*level, *backlog) {
	var best *level
	var bestB *backlog
	for _, b := range bs {
		l := b.levels[p]
		if l == nil {
			continue
		}
		b.maybePage(uint8(p), l)
		if !l.live() || gate.holds(b, l) {
			continue
		}
		if ok, wait := sq.keyAllows(b.fair, now); !ok {
			if sq.rateWait == 0 || wait < sq.rateWait {
				sq.rateWait = wait
			}
			continue
		}
		if best == nil || sq.fairBefore(b, l, bestB, best, p) {
			best, bestB = l, b
		}
	}
	return best, bestB
}

// fairBefore reports whether level l of partition b is served before level m of c (both
// of priority p and live): by pass, then by the older head.
func (sq *subqueue) fairBefore(b *backlog, l *level, c *backlog, m *level, p int) bool {
	return fairOrder{sq.passOf(b.fair, p), l.headSeq()}.less(fairOrder{sq.passOf(c.fair, p), m.headSeq()})
}
