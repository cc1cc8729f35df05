package matching

import (
	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// pollRequest is a validated PollTasks request in the engine's terms.
type pollRequest struct {
	ns, queue string
	kind      uint8
	mask      uint16 // bit p set: serves priority p
	maxTasks  int
	owner     Owner
	req       *matchingv1.PollTasksRequest // for what the poller table records
}

func newPollRequest(req *matchingv1.PollTasksRequest, owner Owner) *pollRequest {
	pr := &pollRequest{ns: req.GetNamespace(), queue: req.GetQueue(), kind: kindActivity,
		maxTasks: int(req.GetMaxTasks()), owner: owner, req: req}
	if req.GetKind() == matchingv1.TaskKind_TASK_KIND_WORKFLOW {
		pr.kind = kindWorkflow
	}
	for _, p := range req.GetPriorities() {
		pr.mask |= 1 << uint(p)
	}
	if pr.mask == 0 {
		pr.mask = 0xffff
	}
	return pr
}

// pollerInfo is what DescribeQueue reports about a worker, plus its own rate limit.
type pollerInfo struct {
	identity, pool, version string
	kind                    uint8
	taskTypes               []string
	lastAccess              int64
	tps                     float64
	bucket                  tokenBucket
	caps                    capabilitySet
	capsKey                 string // caps.key(), the poller's matcher group
}

// pollerLocked records the poller and returns its per-identity state.
func (q *queueManager) pollerLocked(pr *pollRequest, now int64) *pollerInfo {
	if q.pollers == nil {
		q.pollers = map[string]*pollerInfo{}
	}
	req := pr.req
	id := req.GetWorkerIdentity()
	w := q.pollers[id]
	if w == nil {
		w = &pollerInfo{identity: id}
		q.pollers[id] = w
	}
	w.pool, w.version, w.kind, w.lastAccess = req.GetPool(), req.GetVersion(), pr.kind, now
	if !w.caps.sameAs(req.GetCapabilities()) {
		w.caps = capabilitySetOf(req.GetCapabilities())
		w.capsKey = w.caps.key()
	}
	if len(req.GetTaskTypes()) != len(w.taskTypes) {
		w.taskTypes = append([]string(nil), req.GetTaskTypes()...)
	}
	if tps := req.GetTasksPerSecond(); tps != w.tps {
		w.tps = tps
		burst := max(1, int(tps/10))
		w.bucket.configure(tps, burst, now)
	}
	return w
}

// livePollerLocked reports whether a poller was seen within the poller expiry.
func (q *queueManager) livePollerLocked(p *pollerInfo, now int64) bool {
	return now-p.lastAccess <= int64(q.e.opts.PollerExpiry)
}

// expirePollersLocked forgets pollers not seen within the poller expiry.
func (q *queueManager) expirePollersLocked(now int64) {
	for id, p := range q.pollers {
		if !q.livePollerLocked(p, now) {
			delete(q.pollers, id)
		}
	}
}
