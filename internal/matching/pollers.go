package matching

import (
	"time"

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
	maxSessions             int32 // session slots it declared (session.go)
	bucket                  tokenBucket
	caps                    capabilitySet
	capsKey                 string // caps.key(), the poller's matcher group
	principal               string // the authenticated caller of its polls, if any
	openPolls               int32  // polls of this worker waiting now
	lastSeen                int64  // last poll start or end, or heartbeat
	gone                    bool   // the worker said it stopped (ShutdownWorker)
	// stoppedUntil: the worker called ShutdownWorker; its polls return empty at once
	// until then (unix nanos), if made by stoppedBy.
	stoppedUntil int64
	stoppedBy    Owner
}

// owner is who polls as this worker.
func (w *pollerInfo) owner() Owner { return Owner{Principal: w.principal, Identity: w.identity} }

// pollerLocked records the poller and returns its per-identity state; w is that state if
// the caller already looked it up (nil: looked up or created here).
func (q *queueManager) pollerLocked(pr *pollRequest, w *pollerInfo, now int64) *pollerInfo {
	req := pr.req
	w = q.workerLocked(w, req.GetWorkerIdentity(), req.GetPool(), req.GetVersion(), req.GetCapabilities(), now)
	w.kind, w.lastAccess, w.principal = pr.kind, now, pr.owner.Principal
	w.maxSessions = req.GetMaxSessions()
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

// workerLocked returns the state of a worker identity (w, when the caller has it), creating
// it, and records that the worker was seen now with these properties.
func (q *queueManager) workerLocked(w *pollerInfo, identity, pool, version string, caps []*matchingv1.Capability, now int64) *pollerInfo {
	if q.pollers == nil {
		q.pollers = map[string]*pollerInfo{}
	}
	if w == nil {
		w = q.pollers[identity]
	}
	if w == nil {
		w = &pollerInfo{identity: identity}
		q.pollers[identity] = w
	}
	w.pool, w.version, w.lastSeen, w.gone = pool, version, now, false
	if !w.caps.sameAs(caps) {
		w.caps = capabilitySetOf(caps)
		w.capsKey = w.caps.key()
	}
	return w
}

// livePollerLocked reports whether a worker is alive: it has a poll open now, or it polled
// or sent a liveness heartbeat within the liveness timeout, and it did not say it stopped.
// A killed worker's open polls end when its connection drops, so it is gone one liveness
// timeout later.
func (q *queueManager) livePollerLocked(p *pollerInfo, now int64) bool {
	return !p.gone && (p.openPolls > 0 || now-p.lastSeen <= int64(q.e.opts.WorkerLivenessTimeout))
}

// expirePollersLocked forgets pollers not seen within the poller expiry.
func (q *queueManager) expirePollersLocked(now int64) {
	for id, p := range q.pollers {
		if p.openPolls == 0 && now-p.lastSeen > int64(q.e.opts.PollerExpiry) {
			delete(q.pollers, id)
		}
	}
}

// heartbeat records a worker's liveness heartbeat (RecordWorkerHeartbeat): the worker is
// listed, with its capabilities, also before and between its polls.
func (q *queueManager) heartbeat(req *matchingv1.RecordWorkerHeartbeatRequest, now int64) bool {
	if !q.lock() {
		return false
	}
	defer q.mu.Unlock()
	q.touchLocked(now)
	w := q.workerLocked(nil, req.GetWorkerIdentity(), req.GetPool(), req.GetVersion(), req.GetCapabilities(), now)
	w.maxSessions = req.GetMaxSessions()
	if w.kind == 0 {
		w.kind = kindOf(req.GetKind()) // a worker that has not polled yet can take sessions of its kind
	}
	return true
}

// RecordWorkerHeartbeat records that a worker is alive (validated request) and returns the
// interval at which it should send the next heartbeat.
func (e *Engine) RecordWorkerHeartbeat(req *matchingv1.RecordWorkerHeartbeatRequest) time.Duration {
	now := e.now().UnixNano()
	for !e.queue(req.GetNamespace(), req.GetQueue()).heartbeat(req, now) {
	}
	return e.opts.WorkerLivenessTimeout / 3
}
