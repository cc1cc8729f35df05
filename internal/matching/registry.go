package matching

import (
	"context"
	"sort"
	"strings"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/storage"
)

// Stats returns live statistics of a queue for the TaskQueue status.
func (e *Engine) Stats(_ context.Context, key queueconfig.Key) (queueconfig.Stats, error) {
	d := e.Describe(key.Namespace, key.Name)
	st := queueconfig.Stats{AddRate: d.AddRate, DispatchRate: d.DispatchRate, Running: d.RunningTasks}
	for _, u := range d.UnknownTaskTypes {
		st.UnknownTaskTypes = append(st.UnknownTaskTypes, queueconfig.UnknownTaskType{TaskType: u.TaskType, Failures: u.Failures,
			TasksFailed: u.TasksFailed, LastSeen: u.LastSeenTime.AsTime(), LastWorker: u.LastWorkerIdentity})
	}
	switch d.RateLimit.GetState() {
	case matchingv1.RateLimitState_RATE_LIMIT_STATE_OPEN:
		st.RateLimitState = queueconfig.RateLimitOpen
	case matchingv1.RateLimitState_RATE_LIMIT_STATE_THROTTLING:
		st.RateLimitState = queueconfig.RateLimitThrottling
	default:
		st.RateLimitState = queueconfig.RateLimitUnlimited
	}
	for _, b := range d.Backlog {
		kind := queueconfig.KindActivity
		if b.Kind == matchingv1.TaskKind_TASK_KIND_WORKFLOW {
			kind = queueconfig.KindWorkflow
		}
		st.Backlog = append(st.Backlog, queueconfig.Backlog{Kind: kind, Priority: int(b.Priority), Count: b.Count, OldestAge: b.OldestAge.AsDuration(),
			Requires: capabilitiesConfig(b.Requires), Routable: b.Routable, Unmet: capabilitiesConfig(b.Unmet)})
	}
	running := e.running.byWorker(queueName{key.Namespace, key.Name})
	for _, p := range d.Pollers {
		st.Pollers = append(st.Pollers, queueconfig.Poller{Identity: p.Identity, Pool: p.Pool, Version: p.Version,
			LastAccess: p.LastAccessTime.AsTime(), TaskTypes: p.TaskTypes, Capabilities: capabilitiesConfig(p.Capabilities),
			Running: running[p.Identity], OpenSessions: int64(p.GetOpenSessions())})
	}
	return st, nil
}

// Describe returns live statistics of a queue. A queue that is not loaded is described
// from storage and stays unloaded (describeStored): a read never creates a queue.
func (e *Engine) Describe(ns, name string) *matchingv1.DescribeQueueResponse {
	now := e.now().UnixNano()
	resp := e.describeLoadedOrStored(ns, name, now)
	boundKeyedRowsByKind(resp)
	resp.RunningTasks = e.running.get(queueName{ns, name})
	return resp
}

func (e *Engine) describeLoadedOrStored(ns, name string, now int64) *matchingv1.DescribeQueueResponse {
	if q := e.loadedQueue(ns, name); q != nil {
		if resp, loaded := q.describe(now); loaded {
			resp.UnknownTaskTypes = e.unknownTypes.describe(ns, name, now)
			return resp
		}
	}
	return e.describeStored(ns, name)
}

// ListQueues lists the queues of a namespace that hold backlog, pollers or configuration,
// in name order, after the page token (the last name of the previous page).
func (e *Engine) ListQueues(ns string, pageSize int, after string) ([]*matchingv1.QueueSummary, string, error) {
	names := map[string]struct{}{}
	prefix := ns + "\x00"
	e.qmu.Lock()
	for k := range e.configs {
		if n, ok := strings.CutPrefix(k, prefix); ok && n > after {
			names[n] = struct{}{}
		}
	}
	for k := range e.queues {
		if n, ok := strings.CutPrefix(k, prefix); ok && n > after {
			names[n] = struct{}{}
		}
	}
	e.qmu.Unlock()
	count := 0
	if err := e.store.BacklogQueues(ns, after, func(q string) bool {
		names[q] = struct{}{}
		count++
		return count <= pageSize
	}); err != nil {
		return nil, "", err
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	next := ""
	if len(sorted) > pageSize {
		sorted = sorted[:pageSize]
		next = sorted[pageSize-1]
	}
	out := make([]*matchingv1.QueueSummary, 0, len(sorted))
	for _, n := range sorted {
		s := &matchingv1.QueueSummary{Namespace: ns, Queue: n}
		if q := e.loadedQueue(ns, n); q != nil {
			q.summarize(e.now().UnixNano(), s)
		} else {
			s.BacklogCount = e.storedBacklog(storage.QueueRef{Namespace: ns, Queue: n})
		}
		out = append(out, s)
	}
	return out, next, nil
}

// storedPartitions is the plain partition of a queue plus its routed partitions on disk.
func (e *Engine) storedPartitions(ref storage.QueueRef) []storage.QueueRef {
	refs := []storage.QueueRef{ref}
	if err := e.store.BacklogPartitions(ref, func(p string) bool {
		refs = append(refs, storage.QueueRef{Namespace: ref.Namespace, Queue: ref.Queue, Partition: p})
		return true
	}); err != nil {
		e.log.Error(err, "Failed to list backlog partitions", "namespace", ref.Namespace, "queue", ref.Queue)
	}
	return refs
}

// storedBacklog counts the backlog of an unloaded queue on disk, over its partitions.
func (e *Engine) storedBacklog(ref storage.QueueRef) int64 {
	var total int64
	e.eachStoredLevel(ref, func(_ storage.QueueRef, _, _ uint8, n int64, _ uint64) { total += n })
	return total
}

// eachStoredLevel calls fn for every non-empty level on disk of an unloaded queue, over its
// partitions, kinds and priorities, with its count and the sequence of its oldest entry.
func (e *Engine) eachStoredLevel(ref storage.QueueRef, fn func(part storage.QueueRef, kind, prio uint8, n int64, oldest uint64)) {
	for _, part := range e.storedPartitions(ref) {
		for _, kind := range [...]uint8{kindActivity, kindWorkflow} {
			for p := uint8(1); p <= maxLevels; p++ {
				n, oldest, err := e.store.CountBacklog(part, kind, p)
				if err != nil {
					e.log.Error(err, "Failed to count backlog", "namespace", ref.Namespace, "queue", ref.Queue, "priority", p)
					continue
				}
				if n > 0 {
					fn(part, kind, p, n, oldest)
				}
			}
		}
	}
}

// capabilitiesConfig converts protocol capabilities to the registry's (nil for none).
func capabilitiesConfig(in []*matchingv1.Capability) []queueconfig.Capability {
	if len(in) == 0 {
		return nil
	}
	out := make([]queueconfig.Capability, len(in))
	for i, c := range in {
		out[i] = queueconfig.Capability{Name: c.GetName(), Value: c.GetValue()}
	}
	return out
}
