package matching

import "github.com/taskroute/taskroute/internal/queueconfig"

var _ queueconfig.BacklogNotifier = (*Engine)(nil)

// BacklogWatch reports queues whose backlog gained a task while empty, so the operator's
// autoscaler and KEDA's StreamIsActive wake pools scaled to zero without polling the
// statistics.
func (e *Engine) BacklogWatch() *queueconfig.BacklogWatch { return &e.backlogWatch }

// wakeIfFirstLocked notifies the backlog watch when the level of prio of b has just
// received its first waiting task. Only the transition notifies: a steady backlog costs
// nothing, and a pool that can serve the task either runs (and will poll it) or is woken
// by this. Call with the queue locked, after b.add.
func (q *queueManager) wakeIfFirstLocked(b *backlog, prio uint8) {
	w := &q.e.backlogWatch
	if l := b.levels[prio]; l == nil || l.count != 1 || !w.Subscribed() {
		return
	}
	w.Notify(queueconfig.Wake{
		Key:      queueconfig.Key{Namespace: q.ref.Namespace, Name: q.ref.Queue},
		Kind:     kindName(b.kind),
		Priority: int(prio),
		Requires: capabilitiesOut(b.requires),
	})
}

// kindName names a task kind as the registry does.
func kindName(kind uint8) string {
	if kind == kindWorkflow {
		return queueconfig.KindWorkflow
	}
	return queueconfig.KindActivity
}

// capabilitiesOut converts requirements to the registry's capabilities (nil for none).
func capabilitiesOut(caps []capability) []queueconfig.Capability {
	if len(caps) == 0 {
		return nil
	}
	out := make([]queueconfig.Capability, len(caps))
	for i, c := range caps {
		out[i] = queueconfig.Capability{Name: c.name, Value: c.value}
	}
	return out
}
