package matching

import (
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// throttleWindow: a queue whose dispatch waited for a token this recently is Throttling.
const throttleWindow = time.Second

// describe reports the queue's configuration, rates, backlog per kind, priority and
// requirement set, and live pollers; loaded is false for an unloaded manager.
func (q *queueManager) describe(now int64) (resp *matchingv1.DescribeQueueResponse, loaded bool) {
	if !q.lock() {
		return nil, false
	}
	defer q.mu.Unlock()
	q.touchLocked(now)
	cfg := q.cfg
	resp = &matchingv1.DescribeQueueResponse{
		Namespace: q.ref.Namespace, Queue: q.ref.Queue,
		PriorityLevels: int32(cfg.PriorityLevels), DefaultPriority: int32(cfg.DefaultPriority),
		RateLimit: &matchingv1.RateLimitInfo{TasksPerSecond: cfg.RateLimit, Burst: int32(cfg.Burst), State: matchingv1.RateLimitState_RATE_LIMIT_STATE_UNLIMITED},
	}
	resp.AddRate, resp.DispatchRate = q.rates.rates(now)
	if cfg.RateLimit > 0 {
		resp.RateLimit.State = matchingv1.RateLimitState_RATE_LIMIT_STATE_OPEN
		if now-q.throttledAt < int64(throttleWindow) {
			resp.RateLimit.State = matchingv1.RateLimitState_RATE_LIMIT_STATE_THROTTLING
		}
	}
	for _, kind := range [...]uint8{kindActivity, kindWorkflow} {
		sq := q.sub(kind)
		sq.listPartitions()
		sq.each(func(b *backlog) {
			from := len(resp.Backlog)
			resp.Backlog = b.stats(now, max(cfg.PriorityLevels, 1), resp.Backlog)
			routable, unmet := q.routableLocked(b.requires, now)
			for _, st := range resp.Backlog[from:] {
				st.Routable, st.Unmet = routable, unmet
			}
		})
	}
	ids := make([]string, 0, len(q.pollers))
	for id := range q.pollers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		p := q.pollers[id]
		if !q.livePollerLocked(p, now) {
			continue
		}
		resp.Pollers = append(resp.Pollers, &matchingv1.PollerInfo{Identity: p.identity, Pool: p.pool, Version: p.version,
			Kind: kindProto(p.kind), LastAccessTime: timestamppb.New(time.Unix(0, p.lastAccess)), TaskTypes: p.taskTypes, TasksPerSecond: p.tps,
			Capabilities: capabilitiesProto(parseRouteKey(p.capsKey)),
			OpenSessions: q.e.sessions.openSessions(q.ref.Namespace, q.ref.Queue, p.identity), MaxSessions: p.maxSessions})
	}
	return resp, true
}

// summarize fills the backlog and poller counts of a queue summary.
func (q *queueManager) summarize(now int64, s *matchingv1.QueueSummary) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, sq := range q.kind {
		if sq != nil {
			sq.each(func(b *backlog) { s.BacklogCount += b.total() })
		}
	}
	for _, p := range q.pollers {
		if q.livePollerLocked(p, now) {
			s.PollerCount++
		}
	}
}

// routableLocked reports whether a live poller meets every requirement, and if none does,
// the requirements that no live poller meets on its own. Tasks that require nothing are
// routable to any worker, connected or not yet.
func (q *queueManager) routableLocked(reqs []capability, now int64) (bool, []*matchingv1.Capability) {
	if len(reqs) == 0 {
		return true, nil
	}
	met := make([]bool, len(reqs))
	for _, p := range q.pollers {
		if !q.livePollerLocked(p, now) {
			continue
		}
		all := true
		for i, r := range reqs {
			if p.caps.meets(r) {
				met[i] = true
			} else {
				all = false
			}
		}
		if all {
			return true, nil
		}
	}
	var unmet []capability
	for i, r := range reqs {
		if !met[i] {
			unmet = append(unmet, r)
		}
	}
	return false, capabilitiesProto(unmet)
}

// backlogGauges calls fn for every kind and priority with waiting tasks, with their count
// over all partitions and the age of the oldest (for the metrics collector).
func (q *queueManager) backlogGauges(now int64, fn func(kind uint8, prio int, count int64, age time.Duration)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, sq := range q.kind {
		if sq == nil {
			continue
		}
		var counts [maxLevels + 1]int64
		var ages [maxLevels + 1]time.Duration
		sq.each(func(b *backlog) {
			for p, l := range b.levels {
				if l != nil && l.count > 0 {
					counts[p] += l.count
					ages[p] = max(ages[p], l.age(now))
				}
			}
		})
		for p, n := range counts {
			if n > 0 {
				fn(sq.kind, p, n, ages[p])
			}
		}
	}
}
