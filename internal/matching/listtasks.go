package matching

import (
	"errors"
	"fmt"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/storage"
)

// ListTasksScanLimit and ListTasksScanBytes bound the task records one ListTasks page
// reads. Tasks are stored by namespace and id, not by queue, so a page scans the
// namespace's records in id order and keeps those of the queue: listing a queue costs a
// read of every task of its namespace over all pages, at most this many records (or
// bytes of records, payloads included) per call.
const (
	ListTasksScanLimit = 10000
	ListTasksScanBytes = 64 << 20
)

// ListTasks lists the tasks of a queue (both kinds) in id order after the task id after,
// only those in state unless it is unspecified, at most pageSize. next is the id to
// continue after; it is empty when the namespace's tasks were read to the end. A page may
// hold fewer than pageSize tasks (even none) when it stopped at a scan bound.
func (e *Engine) ListTasks(ns, queue string, state matchingv1.TaskState, pageSize int, after string) (tasks []*matchingv1.TaskInfo, next string, err error) {
	since := e.tasks.evictionCounts()
	scanned, read, last := 0, 0, ""
	var lookupErr error
	err = e.store.ScanTasks(ns, after, ListTasksScanLimit, func(id string, rec []byte) bool {
		scanned, read, last = scanned+1, read+len(rec), id
		if q, ok := recordQueue(rec); ok && string(q) == queue {
			info, err := e.currentSummary(ns, id, rec, since)
			if err != nil {
				lookupErr = err
				return false
			}
			if info != nil && (state == matchingv1.TaskState_TASK_STATE_UNSPECIFIED || info.State == state) {
				tasks = append(tasks, info)
			}
		}
		return len(tasks) < pageSize && read < ListTasksScanBytes
	})
	if err = errors.Join(err, lookupErr); err != nil {
		return nil, "", internalErr(err)
	}
	if len(tasks) == pageSize || scanned == ListTasksScanLimit || read >= ListTasksScanBytes {
		next = last
	}
	return tasks, next, nil
}

// currentSummary returns the summary of a task whose record rec a scan read when the
// eviction counts were since: from memory when the task is there (its state may be ahead
// of its record), from rec when that is still current, else from storage again. nil when
// the task is gone since the scan read it.
func (e *Engine) currentSummary(ns, id string, rec []byte, since [numShards]uint64) (*matchingv1.TaskInfo, error) {
	key := taskKey(ns, id)
	s, i := e.tasks.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tasks[key]; ok {
		return t.summary(), nil
	}
	if s.mayHaveEvicted(key, since[i]) {
		var err error
		if rec, err = e.store.GetTask(nil, ns, id); errors.Is(err, storage.ErrNotFound) {
			return nil, nil
		} else if err != nil {
			return nil, err
		}
	}
	t, err := decodeTask(rec)
	if err != nil {
		return nil, fmt.Errorf("task %s/%s: %w", ns, id, err)
	}
	return t.summary(), nil
}
