package matching

import (
	"context"
	"time"

	"github.com/google/uuid"
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
	nowNs := now.UnixNano()
	results := make([]*matchingv1.AddTaskResponse, len(specs))
	resps := make([]matchingv1.AddTaskResponse, len(specs)) // one allocation for the batch
	tasks := make([]*task, len(specs))
	keys := make([]string, len(specs))
	var shardSet [numShards]bool
	for i, spec := range specs {
		cfg := e.config(spec.GetNamespace(), spec.GetQueue())
		t := newTask(spec, cfg, nowNs)
		tasks[i] = t
		keys[i] = taskKey(t.ns, t.id)
		shardSet[e.shardIndex(keys[i])] = true
		resps[i].TaskId = t.id
		results[i] = &resps[i]
	}
	// Check storage for existing ids before taking locks (a Pebble read per task must not
	// hold shard locks); under the locks only the in-memory table and, if the shard evicted
	// something meanwhile, storage again are consulted.
	exists := make([]bool, len(specs))
	var evictions [numShards]uint64
	for i := range shardSet {
		if shardSet[i] {
			evictions[i] = e.shards[i].evictions.Load()
		}
	}
	for i, t := range tasks {
		if specs[i].GetTaskId() == "" {
			continue // a fresh service-generated id cannot exist yet
		}
		if _, err := e.store.GetTask(nil, t.ns, t.id); err == nil {
			exists[i] = true
		} else if err != storage.ErrNotFound {
			return nil, status.Errorf(codes.Internal, "reading task %s: %v", t.id, err)
		}
	}
	// Lock every shard the batch touches, in index order, for the whole staging: other
	// calls about these tasks (a completion by the poller that got one, a cancel) then
	// reach storage after the add.
	for i := range shardSet {
		if shardSet[i] {
			e.shards[i].mu.Lock()
		}
	}
	ops := make([]op, 0, len(specs))
	var created []int
	for i, t := range tasks {
		s := e.shardOf(keys[i])
		if _, ok := s.tasks[keys[i]]; ok {
			continue
		}
		if exists[i] {
			continue
		}
		if si := e.shardIndex(keys[i]); specs[i].GetTaskId() != "" && e.shards[si].mayHaveEvicted(keys[i], evictions[si]) {
			if _, err := e.store.GetTask(nil, t.ns, t.id); err == nil {
				continue
			} else if err != storage.ErrNotFound {
				e.unlockShards(&shardSet)
				return nil, status.Errorf(codes.Internal, "reading task %s: %v", t.id, err)
			}
		}
		s.tasks[keys[i]] = t
		results[i].Created = true
		created = append(created, i)
		q := e.lockQueue(t.ns, t.queue)
		matched := q.offerLocked(t, nowNs, func(t *task) *matchingv1.Task { return e.startLocked(t, now, q) })
		if matched {
			e.metrics.syncMatched(q)
			q.mu.Unlock()
			ops = append(ops, e.prepare(t))
		} else {
			t.seq = e.nextSeq()
			q.bufferLocked(t)
			q.mu.Unlock()
			o := e.prepare(t)
			o.putBacklog = t.seq
			ops = append(ops, o)
		}
		e.metrics.added1(q)
	}
	var g *storage.Group
	if len(ops) > 0 {
		g = e.commit(ops...)
	}
	e.unlockShards(&shardSet)
	if g == nil {
		return results, nil
	}
	err := g.Wait()
	for _, i := range created {
		e.writeDone(keys[i], tasks[i])
	}
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "writing tasks: %v", err)
	}
	return results, nil
}

func (e *Engine) shardIndex(key string) int {
	return int(hashString(e, key) % numShards)
}

func (e *Engine) unlockShards(set *[numShards]bool) {
	for i := range set {
		if set[i] {
			e.shards[i].mu.Unlock()
		}
	}
}

// newTask builds a scheduled task from a validated spec and the queue's defaults.
func newTask(spec *matchingv1.TaskSpec, cfg queueconfig.Config, now int64) *task {
	t := &task{
		ns: spec.GetNamespace(), queue: spec.GetQueue(), id: spec.GetTaskId(), taskType: spec.GetTaskType(),
		kind: kindActivity, payload: spec.GetPayload(), headers: spec.GetHeaders(),
		state: stateScheduled, scheduledAt: now, readyAt: now,
		scheduleToStart: cfg.ScheduleToStartTimeout, startToClose: cfg.StartToCloseTimeout, heartbeat: cfg.HeartbeatTimeout,
	}
	if t.id == "" {
		t.id = uuid.NewString()
	}
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
	rp := cfg.Retry
	t.retry = retryPolicy{initial: rp.InitialInterval, coefficient: rp.BackoffCoefficient, maximum: rp.MaximumInterval,
		maxAttempts: int32(rp.MaximumAttempts), nonRetryable: rp.NonRetryableErrorTypes}
	if r := spec.GetRetryPolicy(); r != nil {
		if r.InitialInterval != nil {
			t.retry.initial = r.InitialInterval.AsDuration()
		}
		if r.BackoffCoefficient != 0 {
			t.retry.coefficient = r.BackoffCoefficient
		}
		if r.MaximumInterval != nil {
			t.retry.maximum = r.MaximumInterval.AsDuration()
		}
		if r.MaximumAttempts != 0 {
			t.retry.maxAttempts = r.MaximumAttempts
		}
		if len(r.NonRetryableErrorTypes) > 0 {
			t.retry.nonRetryable = r.NonRetryableErrorTypes
		}
	}
	if t.retry.coefficient < 1 {
		t.retry.coefficient = 1
	}
	if t.scheduleToStart > 0 {
		t.s2sDeadline = now + int64(t.scheduleToStart)
	}
	return t
}

// startLocked starts a new attempt of a scheduled task and returns what the worker gets.
// Call with the task's shard locked.
func (e *Engine) startLocked(t *task, now time.Time, q *queueManager) *matchingv1.Task {
	ns := now.UnixNano()
	t.state = stateStarted
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
// to a waiting poller or into the backlog. Call with the shard locked; commit the op.
func (e *Engine) readyLocked(t *task, now time.Time) op {
	nowNs := now.UnixNano()
	t.state = stateScheduled
	t.retryAt = 0
	t.readyAt = nowNs
	t.s2sDeadline = 0
	if t.scheduleToStart > 0 {
		t.s2sDeadline = nowNs + int64(t.scheduleToStart)
	}
	q := e.lockQueue(t.ns, t.queue)
	if q.offerLocked(t, nowNs, func(t *task) *matchingv1.Task { return e.startLocked(t, now, q) }) {
		e.metrics.syncMatched(q)
		q.mu.Unlock()
		return e.prepare(t)
	}
	t.seq = e.nextSeq()
	q.bufferLocked(t)
	q.mu.Unlock()
	o := e.prepare(t)
	o.putBacklog = t.seq
	return o
}
