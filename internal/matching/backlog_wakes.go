package matching

import "github.com/taskroute/taskroute/internal/queueconfig"

var _ queueconfig.BacklogNotifier = (*Engine)(nil)

// BacklogWakes reports queues whose backlog gained a task while empty, so the operator
// wakes pools scaled to zero without polling the statistics.
func (e *Engine) BacklogWakes() *queueconfig.Wakes { return &e.wakes }

// wakeIfFirstLocked notifies the autoscaler's wakes and the external scalers' backlog
// watchers when the level of prio of b has just received its first waiting task. Only the
// transition notifies: a steady backlog costs nothing, and a pool that can serve the task
// either runs (and will poll it) or is woken by this. Call with the queue locked, after
// b.add.
func (q *queueManager) wakeIfFirstLocked(b *backlog, prio uint8) {
	if l := b.levels[prio]; l != nil && l.count == 1 {
		q.e.wakes.Notify(queueconfig.Key{Namespace: q.ref.Namespace, Name: q.ref.Queue})
		q.e.backlogWatch.entered(q.ref.Namespace, q.ref.Queue)
	}
}
