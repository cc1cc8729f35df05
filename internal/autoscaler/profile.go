package autoscaler

import (
	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// PoolProfile is what a WorkerPool's workers serve: their capabilities and priority
// levels. The autoscaler and the per-pool metrics narrow a queue's backlog with it.
func PoolProfile(pool *v1alpha1.WorkerPool) queueconfig.WorkerProfile {
	var p queueconfig.WorkerProfile
	for _, c := range pool.Spec.Capabilities {
		p.Capabilities = append(p.Capabilities, queueconfig.Capability{Name: c.Name, Value: c.Value})
	}
	for _, l := range pool.Spec.Priorities {
		p.Priorities = append(p.Priorities, int(l))
	}
	return p
}
