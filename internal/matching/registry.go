package matching

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/storage"
)

func (e *Engine) loadConfigs() error {
	var decodeErr error
	err := e.store.ScanConfigs(func(q storage.QueueRef, v []byte) bool {
		var c queueconfig.Config
		if err := json.Unmarshal(v, &c); err != nil {
			decodeErr = fmt.Errorf("queue config %s/%s: %w", q.Namespace, q.Queue, err)
			return false
		}
		e.configs[q.Namespace+"\x00"+q.Queue] = c
		return true
	})
	if err != nil {
		return err
	}
	return decodeErr
}

// Apply sets and persists a queue's configuration; it applies to every later dispatch.
func (e *Engine) Apply(_ context.Context, key queueconfig.Key, cfg queueconfig.Config) error {
	v, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	ref := storage.QueueRef{Namespace: key.Namespace, Queue: key.Name}
	if err := e.committer.Write(func(b storage.Batch) { b.PutConfig(ref, v) }).Wait(); err != nil {
		return fmt.Errorf("persisting config of queue %s: %w", key, err)
	}
	e.setConfig(key, cfg, true)
	return nil
}

// Remove returns a queue to the default configuration.
func (e *Engine) Remove(_ context.Context, key queueconfig.Key) error {
	ref := storage.QueueRef{Namespace: key.Namespace, Queue: key.Name}
	if err := e.committer.Write(func(b storage.Batch) { b.DeleteConfig(ref) }).Wait(); err != nil {
		return fmt.Errorf("removing config of queue %s: %w", key, err)
	}
	e.setConfig(key, queueconfig.Default(), false)
	return nil
}

func (e *Engine) setConfig(key queueconfig.Key, cfg queueconfig.Config, keep bool) {
	k := key.Namespace + "\x00" + key.Name
	e.qmu.Lock()
	if keep {
		e.configs[k] = cfg
	} else {
		delete(e.configs, k)
	}
	q := e.queues[k]
	e.qmu.Unlock()
	if q == nil {
		return
	}
	q.mu.Lock()
	q.cfg = &cfg
	q.limiter.configure(cfg.RateLimit, cfg.Burst, e.now().UnixNano())
	for k := uint8(1); k <= 2; k++ {
		q.dispatchWaitingLocked(k)
	}
	q.mu.Unlock()
}

// Config returns the configuration that applies to a queue.
func (e *Engine) Config(ns, queue string) queueconfig.Config { return e.config(ns, queue) }

// Stats returns live statistics of a queue for the TaskQueue status.
func (e *Engine) Stats(_ context.Context, key queueconfig.Key) (queueconfig.Stats, error) {
	d := e.Describe(key.Namespace, key.Name)
	st := queueconfig.Stats{AddRate: d.AddRate, DispatchRate: d.DispatchRate}
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
		st.Backlog = append(st.Backlog, queueconfig.Backlog{Kind: kind, Priority: int(b.Priority), Count: b.Count, OldestAge: b.OldestAge.AsDuration()})
	}
	for _, p := range d.Pollers {
		st.Pollers = append(st.Pollers, queueconfig.Poller{Identity: p.Identity, Pool: p.Pool, Version: p.Version,
			LastAccess: p.LastAccessTime.AsTime(), TaskTypes: p.TaskTypes})
	}
	return st, nil
}

// throttleWindow: a queue that waited for a token this recently reports Throttling.
const throttleWindow = time.Second

// Describe returns live statistics of a queue. A queue that is not loaded is described
// from storage and stays unloaded (describeStored).
func (e *Engine) Describe(ns, name string) *matchingv1.DescribeQueueResponse {
	q := e.loadedQueue(ns, name)
	if q == nil {
		return e.describeStored(ns, name)
	}
	q.mu.Lock()
	if q.unloaded {
		q.mu.Unlock()
		return e.describeStored(ns, name)
	}
	defer q.mu.Unlock()
	now := e.now()
	nowNs := now.UnixNano()
	q.touchLocked(nowNs)
	levels := max(q.cfg.PriorityLevels, 1)
	resp := &matchingv1.DescribeQueueResponse{
		Namespace: ns, Queue: name, AddRate: q.addRate, DispatchRate: q.dispatchRate,
		PriorityLevels: int32(q.cfg.PriorityLevels), DefaultPriority: int32(q.cfg.DefaultPriority),
		RateLimit: &matchingv1.RateLimitInfo{TasksPerSecond: q.cfg.RateLimit, Burst: int32(q.cfg.Burst), State: matchingv1.RateLimitState_RATE_LIMIT_STATE_UNLIMITED},
	}
	// Before the first rate window closes, report the rate so far.
	if el := nowNs - q.rateStart; resp.AddRate == 0 && resp.DispatchRate == 0 && el > int64(time.Second) {
		resp.AddRate, resp.DispatchRate = float64(q.adds)/(float64(el)/1e9), float64(q.dispatches)/(float64(el)/1e9)
	}
	if q.cfg.RateLimit > 0 {
		resp.RateLimit.State = matchingv1.RateLimitState_RATE_LIMIT_STATE_OPEN
		if nowNs-q.throttledAt < int64(throttleWindow) {
			resp.RateLimit.State = matchingv1.RateLimitState_RATE_LIMIT_STATE_THROTTLING
		}
	}
	for _, kind := range [...]uint8{kindActivity, kindWorkflow} {
		sq := q.sub(kind)
		for p := 1; p <= maxLevels; p++ {
			if sq.levels[p] == nil && p > levels {
				continue
			}
			l := q.levelLocked(sq, kind, uint8(p))
			if l.count == 0 {
				continue
			}
			l.live()
			age := time.Duration(0)
			if hs := l.headSeq(); hs != 0 && int64(hs) < nowNs {
				age = time.Duration(nowNs - int64(hs))
			}
			resp.Backlog = append(resp.Backlog, &matchingv1.BacklogStats{Kind: kindProto(kind), Priority: int32(p), Count: l.count, OldestAge: durationpb.New(age)})
		}
	}
	ids := make([]string, 0, len(q.pollers))
	for id := range q.pollers {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		p := q.pollers[id]
		if nowNs-p.lastAccess > int64(e.opts.PollerExpiry) {
			continue
		}
		resp.Pollers = append(resp.Pollers, &matchingv1.PollerInfo{Identity: p.identity, Pool: p.pool, Version: p.version,
			Kind: kindProto(p.kind), LastAccessTime: timestamppb.New(time.Unix(0, p.lastAccess)), TaskTypes: p.taskTypes, TasksPerSecond: p.tps})
	}
	resp.UnknownTaskTypes = e.unknownTypes.describe(ns, name, nowNs)
	return resp
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
			q.mu.Lock()
			for _, sq := range q.kind {
				if sq == nil {
					continue
				}
				for _, l := range sq.levels {
					if l != nil {
						s.BacklogCount += l.count
					}
				}
			}
			for _, p := range q.pollers {
				if e.now().UnixNano()-p.lastAccess <= int64(e.opts.PollerExpiry) {
					s.PollerCount++
				}
			}
			q.mu.Unlock()
		} else {
			for _, k := range [...]uint8{kindActivity, kindWorkflow} {
				for p := uint8(1); p <= maxLevels; p++ {
					c, _, _ := e.store.CountBacklog(storage.QueueRef{Namespace: ns, Queue: n}, k, p)
					s.BacklogCount += c
				}
			}
		}
		out = append(out, s)
	}
	return out, next, nil
}
