package matching

import (
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/storage"
)

// describeStored describes a queue that is not loaded, from its configuration and its
// durable backlog, without loading it: a read must not create a queue (a mistyped name
// would otherwise show up in ListQueues until it unloads). An unloaded queue has no
// waiting pollers and no recent rates; unknown task types are kept outside the queue.
func (e *Engine) describeStored(ns, name string) *matchingv1.DescribeQueueResponse {
	cfg := e.config(ns, name)
	resp := &matchingv1.DescribeQueueResponse{
		Namespace: ns, Queue: name,
		PriorityLevels: int32(cfg.PriorityLevels), DefaultPriority: int32(cfg.DefaultPriority),
		RateLimit: storedRateLimit(cfg),
	}
	now := e.now().UnixNano()
	e.eachStoredLevel(storage.QueueRef{Namespace: ns, Queue: name}, func(ref storage.QueueRef, kind, prio uint8, n int64, oldest uint64) {
		// An unloaded queue has no live poller: only tasks that require nothing are
		// routable (to whichever worker comes).
		route, fairKey := splitPartition(ref.Partition)
		requires := capabilitiesProto(parseRouteKey(route))
		resp.Backlog = append(resp.Backlog, &matchingv1.BacklogStats{Kind: kindProto(kind), Priority: int32(prio), Count: n,
			OldestAge: durationpb.New(ageOf(oldest, now)), Requires: requires, Routable: len(requires) == 0, Unmet: requires,
			Prefers: preferencesProto(parsePreferences(route)), FairnessKey: fairKey})
	})
	resp.UnknownTaskTypes = e.unknownTypes.describe(ns, name, now)
	return resp
}

// storedRateLimit is the rate limit of a queue that is not loaded: nothing waits for a
// token, so a configured limit is Open.
func storedRateLimit(cfg queueconfig.Config) *matchingv1.RateLimitInfo {
	info := &matchingv1.RateLimitInfo{TasksPerSecond: cfg.RateLimit, Burst: int32(cfg.Burst), State: matchingv1.RateLimitState_RATE_LIMIT_STATE_UNLIMITED}
	if cfg.RateLimit > 0 {
		info.State = matchingv1.RateLimitState_RATE_LIMIT_STATE_OPEN
	}
	return info
}
