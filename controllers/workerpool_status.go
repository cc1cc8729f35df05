package controllers

import (
	"fmt"
	"math"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/autoscaler"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/render"
)

// Condition reasons of WorkerPool.
const (
	ReasonWorkersReady       = "WorkersReady"
	ReasonScaledToZero       = "ScaledToZero"
	ReasonWorkersNotReady    = "WorkersNotReady"
	ReasonDeploymentMissing  = "DeploymentNotApplied"
	ReasonRollingOut         = "RollingOut"
	ReasonScaling            = "Scaling"
	ReasonComplete           = "Complete"
	ReasonAsExpected         = "AsExpected"
	ReasonApplyFailed        = "ApplyFailed"
	ReasonInvalidTemplate    = "InvalidTemplate"
	ReasonDeploymentConflict = "DeploymentConflict"
	ReasonProgressDeadline   = "ProgressDeadlineExceeded"
	ReasonReplicaFailure     = "ReplicaFailure"
	ReasonTaskQueueFound     = "TaskQueueFound"
	ReasonTaskQueueNotFound  = "TaskQueueNotFound"
	ReasonPriorityOutOfRange = "PriorityOutOfRange"
)

// queueResolution is what the pool's TaskQueue says, or the defaults without one.
type queueResolution struct {
	found     bool
	levels    int32
	rateLimit float64 // tasks/s; 0 means none
}

// poolObservation is everything one reconcile learned about a pool.
type poolObservation struct {
	queue           queueResolution
	deployment      *appsv1.Deployment // nil when it does not exist (yet)
	desiredReplicas int32
	renderErr       error
	applyErr        error
	conflict        error
	stats           queueconfig.Stats
	statsErr        error
	scaling         *autoscaler.Decision // nil unless autoscaling mode Backlog decided
}

// setPoolStatus computes the pool's status from an observation. It is pure, so the
// conditions are covered by table tests.
func setPoolStatus(pool *v1alpha1.WorkerPool, obs poolObservation) {
	st := &pool.Status
	gen := pool.Generation
	setPoolCounts(pool, obs)
	set := func(t string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	setQueueResolved(set, pool, obs)
	setSpecHonored(&st.Conditions, gen, unhonouredPoolFields(&pool.Spec))
	setScalingConditions(pool, obs)

	degraded, degradedReason, degradedMsg := degradation(pool, obs)
	if degraded {
		set(v1alpha1.ConditionDegraded, metav1.ConditionTrue, degradedReason, degradedMsg)
	} else {
		set(v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected, "No problems found")
	}
	if obs.deployment == nil {
		set(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonDeploymentMissing, "The Deployment does not exist")
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonDeploymentMissing, "The Deployment does not exist")
		return
	}
	setRolloutConditions(set, obs.deployment, obs.desiredReplicas, degradedReason, degradedMsg)

	// observedGeneration says this status describes the current spec: the Deployment of
	// this generation is applied (or was already current).
	if obs.applyErr == nil && obs.renderErr == nil && obs.conflict == nil {
		st.ObservedGeneration = gen
	}
}

// setCondition sets one condition of the object being reported, at its generation.
type setCondition func(t string, status metav1.ConditionStatus, reason, msg string)

// setPoolCounts copies the replica counts of the Deployment and, when the matching
// service answered, the connected workers and backlog into the status.
func setPoolCounts(pool *v1alpha1.WorkerPool, obs poolObservation) {
	st := &pool.Status
	st.Selector = render.Selector(pool)
	st.DesiredReplicas = obs.desiredReplicas
	if d := obs.deployment; d != nil {
		st.DeploymentName = d.Name
		st.Replicas, st.ReadyReplicas, st.UpdatedReplicas = d.Status.Replicas, d.Status.ReadyReplicas, d.Status.UpdatedReplicas
	} else {
		st.Replicas, st.ReadyReplicas, st.UpdatedReplicas = 0, 0, 0
	}
	if obs.statsErr == nil {
		st.ConnectedWorkers, st.BacklogCount = connectedWorkers(obs.stats, pool.Name), backlogCount(obs.stats)
	}
}

// setQueueResolved: a missing TaskQueue is not an error (queues exist on demand), but the
// user should see that the pool runs with the queue's defaults.
func setQueueResolved(set setCondition, pool *v1alpha1.WorkerPool, obs poolObservation) {
	switch bad := priorityOutOfRange(pool.Spec.Priorities, obs.queue.levels); {
	case len(bad) > 0:
		set(v1alpha1.ConditionQueueResolved, metav1.ConditionFalse, ReasonPriorityOutOfRange,
			fmt.Sprintf("spec.priorities %v exceed the %d priority levels of queue %q", bad, obs.queue.levels, pool.Spec.Queue))
	case !obs.queue.found:
		set(v1alpha1.ConditionQueueResolved, metav1.ConditionFalse, ReasonTaskQueueNotFound,
			fmt.Sprintf("TaskQueue %q does not exist; the queue runs with default configuration", pool.Spec.Queue))
	default:
		set(v1alpha1.ConditionQueueResolved, metav1.ConditionTrue, ReasonTaskQueueFound, fmt.Sprintf("TaskQueue %q found", pool.Spec.Queue))
	}
}

// setRolloutConditions sets Progressing and Ready from the pool's Deployment d.
func setRolloutConditions(set setCondition, d *appsv1.Deployment, desired int32, degradedReason, degradedMsg string) {
	switch {
	case degradedReason == ReasonProgressDeadline:
		set(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonProgressDeadline, degradedMsg)
	case d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas < desired || d.Status.Replicas > d.Status.UpdatedReplicas:
		set(v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonRollingOut,
			fmt.Sprintf("%d of %d workers run the current template", d.Status.UpdatedReplicas, desired))
	case d.Status.Replicas != desired || d.Status.ReadyReplicas < desired:
		set(v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonScaling,
			fmt.Sprintf("Scaling from %d to %d workers", d.Status.Replicas, desired))
	default:
		set(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonComplete, "The rollout is complete")
	}

	observed := d.Status.ObservedGeneration >= d.Generation
	switch {
	case desired == 0 && observed && d.Status.Replicas == 0:
		set(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonScaledToZero, "The pool is scaled to zero")
	case desired > 0 && observed && d.Status.UpdatedReplicas >= desired && d.Status.ReadyReplicas >= desired:
		set(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonWorkersReady, fmt.Sprintf("%d of %d workers ready", d.Status.ReadyReplicas, desired))
	default:
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonWorkersNotReady, fmt.Sprintf("%d of %d workers ready", d.Status.ReadyReplicas, desired))
	}
}

// degradation returns the most important problem of the pool, if any.
func degradation(pool *v1alpha1.WorkerPool, obs poolObservation) (bool, string, string) {
	switch {
	case obs.renderErr != nil:
		return true, ReasonInvalidTemplate, obs.renderErr.Error()
	case obs.conflict != nil:
		return true, ReasonDeploymentConflict, obs.conflict.Error()
	case obs.applyErr != nil:
		return true, ReasonApplyFailed, obs.applyErr.Error()
	}
	if d := obs.deployment; d != nil {
		if c := deploymentCondition(d, appsv1.DeploymentReplicaFailure); c != nil && c.Status == corev1.ConditionTrue {
			return true, ReasonReplicaFailure, c.Message
		}
		if c := deploymentCondition(d, appsv1.DeploymentProgressing); c != nil && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return true, ReasonProgressDeadline, c.Message
		}
	}
	if bad := priorityOutOfRange(pool.Spec.Priorities, obs.queue.levels); len(bad) > 0 {
		return true, ReasonPriorityOutOfRange, fmt.Sprintf("spec.priorities %v exceed the queue's %d levels; those workers get no tasks of them", bad, obs.queue.levels)
	}
	return false, "", ""
}

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// priorityOutOfRange returns the pool's priorities above the queue's levels.
func priorityOutOfRange(priorities []int32, levels int32) []int32 {
	var bad []int32
	for _, p := range priorities {
		if p > levels {
			bad = append(bad, p)
		}
	}
	slices.Sort(bad)
	return bad
}

// connectedWorkers counts the queue's pollers that belong to pool.
func connectedWorkers(s queueconfig.Stats, pool string) int32 {
	n := 0
	for _, p := range s.Pollers {
		if p.Pool == pool {
			n++
		}
	}
	return int32(min(n, math.MaxInt32))
}

// backlogCount is the queue's total backlog.
func backlogCount(s queueconfig.Stats) int64 {
	var n int64
	for _, b := range s.Backlog {
		n += b.Count
	}
	return n
}
