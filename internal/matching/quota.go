package matching

import (
	"fmt"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/storage"
)

// Quota is what one namespace may use of the shared matching service. Zero fields are
// unlimited.
type Quota struct {
	// MaxBacklog bounds the tasks waiting for dispatch (backlog entries) over all queues of
	// the namespace. Tasks waiting for a retry, running or finished do not count.
	MaxBacklog int64 `json:"maxBacklog"`
	// MaxPayloadBytes bounds one task's payload (below the server-wide size limit).
	MaxPayloadBytes int `json:"maxPayloadBytes"`
	// MaxQueues bounds the queues that hold waiting tasks at the same time.
	MaxQueues int `json:"maxQueues"`
	// AddRate is a token bucket of added tasks per second, with AddBurst tokens.
	AddRate  float64 `json:"addRate"`
	AddBurst int     `json:"addBurst"`
}

// Quotas are the default quota of every namespace and per-namespace overrides (complete
// quotas, see ParseQuotaOverride).
type Quotas struct {
	Default   Quota
	Overrides map[string]Quota
}

func (q Quotas) of(ns string) (Quota, bool) {
	if o, ok := q.Overrides[ns]; ok {
		return o, true
	}
	return q.Default, false
}

// quotaTracker holds each namespace's usage. Namespaces never share a lock: one at its
// quota (or flooding adds) does not slow the others.
type quotaTracker struct {
	e   *Engine
	mu  sync.RWMutex
	cfg Quotas
	ns  map[string]*nsUsage
}

// nsUsage is one namespace's usage and quota, guarded by mu (a leaf lock: taken under shard
// locks, never the other way round).
type nsUsage struct {
	mu         sync.Mutex
	name       string
	quota      Quota
	overridden bool
	recovered  bool
	backlog    int64            // tasks with a backlog entry
	reserved   int64            // admitted adds that have not returned yet
	queues     map[string]int64 // backlog per queue; only non-zero entries
	bucket     tokenBucket
}

func newQuotaTracker(e *Engine, cfg Quotas) *quotaTracker {
	return &quotaTracker{e: e, cfg: cfg, ns: map[string]*nsUsage{}}
}

func (qt *quotaTracker) usage(ns string) *nsUsage {
	qt.mu.RLock()
	u := qt.ns[ns]
	qt.mu.RUnlock()
	if u != nil {
		return u
	}
	qt.mu.Lock()
	defer qt.mu.Unlock()
	if u = qt.ns[ns]; u == nil {
		u = &nsUsage{name: ns, queues: map[string]int64{}}
		u.setQuota(qt.cfg.of(ns))
		u.bucket.configure(u.quota.AddRate, u.addBurst(), qt.e.now().UnixNano())
		qt.ns[ns] = u
	}
	return u
}

func (u *nsUsage) setQuota(q Quota, overridden bool) { u.quota, u.overridden = q, overridden }

func (u *nsUsage) addBurst() int {
	if u.quota.AddBurst > 0 {
		return u.quota.AddBurst
	}
	return max(1, int(u.quota.AddRate))
}

// SetQuotas replaces the default quota and the overrides; it applies to the next add.
func (e *Engine) SetQuotas(cfg Quotas) {
	qt := e.quotas
	qt.mu.Lock()
	qt.cfg = cfg
	us := make([]*nsUsage, 0, len(qt.ns))
	for _, u := range qt.ns {
		us = append(us, u)
	}
	qt.mu.Unlock()
	now := e.now().UnixNano()
	for _, u := range us {
		u.mu.Lock()
		u.setQuota(cfg.of(u.name))
		u.bucket.configure(u.quota.AddRate, u.addBurst(), now)
		u.mu.Unlock()
	}
}

// inBacklog reports whether t has a backlog entry: scheduled and not waiting for a retry.
// It is a function of the durable record, so a task read back from storage knows whether
// it is already counted.
func inBacklog(t *task) bool { return t.state == stateScheduled && t.seq != 0 }

// trackBacklog keeps the namespace's backlog usage in step with t; prepare calls it for
// every staged write, under t's shard lock.
func (e *Engine) trackBacklog(t *task) {
	now := inBacklog(t)
	if now == t.counted {
		return
	}
	t.counted = now
	u := e.quotas.usage(t.ns)
	u.mu.Lock()
	e.recoverUsageLocked(u)
	d := int64(-1)
	if now {
		d = 1
	}
	u.backlog += d
	if n := u.queues[t.queue] + d; n > 0 {
		u.queues[t.queue] = n
	} else {
		delete(u.queues, t.queue)
	}
	u.mu.Unlock()
}

// recoverUsageLocked counts the namespace's durable backlog the first time the namespace is
// touched after start. It is exact: every backlog write of the namespace is staged through
// trackBacklog, which waits for this count, so no write of the namespace can be in flight
// while it runs. Its cost is a key-only scan of the namespace's backlog, paid once.
func (e *Engine) recoverUsageLocked(u *nsUsage) {
	if u.recovered {
		return
	}
	u.recovered = true
	var names []string
	err := e.store.BacklogQueues(u.name, "", func(q string) bool { names = append(names, q); return true })
	for _, q := range names {
		for _, kind := range [...]uint8{kindActivity, kindWorkflow} {
			for p := uint8(1); p <= maxLevels && err == nil; p++ {
				var n int64
				n, _, err = e.store.CountBacklog(storage.QueueRef{Namespace: u.name, Queue: q}, kind, p)
				if n > 0 {
					u.backlog += n
					u.queues[q] += n
				}
			}
		}
	}
	if err != nil {
		// Undercounting only loosens the quota; the next start counts again.
		e.log.Error(err, "Failed to count namespace backlog for quotas", "namespace", u.name)
	}
}

// NamespaceUsage reports a namespace's waiting tasks and the queues holding them.
func (e *Engine) NamespaceUsage(ns string) (backlog int64, queues int) {
	u := e.quotas.usage(ns)
	u.mu.Lock()
	defer u.mu.Unlock()
	e.recoverUsageLocked(u)
	return u.backlog, len(u.queues)
}

// admission is one namespace's share of an admitted batch.
type admission struct {
	u      *nsUsage
	n      int64
	queues []string
}

// AdmitAdds checks validated task specs against their namespaces' quotas before anything
// is locked or written, and reserves their backlog share; call release once AddTasks
// returned. A batch is admitted whole or not at all (ResourceExhausted naming the limit).
func (e *Engine) AdmitAdds(specs []*matchingv1.TaskSpec) (release func(), err error) {
	var adm []admission
	for _, s := range specs {
		i := 0
		for i < len(adm) && adm[i].u.name != s.GetNamespace() {
			i++
		}
		if i == len(adm) {
			adm = append(adm, admission{u: e.quotas.usage(s.GetNamespace())})
		}
		a := &adm[i]
		a.n++
		q := s.GetQueue()
		seen := false
		for _, x := range a.queues {
			if x == q {
				seen = true
				break
			}
		}
		if !seen {
			a.queues = append(a.queues, q)
		}
	}
	for i := range adm {
		if err := e.admit(&adm[i], specs); err != nil {
			for j := range i {
				adm[j].undo(true)
			}
			return nil, err
		}
	}
	return func() {
		for i := range adm {
			adm[i].undo(false)
		}
	}, nil
}

func (e *Engine) admit(a *admission, specs []*matchingv1.TaskSpec) error {
	u := a.u
	u.mu.Lock()
	defer u.mu.Unlock()
	q := u.quota
	if q.MaxPayloadBytes > 0 {
		for i, s := range specs {
			if s.GetNamespace() == u.name && len(s.GetPayload()) > q.MaxPayloadBytes {
				return u.exhausted(0, "maxPayloadBytes", "--quota-max-payload-bytes",
					"is over its payload quota of %d bytes: %s has %d bytes", q.MaxPayloadBytes, payloadField(specs, i), len(s.GetPayload()))
			}
		}
	}
	e.recoverUsageLocked(u)
	if q.MaxBacklog > 0 && u.backlog+u.reserved+a.n > q.MaxBacklog {
		return u.exhausted(backlogRetryDelay, "maxBacklog", "--quota-max-backlog",
			"is at its backlog quota of %d tasks: %d waiting, %d being added, %s", q.MaxBacklog, u.backlog, u.reserved, adding(a.n))
	}
	if q.MaxQueues > 0 {
		fresh := 0
		for _, name := range a.queues {
			if _, ok := u.queues[name]; !ok {
				fresh++
			}
		}
		if fresh > 0 && len(u.queues)+fresh > q.MaxQueues {
			return u.exhausted(backlogRetryDelay, "maxQueues", "--quota-max-queues",
				"is at its queue quota of %d queues with waiting tasks: %d in use, batch adds %d", q.MaxQueues, len(u.queues), fresh)
		}
	}
	if q.AddRate > 0 {
		if now := e.now().UnixNano(); u.bucket.available(now) < int(a.n) {
			return u.exhausted(u.bucket.waitFor(int(a.n), now), "addRate", "--quota-add-rate",
				"is over its add rate quota of %g tasks/s (burst %d): %s", q.AddRate, u.addBurst(), adding(a.n))
		}
		u.bucket.take(int(a.n))
	}
	u.reserved += a.n
	return nil
}

// payloadField names the payload of specs[i] as the caller sent it: a single add's
// payload, or a batch's tasks[i].payload.
func payloadField(specs []*matchingv1.TaskSpec, i int) string {
	if len(specs) == 1 {
		return "the task's payload"
	}
	return fmt.Sprintf("tasks[%d].payload", i)
}

// adding words what a refused call adds: one task, or a batch.
func adding(n int64) string {
	if n == 1 {
		return "adding 1 task"
	}
	return fmt.Sprintf("batch of %d tasks", n)
}

// undo returns the reservation; refund also gives the rate tokens back (the batch was
// refused for another namespace's quota).
func (a *admission) undo(refund bool) {
	a.u.mu.Lock()
	a.u.reserved -= a.n
	if refund && a.u.quota.AddRate > 0 {
		a.u.bucket.tokens += float64(a.n)
	}
	a.u.mu.Unlock()
}

// backlogRetryDelay is the retry delay suggested when the backlog or queue quota is full:
// workers draining the namespace free room at their own pace.
const backlogRetryDelay = 500 * time.Millisecond

// exhausted is the ResourceExhausted error of a limit: where it comes from (the flag or
// the namespace's override) is named so an operator knows what to change. A refusal that
// time can lift (retryAfter > 0) carries a RetryInfo detail with that delay, which the SDK
// retries on; one that repeating cannot fix (a payload over the quota, a batch over the
// burst) carries none.
func (u *nsUsage) exhausted(retryAfter time.Duration, field, flag, format string, args ...any) error {
	source := flag
	if u.overridden {
		source = fmt.Sprintf("%s of namespace %q in ConfigMap taskroute-quotas", field, u.name)
	}
	msg := fmt.Sprintf("namespace %q ", u.name) + fmt.Sprintf(format, args...) + " (" + source + ")"
	st := status.New(codes.ResourceExhausted, msg)
	if retryAfter > 0 {
		if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)}); err == nil {
			st = d
		}
	}
	return st.Err()
}
