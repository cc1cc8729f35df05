package matching

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/taskroute/taskroute/internal/storage"
)

// ErrorTypeTargetWorkerLost ends a host- or process-routed task whose workers are gone.
const ErrorTypeTargetWorkerLost = "TargetWorkerLost"

// pinning requirements route to one host or one worker process; when no live worker meets
// them for a liveness timeout, their tasks can never run and fail instead of waiting.
var pinningNames = [...]string{"taskroute.dev/host", "taskroute.dev/process"}

// pinned returns the requirements among reqs that pin tasks to a host or process.
func pinned(reqs []capability) []capability {
	var out []capability
	for _, r := range reqs {
		if isPinning(r.name) {
			out = append(out, r)
		}
	}
	return out
}

// lostPartition is a routed partition whose pinned workers are gone.
type lostPartition struct {
	ref    storage.QueueRef
	kind   uint8
	pinned []capability
}

func (e *Engine) lostTargetLoop() {
	defer e.wg.Done()
	interval := min(time.Second, e.opts.WorkerLivenessTimeout/4)
	for e.sleep(context.Background(), interval) {
		e.FailLostSessions()
		e.FailLostTargets()
	}
}

// FailLostTargets fails the waiting tasks of host- and process-routed partitions whose
// workers have been gone for the liveness timeout, and returns how many it failed.
func (e *Engine) FailLostTargets() int {
	now := e.now()
	failed := 0
	for _, q := range e.loadedQueues() {
		for _, lost := range q.lostPartitions(now.UnixNano()) {
			failed += e.failPartition(lost, now)
		}
	}
	return failed
}

// lostPartitions returns the routed partitions with waiting tasks whose pinned requirements
// no live worker meets. Liveness already waits the liveness timeout after a worker was last
// seen; a partition loaded less than that long ago is spared too, so workers have that long
// to come back after a restart of the service (or an unload of the queue).
func (q *queueManager) lostPartitions(now int64) []lostPartition {
	q.mu.Lock()
	defer q.mu.Unlock()
	var lost []lostPartition
	var live livePins // built on first need
	for _, sq := range q.kind {
		if sq == nil {
			continue
		}
		sq.listPartitions() // tasks stored before a restart, whose workers may never poll again
		for _, b := range sq.routed {
			if b.total() == 0 && !b.onDisk {
				continue // idle partitions (most host and process ones) cost nothing here
			}
			pins := pinned(b.requires)
			if len(pins) == 0 {
				continue
			}
			if live == nil {
				live = q.livePinsLocked(now)
			}
			if live.anyMeets(pins) {
				continue
			}
			// A partition found on disk is counted only once a poll may take from it; no
			// live worker will, so count it here.
			ensureLevels([]*backlog{b}, 0xffff, q.cfg.PriorityLevels)
			if b.total() == 0 {
				continue
			}
			if now-b.loadedAt > int64(q.e.opts.WorkerLivenessTimeout) {
				lost = append(lost, lostPartition{ref: b.ref, kind: b.kind, pinned: pins})
			}
		}
	}
	return lost
}

// lostBatch bounds the tasks one pass reads per partition level; the rest go next pass.
const lostBatch = 1000

// failPartition ends the waiting tasks of a lost partition Failed with TargetWorkerLost.
func (e *Engine) failPartition(lost lostPartition, now time.Time) int {
	var ids []string
	for p := uint8(1); p <= maxLevels; p++ {
		err := e.store.ScanBacklog(lost.ref, lost.kind, p, 0, lostBatch, func(ent storage.BacklogEntry) bool {
			ids = append(ids, string(ent.TaskID))
			return true
		})
		if err != nil {
			e.log.Error(err, "Failed to read a lost partition", "namespace", lost.ref.Namespace, "queue", lost.ref.Queue)
		}
	}
	msg := fmt.Sprintf("no live worker has %s: the worker this task was routed to is gone", routeKeyText(lost.pinned))
	failed := 0
	for _, id := range ids {
		err := e.mutate(lost.ref.Namespace, id, func(s *shard, key string) (*task, *op, error) {
			t, err := e.lookupOrErr(s, key, lost.ref.Namespace, id)
			if err != nil || t.state != stateScheduled || t.part != lost.ref.Partition || t.seq == 0 || t.retryAt != 0 {
				return t, nil, err
			}
			e.unbufferLocked(t)
			t.failure = lostFailure(t, msg)
			e.metrics.failedAttempt(t, t.failure.errorType)
			o := e.finish(t, stateFailed, now)
			failed++
			return t, &o, nil
		})
		if err != nil {
			e.log.Error(err, "Failed to fail a task of a lost worker", "namespace", lost.ref.Namespace, "task", id)
		}
	}
	if failed > 0 {
		e.log.Info("Failed tasks routed to gone workers", "namespace", lost.ref.Namespace, "queue", lost.ref.Queue,
			"requires", routeKeyText(lost.pinned), "tasks", failed)
	}
	return failed
}

// lostFailure is the failure of a task whose target worker is gone: SessionFailed for a
// session's task, TargetWorkerLost otherwise.
func lostFailure(t *task, msg string) *failure {
	if t.session != "" {
		return &failure{message: "session " + t.session + " failed: " + msg, errorType: ErrorTypeSessionFailed, nonRetryable: true}
	}
	return &failure{message: msg, errorType: ErrorTypeTargetWorkerLost, nonRetryable: true}
}

// routeKeyText renders requirements for messages: name=value joined by commas.
func routeKeyText(reqs []capability) string { return strings.ReplaceAll(routeKey(reqs), routeSep, ",") }
