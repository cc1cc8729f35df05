package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/autoscaler"
)

// Directions of a scaling decision, the label of taskroute_autoscaler_scaling_decisions_total.
const (
	directionUp   = "up"
	directionDown = "down"
)

var replicaLabels = []string{"namespace", "pool", "queue"}

// The built-in autoscaler's metrics, one series per pool with autoscaling mode Backlog
// (and per direction and reason for the decisions): bounded by the autoscaled pools.
var (
	desiredReplicasGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "taskroute_autoscaler_desired_replicas",
		Help: "The size the built-in autoscaler decided for a WorkerPool with autoscaling mode Backlog: its spec.replicas after the last pass.",
	}, replicaLabels)
	recommendedReplicasGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "taskroute_autoscaler_recommended_replicas",
		Help: "The workers the load asked for at the built-in autoscaler's last decision, before bounds, pinned work, steps and the scale-down delay.",
	}, replicaLabels)
	readyReplicasGauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "taskroute_autoscaler_ready_replicas",
		Help: "Ready worker pods of a WorkerPool with autoscaling mode Backlog (its status.readyReplicas).",
	}, replicaLabels)
	scalingDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "taskroute_autoscaler_scaling_decisions_total",
		Help: "Decisions of the built-in autoscaler that changed a WorkerPool's size, by direction (up, down) and reason (the ScalingActive reason).",
	}, []string{"namespace", "pool", "direction", "reason"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(desiredReplicasGauge, recommendedReplicasGauge, readyReplicasGauge, scalingDecisions)
}

// autoscalerMetrics keeps the autoscaler's series of each pool and removes them when the
// pool is deleted or leaves mode Backlog. It remembers each pool's queue label, so a pool
// moved to another queue does not leave its old series behind.
type autoscalerMetrics struct {
	queues sync.Map // types.NamespacedName -> queue label of the pool's gauges
}

// observe sets the gauges of an autoscaled pool after a pass; d is nil when no decision
// was made (statistics unavailable), and the recommendation then keeps its last value.
func (m *autoscalerMetrics) observe(pool *v1alpha1.WorkerPool, d *autoscaler.Decision) {
	key := types.NamespacedName{Namespace: pool.Namespace, Name: pool.Name}
	if old, loaded := m.queues.Swap(key, pool.Spec.Queue); loaded && old != pool.Spec.Queue {
		deleteGauges(prometheus.Labels{"namespace": pool.Namespace, "pool": pool.Name, "queue": old.(string)})
	}
	labels := []string{pool.Namespace, pool.Name, pool.Spec.Queue}
	if d != nil {
		recommendedReplicasGauge.WithLabelValues(labels...).Set(float64(d.Recommendation))
	}
	readyReplicasGauge.WithLabelValues(labels...).Set(float64(pool.Status.ReadyReplicas))
	// Last, so a scrape that sees a pass's size also sees its recommendation.
	desiredReplicasGauge.WithLabelValues(labels...).Set(float64(ptr.Deref(pool.Spec.Replicas, 1)))
}

// countDecision counts a decision that changed the pool's size.
func (m *autoscalerMetrics) countDecision(pool *v1alpha1.WorkerPool, d autoscaler.Decision) {
	m.queues.LoadOrStore(types.NamespacedName{Namespace: pool.Namespace, Name: pool.Name}, pool.Spec.Queue) // for forget
	direction := directionUp
	if d.Replicas < d.Input.Current {
		direction = directionDown
	}
	scalingDecisions.WithLabelValues(pool.Namespace, pool.Name, direction, d.Reason).Inc()
}

// forget removes every series of a pool that is gone or no longer autoscaled; a pool
// that never had any costs nothing.
func (m *autoscalerMetrics) forget(key types.NamespacedName) {
	if _, loaded := m.queues.LoadAndDelete(key); !loaded {
		return
	}
	match := prometheus.Labels{"namespace": key.Namespace, "pool": key.Name}
	deleteGauges(match)
	scalingDecisions.DeletePartialMatch(match)
}

func deleteGauges(match prometheus.Labels) {
	for _, g := range []*prometheus.GaugeVec{desiredReplicasGauge, recommendedReplicasGauge, readyReplicasGauge} {
		g.DeletePartialMatch(match)
	}
}

// updateAutoscalerMetrics sets the gauges of an autoscaled pool after a pass and removes
// the series of a pool that left mode Backlog.
func (r *WorkerPoolReconciler) updateAutoscalerMetrics(pool *v1alpha1.WorkerPool, obs poolObservation) {
	if !backlogAutoscaled(pool) {
		r.metrics.forget(types.NamespacedName{Namespace: pool.Namespace, Name: pool.Name})
		return
	}
	r.metrics.observe(pool, obs.scaling)
}
