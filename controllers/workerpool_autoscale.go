package controllers

import (
	"context"
	"fmt"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/autoscaler"
)

// Defaults of the autoscaling fields, as the CRD sets them, for objects that predate them.
const (
	defaultScaleDownDelay = 5 * time.Minute
	defaultSlots          = 10
	defaultTargetBacklog  = 10
)

// +kubebuilder:rbac:groups=taskroute.dev,resources=workerpools/scale,verbs=update

// autoscale decides the size of a pool with autoscaling mode Backlog and, when it changes,
// writes it through the /scale subresource: first the autoscaler's state in the status,
// so any reconcile that sees the new size also sees the state behind it. before tracks
// the status written, for the deferred status patch.
func (r *WorkerPoolReconciler) autoscale(ctx context.Context, before, pool *v1alpha1.WorkerPool, obs *poolObservation) error {
	if !backlogAutoscaled(pool) {
		pool.Status.Autoscaling = nil
		return nil
	}
	if obs.statsErr != nil {
		return nil // ScalingActive False says so; the size stays
	}
	d := autoscaler.Decide(autoscaleInput(pool, obs, time.Now()))
	obs.scaling = &d
	pool.Status.Autoscaling = statusOf(d, pool.Status.Autoscaling)
	if !d.Changed() {
		return nil
	}
	if err := r.patchStatus(ctx, before, pool); err != nil {
		return err
	}
	before.Status = *pool.Status.DeepCopy()
	if err := r.writeScale(ctx, pool, d.Replicas); err != nil {
		return err
	}
	r.metrics.countDecision(pool, d)
	logf.FromContext(ctx).Info("Scaled worker pool", "from", d.Input.Current, "to", d.Replicas, "reason", d.Reason,
		"backlog", d.Input.Backlog, "inFlight", d.Input.InFlight, "recommendation", d.Recommendation, "limited", d.Limited)
	r.Recorder.Eventf(pool, nil, corev1.EventTypeNormal, d.Reason, "Scale", "%s", d.Message())
	return nil
}

// writeScale sets spec.replicas through /scale, as an HPA would, guarded by the
// resourceVersion the decision was made on; it updates pool to the new size.
func (r *WorkerPoolReconciler) writeScale(ctx context.Context, pool *v1alpha1.WorkerPool, replicas int32) error {
	scale := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: pool.Name, Namespace: pool.Namespace, ResourceVersion: pool.ResourceVersion},
		Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
	}
	if err := r.SubResource("scale").Update(ctx, pool, client.WithSubResourceBody(scale)); err != nil {
		return fmt.Errorf("scaling WorkerPool %s/%s to %d: %w", pool.Namespace, pool.Name, replicas, err)
	}
	pool.Spec.Replicas = ptr.To(replicas)
	pool.ResourceVersion = scale.ResourceVersion
	return nil
}

func backlogAutoscaled(pool *v1alpha1.WorkerPool) bool {
	a := pool.Spec.Autoscaling
	return a != nil && a.Mode == v1alpha1.AutoscalingBacklog
}

// autoscaleInput gathers the decision's input from the pool's spec and status, the queue's
// configuration and its live statistics.
func autoscaleInput(pool *v1alpha1.WorkerPool, obs *poolObservation, now time.Time) autoscaler.Input {
	a := pool.Spec.Autoscaling
	in := autoscaler.Input{
		Now:                    now,
		Current:                ptr.Deref(pool.Spec.Replicas, 1),
		Min:                    ptr.Deref(a.MinReplicas, 1),
		Max:                    a.MaxReplicas,
		TargetBacklogPerWorker: orDefault(a.TargetBacklogPerWorker, defaultTargetBacklog),
		ScaleDownDelay:         durationOr(a.ScaleDownDelay, defaultScaleDownDelay),
		MaxBacklogAge:          durationOr(a.MaxBacklogAge, 0),
		StepInterval:           autoscaler.DefaultStepInterval,
		Slots:                  defaultSlots,
		QueueRateLimit:         obs.queue.rateLimit,
		State:                  stateOf(pool.Status.Autoscaling),
	}
	if l := pool.Spec.Limits; l != nil {
		in.Slots = orDefault(l.Slots, defaultSlots)
		if l.TasksPerSecond != nil {
			in.WorkerRate = l.TasksPerSecond.AsApproximateFloat64()
		}
	}
	autoscaler.Observe(obs.stats, autoscaler.Pool{Name: pool.Name, Profile: autoscaler.PoolProfile(pool)}, &in)
	return in
}

func orDefault(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}
