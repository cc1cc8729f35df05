package matching

import (
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// throttleWindow: a queue whose dispatch waited for a token this recently is Throttling.
const throttleWindow = time.Second

// describe reports the queue's configuration, rates, backlog per kind and priority and live
// pollers.
func (q *queueManager) describe(now int64) *matchingv1.DescribeQueueResponse {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.touchLocked(now)
	cfg := q.cfg
	resp := &matchingv1.DescribeQueueResponse{
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
		resp.Backlog = q.sub(kind).backlog.stats(now, max(cfg.PriorityLevels, 1), resp.Backlog)
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
			Kind: kindProto(p.kind), LastAccessTime: timestamppb.New(time.Unix(0, p.lastAccess)), TaskTypes: p.taskTypes, TasksPerSecond: p.tps})
	}
	return resp
}

// summarize fills the backlog and poller counts of a queue summary.
func (q *queueManager) summarize(now int64, s *matchingv1.QueueSummary) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, sq := range q.kind {
		if sq != nil {
			s.BacklogCount += sq.backlog.total()
		}
	}
	for _, p := range q.pollers {
		if q.livePollerLocked(p, now) {
			s.PollerCount++
		}
	}
}

// backlogGauges calls fn for every non-empty level with its count and the age of its
// oldest task (for the metrics collector).
func (q *queueManager) backlogGauges(now int64, fn func(kind uint8, prio int, count int64, age time.Duration)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, sq := range q.kind {
		if sq == nil {
			continue
		}
		for p, l := range sq.backlog.levels {
			if l != nil && l.count > 0 {
				fn(sq.backlog.kind, p, l.count, l.age(now))
			}
		}
	}
}
