package matching

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// ErrorTypeUnknownTaskType is the failure type a worker reports for a task type it has not
// registered (pkg/worker uses the same name). Such a failure is retryable, so a worker
// that knows the type can still run the task; but when no worker does, retrying forever
// only hides the mistake, so the engine bounds it (Options.UnknownTaskTypeMaxAttempts).
const ErrorTypeUnknownTaskType = "UnknownTaskType"

// DefaultUnknownTaskTypeMaxAttempts is the bound on attempts of a task whose latest
// attempt failed with ErrorTypeUnknownTaskType, unless Options say otherwise.
const DefaultUnknownTaskTypeMaxAttempts = 5

// unknownTypeWindow is how long DescribeQueue keeps reporting a task type after its last
// UnknownTaskType failure.
const unknownTypeWindow = time.Hour

// Bounds of the memory the report takes: types per queue, queues overall.
const (
	maxUnknownTypesPerQueue = 16
	maxUnknownTypeQueues    = 10000
)

// unknownTypeExhausted reports whether an attempt failed with f ends task t for good: its
// failure is UnknownTaskType and t has made the engine's bound of attempts. The task's own
// retry policy still applies when it is stricter.
func (e *Engine) unknownTypeExhausted(t *task, f *failure) bool {
	limit := e.opts.UnknownTaskTypeMaxAttempts
	return f.errorType == ErrorTypeUnknownTaskType && limit > 0 && t.attempt >= limit
}

// endUnknownTypeLocked ends t Failed with f, saying in the message why a retryable failure
// was not retried. Call with the shard locked; commit the returned op.
func (e *Engine) endUnknownTypeLocked(t *task, f *failure, now time.Time) op {
	ended := *f
	ended.message = fmt.Sprintf("%s (no worker ran task type %q in %d attempts; the bound on attempts of an unknown task type is %d)",
		f.message, t.taskType, t.attempt, e.opts.UnknownTaskTypeMaxAttempts)
	t.failure = &ended
	return e.finish(t, stateFailed, now)
}

// unknownTypes counts UnknownTaskType failures per queue and task type, for DescribeQueue.
// It lives beside the queue managers, not in them, so the report survives a queue
// unloading and describing a queue does not load it.
type unknownTypes struct {
	mu      sync.Mutex
	byQueue map[string]map[string]*unknownTypeStat // key: namespace \x00 queue, then type
}

type unknownTypeStat struct {
	failures, tasksFailed int64
	lastSeen              int64 // unix nanos
	lastWorker            string
}

// record counts one attempt of t that failed with UnknownTaskType; ended says the task
// ended Failed with it.
func (u *unknownTypes) record(t *task, worker string, ended bool, now int64) {
	key := t.ns + "\x00" + t.queue
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.byQueue == nil {
		u.byQueue = map[string]map[string]*unknownTypeStat{}
	}
	types := u.byQueue[key]
	if types == nil {
		u.makeRoomLocked(now)
		types = map[string]*unknownTypeStat{}
		u.byQueue[key] = types
	}
	st := types[t.taskType]
	if st == nil {
		dropOldest(types, maxUnknownTypesPerQueue-1)
		st = &unknownTypeStat{}
		types[t.taskType] = st
	}
	st.failures++
	if ended {
		st.tasksFailed++
	}
	st.lastSeen, st.lastWorker = now, worker
}

// makeRoomLocked keeps the number of queues below its bound: stale entries go first, then
// any queue's.
func (u *unknownTypes) makeRoomLocked(now int64) {
	if len(u.byQueue) < maxUnknownTypeQueues {
		return
	}
	for key, types := range u.byQueue {
		pruneStale(types, now)
		if len(types) == 0 {
			delete(u.byQueue, key)
		}
	}
	for key := range u.byQueue {
		if len(u.byQueue) < maxUnknownTypeQueues {
			return
		}
		delete(u.byQueue, key)
	}
}

// describe returns the queue's recent unknown task types, by name.
func (u *unknownTypes) describe(ns, queue string, now int64) []*matchingv1.UnknownTaskTypeStats {
	key := ns + "\x00" + queue
	u.mu.Lock()
	defer u.mu.Unlock()
	types := u.byQueue[key]
	pruneStale(types, now)
	if len(types) == 0 {
		delete(u.byQueue, key)
		return nil
	}
	out := make([]*matchingv1.UnknownTaskTypeStats, 0, len(types))
	for name, st := range types {
		out = append(out, &matchingv1.UnknownTaskTypeStats{TaskType: name, Failures: st.failures, TasksFailed: st.tasksFailed,
			LastSeenTime: timestamppb.New(time.Unix(0, st.lastSeen)), LastWorkerIdentity: st.lastWorker})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TaskType < out[j].TaskType })
	return out
}

func pruneStale(types map[string]*unknownTypeStat, now int64) {
	for name, st := range types {
		if now-st.lastSeen > int64(unknownTypeWindow) {
			delete(types, name)
		}
	}
}

// dropOldest removes the least recently seen types until at most keep remain.
func dropOldest(types map[string]*unknownTypeStat, keep int) {
	for len(types) > keep {
		oldest := ""
		for name, st := range types {
			if oldest == "" || st.lastSeen < types[oldest].lastSeen {
				oldest = name
			}
		}
		delete(types, oldest)
	}
}
