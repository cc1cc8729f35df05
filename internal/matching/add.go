package matching

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/storage"
)

// AddTasks schedules validated task specs (see server validation) in one durable write.
// Each task is handed straight to a waiting poller when there is one (sync match: the
// poller gets it while the write is in flight) and otherwise goes to the backlog. It
// returns once the write is synced.
func (e *Engine) AddTasks(ctx context.Context, specs []*matchingv1.TaskSpec) ([]*matchingv1.AddTaskResponse, error) {
	select {
	case <-e.closing:
		return nil, status.Error(codes.Unavailable, errEngineClosed.Error())
	default:
	}
	now := e.now()
	results := make([]*matchingv1.AddTaskResponse, len(specs))
	resps := make([]matchingv1.AddTaskResponse, len(specs)) // one allocation for the batch
	tasks := make([]*task, len(specs))
	keys := make([]string, len(specs))
	var set shardSet
	ids := newIDBatch(withoutID(specs))
	for i, spec := range specs {
		t := newTask(spec, e.config(spec.GetNamespace(), spec.GetQueue()), now.UnixNano(), ids)
		tasks[i], keys[i] = t, t.key
		set[e.tasks.index(keys[i])] = true
		resps[i].TaskId = t.id
		results[i] = &resps[i]
	}
	if err := e.bindSessionTasks(specs, tasks); err != nil {
		return nil, err
	}
	exists, evictions, err := e.existingIDs(specs, tasks, &set)
	if err != nil {
		return nil, err
	}
	// Lock every shard the batch touches, in index order, for the whole staging: other
	// calls about these tasks (a completion by the poller that got one, a cancel) then
	// reach storage after the add.
	e.tasks.lockAll(&set)
	st := staged{ops: make([]op, 0, len(specs)), cause: storage.CauseAdd}
	for i, t := range tasks {
		s, si := e.tasks.shard(keys[i])
		if _, ok := s.tasks[keys[i]]; ok || exists[i] {
			continue
		}
		if specs[i].GetTaskId() != "" && s.mayHaveEvicted(keys[i], evictions[si]) {
			if _, err := e.store.GetTask(nil, t.ns, t.id); err == nil {
				continue
			} else if err != storage.ErrNotFound {
				e.tasks.unlockAll(&set)
				return nil, status.Errorf(codes.Internal, "reading task %s: %v", t.id, err)
			}
		}
		s.tasks[keys[i]] = t
		results[i].Created = true
		t.firstSeq = e.nextSeq()
		q, matched := e.schedule(t, t.firstSeq, now)
		o := e.prepare(t)
		if matched {
			e.metrics.syncMatched(q)
		} else {
			o.putBacklog = t.seq
		}
		st.add(o)
		e.metrics.added1(q)
	}
	if err := e.commitAndWait(&st, func() { e.tasks.unlockAll(&set) }); err != nil {
		return nil, status.Errorf(codes.Unavailable, "writing tasks: %v", err)
	}
	return results, nil
}

// existingIDs checks storage for caller-given ids before any lock is taken (a Pebble read
// per task must not hold shard locks). Under the locks only the in-memory table and, for a
// shard that evicted something since the returned counts, storage again are consulted.
func (e *Engine) existingIDs(specs []*matchingv1.TaskSpec, tasks []*task, set *shardSet) ([]bool, [numShards]uint64, error) {
	var evictions [numShards]uint64
	for i := range set {
		if set[i] {
			evictions[i] = e.tasks.shards[i].evictions.Load()
		}
	}
	exists := make([]bool, len(specs))
	for i, t := range tasks {
		if specs[i].GetTaskId() == "" {
			continue // a fresh service-generated id cannot exist yet
		}
		if _, err := e.store.GetTask(nil, t.ns, t.id); err == nil {
			exists[i] = true
		} else if err != storage.ErrNotFound {
			return nil, evictions, status.Errorf(codes.Internal, "reading task %s: %v", t.id, err)
		}
	}
	return exists, evictions, nil
}

// setRoute sets a task's requirements and preferences and, from them and its fairness
// key, its route key and backlog partition.
func (t *task) setRoute(requires []*matchingv1.Capability, prefers []*matchingv1.PreferredCapability) {
	t.requires, t.route = requirementsOf(requires)
	t.prefers, t.route = withPreferences(t.route, prefers)
	t.part = partitionName(t.route, t.fairKey)
}

// withoutID counts the specs that come without a task id.
func withoutID(specs []*matchingv1.TaskSpec) int {
	n := 0
	for _, s := range specs {
		if s.GetTaskId() == "" {
			n++
		}
	}
	return n
}

// newTask builds a scheduled task from a validated spec and the queue's defaults; a spec
// without an id takes the next of ids.
func newTask(spec *matchingv1.TaskSpec, cfg queueconfig.Config, now int64, ids *idBatch) *task {
	t := &task{
		ns: spec.GetNamespace(), queue: spec.GetQueue(), id: spec.GetTaskId(), taskType: spec.GetTaskType(),
		kind: kindActivity, payload: spec.GetPayload(), headers: spec.GetHeaders(),
		state: stateScheduled, scheduledAt: now, readyAt: now,
		scheduleToStart: cfg.ScheduleToStartTimeout, startToClose: cfg.StartToCloseTimeout, heartbeat: cfg.HeartbeatTimeout,
	}
	if t.id == "" {
		t.key, t.id = ids.keyWithGeneratedID(t.ns)
	} else {
		t.key = taskKey(t.ns, t.id)
	}
	t.fairKey, t.fairWeight = spec.GetFairnessKey(), spec.GetFairnessWeight()
	t.setRoute(spec.GetRequires(), spec.GetPrefers())
	if spec.GetKind() == matchingv1.TaskKind_TASK_KIND_WORKFLOW {
		t.kind = kindWorkflow
	}
	t.priority = uint8(cfg.DefaultPriority)
	if p := spec.GetPriority(); p > 0 {
		t.priority = uint8(p)
	}
	if d := spec.GetScheduleToStartTimeout(); d != nil {
		t.scheduleToStart = d.AsDuration()
	}
	if d := spec.GetStartToCloseTimeout(); d != nil {
		t.startToClose = d.AsDuration()
	}
	if d := spec.GetHeartbeatTimeout(); d != nil {
		t.heartbeat = d.AsDuration()
	}
	t.retry = retryOf(spec.GetRetryPolicy(), cfg.Retry)
	if t.scheduleToStart > 0 {
		t.s2sDeadline = now + int64(t.scheduleToStart)
	}
	return t
}

// retryOf is the queue's retry policy with what the task sets of its own over it.
func retryOf(r *matchingv1.RetryPolicy, queue queueconfig.RetryPolicy) retryPolicy {
	p := retryPolicy{initial: queue.InitialInterval, coefficient: queue.BackoffCoefficient, maximum: queue.MaximumInterval,
		maxAttempts: int32(queue.MaximumAttempts), nonRetryable: queue.NonRetryableErrorTypes}
	if r != nil {
		if r.InitialInterval != nil {
			p.initial = r.InitialInterval.AsDuration()
		}
		if r.BackoffCoefficient != 0 {
			p.coefficient = r.BackoffCoefficient
		}
		if r.MaximumInterval != nil {
			p.maximum = r.MaximumInterval.AsDuration()
		}
		if r.MaximumAttempts != 0 {
			p.maxAttempts = r.MaximumAttempts
		}
		if len(r.NonRetryableErrorTypes) > 0 {
			p.nonRetryable = r.NonRetryableErrorTypes
		}
	}
	if p.coefficient < 1 {
		p.coefficient = 1
	}
	return p
}

// startLocked starts a new attempt of a scheduled task and returns what the worker gets.
// Call with the task's shard locked.
func (e *Engine) startLocked(t *task, now time.Time, q *queueManager) *matchingv1.Task {
	ns := now.UnixNano()
	t.state = stateStarted
	e.startedRunning(t)
	t.attempt++
	t.lease = e.nextSeq()
	t.startedAt = ns
	t.retryAt, t.s2sDeadline = 0, 0
	t.s2cDeadline, t.hbDeadline = 0, 0
	if t.startToClose > 0 {
		t.s2cDeadline = ns + int64(t.startToClose)
	}
	if t.heartbeat > 0 {
		t.hbDeadline = ns + int64(t.heartbeat)
	}
	e.metrics.dispatched(q, time.Duration(ns-t.readyAt))
	return t.toWorkerTask()
}

// readyLocked makes a scheduled task (after a retry wait or a release) dispatchable again:
// to a waiting poller or back into the backlog at its original place (its first sequence),
// so a retry does not wait behind tasks added after it. Call with the shard locked; commit
// the op.
func (e *Engine) readyLocked(t *task, now time.Time) op {
	nowNs := now.UnixNano()
	t.state = stateScheduled
	t.retryAt = 0
	t.readyAt = nowNs
	t.s2sDeadline = 0
	if t.scheduleToStart > 0 {
		t.s2sDeadline = nowNs + int64(t.scheduleToStart)
	}
	if t.firstSeq == 0 {
		t.firstSeq = e.nextSeq() // a record written before tasks kept their first sequence
	}
	q, matched := e.schedule(t, t.firstSeq, now)
	o := e.prepare(t)
	if matched {
		e.metrics.syncMatched(q)
	} else {
		o.putBacklog = t.seq
	}
	return o
}
