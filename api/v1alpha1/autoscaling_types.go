package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// WorkerPool condition types of the built-in autoscaler (spec.autoscaling.mode Backlog).
const (
	// ConditionScalingActive is True while the autoscaler sizes the pool from the backlog;
	// its reason is the last decision and its message the numbers behind it. False when
	// the queue's statistics cannot be read (the size is then left as it is).
	ConditionScalingActive = "ScalingActive"
	// ConditionScalingLimited is True when the size the load asks for is held back: by
	// minReplicas or maxReplicas, the queue's rate limit, work pinned to the pool's
	// workers, or the size of one step.
	ConditionScalingLimited = "ScalingLimited"
)

// Reasons of the ScalingActive condition: what the last decision was.
const (
	// ReasonBacklogAboveTarget: the pool grew for its backlog, tasks in flight or
	// arrival rate.
	ReasonBacklogAboveTarget = "BacklogAboveTarget"
	// ReasonBacklogTooOld: the pool grew because its oldest waiting task is older than
	// maxBacklogAge.
	ReasonBacklogTooOld = "BacklogTooOld"
	// ReasonScaleDownDelayed: the load justifies fewer workers, but not yet for
	// scaleDownDelay.
	ReasonScaleDownDelayed = "ScaleDownDelayed"
	// ReasonBacklogBelowTarget: the pool shrank after the load justified fewer workers
	// for scaleDownDelay.
	ReasonBacklogBelowTarget = "BacklogBelowTarget"
	// ReasonAtRecommendation: the pool has the size the load asks for.
	ReasonAtRecommendation = "AtRecommendation"
	// ReasonStatisticsUnavailable: the queue's statistics could not be read; the size
	// is left as it is.
	ReasonStatisticsUnavailable = "StatisticsUnavailable"
)

// Reasons of the ScalingLimited condition.
const (
	// ReasonWithinLimits: the pool gets the size the load asks for.
	ReasonWithinLimits = "WithinLimits"
	// ReasonAtMaxReplicas: the load asks for more than maxReplicas.
	ReasonAtMaxReplicas = "AtMaxReplicas"
	// ReasonAtMinReplicas: the load asks for fewer than minReplicas.
	ReasonAtMinReplicas = "AtMinReplicas"
	// ReasonRateLimited: more workers could not work, because the queue's global rate
	// limit caps dispatch.
	ReasonRateLimited = "RateLimited"
	// ReasonPinnedWork: the pool keeps workers that hold work pinned to them (tasks
	// routed to their host or process).
	ReasonPinnedWork = "PinnedWork"
	// ReasonStepLimited: the pool grows by at most one step per scale-up interval.
	ReasonStepLimited = "StepLimited"
)

// AutoscalingStatus is the state the built-in autoscaler keeps across passes, in the
// status so a restarted manager continues where the last one stopped.
type AutoscalingStatus struct {
	// recommendation is the number of workers the load asked for at the last decision
	// that changed the size or started a scale-down delay, before bounds and limits.
	// +optional
	Recommendation int32 `json:"recommendation,omitempty"`

	// scaleDownSince is when the load first justified fewer workers than spec.replicas,
	// without interruption since; unset while it does not.
	// +optional
	ScaleDownSince *metav1.Time `json:"scaleDownSince,omitempty"`

	// scaleDownTo is the largest size the load asked for since scaleDownSince: the size
	// the pool shrinks to once scaleDownDelay has passed.
	// +optional
	ScaleDownTo int32 `json:"scaleDownTo,omitempty"`

	// lastScaleTime is when the autoscaler last changed spec.replicas.
	// +optional
	LastScaleTime *metav1.Time `json:"lastScaleTime,omitempty"`
}
