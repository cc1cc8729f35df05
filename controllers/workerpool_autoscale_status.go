package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/autoscaler"
)

// stateOf reads the autoscaler's state from the status.
func stateOf(st *v1alpha1.AutoscalingStatus) autoscaler.State {
	if st == nil {
		return autoscaler.State{}
	}
	s := autoscaler.State{ScaleDownTo: st.ScaleDownTo}
	if st.ScaleDownSince != nil {
		s.ScaleDownSince = st.ScaleDownSince.Time
	}
	if st.LastScaleTime != nil {
		s.LastScaleTime = st.LastScaleTime.Time
	}
	return s
}

// statusOf is the status of a decision. The recommendation is kept from the previous
// status unless the decision changes the size or the scale-down target, so a steady pool's
// status does not change with every small move of the backlog.
func statusOf(d autoscaler.Decision, prev *v1alpha1.AutoscalingStatus) *v1alpha1.AutoscalingStatus {
	st := &v1alpha1.AutoscalingStatus{ScaleDownTo: d.State.ScaleDownTo, LastScaleTime: timeOrNil(d.State.LastScaleTime),
		ScaleDownSince: timeOrNil(d.State.ScaleDownSince), Recommendation: d.Recommendation}
	if prev != nil && !d.Changed() && prev.ScaleDownTo == st.ScaleDownTo {
		st.Recommendation = prev.Recommendation
	}
	return st
}

func timeOrNil(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.Truncate(time.Second)) // what the API stores: no later diff
	return &mt
}

// setScalingConditions sets ScalingActive and ScalingLimited for an autoscaled pool, and
// removes them from one that is not. A condition's message (the numbers) is rewritten
// only when its reason changes or the decision changes the size, so that the numbers
// moving under a steady decision do not cause a status write each pass.
func setScalingConditions(pool *v1alpha1.WorkerPool, obs poolObservation) {
	conds := &pool.Status.Conditions
	if !backlogAutoscaled(pool) {
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionScalingActive)
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionScalingLimited)
		return
	}
	gen := pool.Generation
	if obs.statsErr != nil || obs.scaling == nil {
		msg := "The queue's statistics could not be read; the size is left as it is"
		if obs.statsErr != nil {
			msg += ": " + obs.statsErr.Error()
		}
		meta.SetStatusCondition(conds, metav1.Condition{Type: v1alpha1.ConditionScalingActive, Status: metav1.ConditionFalse,
			Reason: v1alpha1.ReasonStatisticsUnavailable, Message: truncate(msg, maxMessage), ObservedGeneration: gen})
		return
	}
	d := obs.scaling
	msg := truncate(d.Message(), maxMessage)
	setStable(conds, metav1.Condition{Type: v1alpha1.ConditionScalingActive, Status: metav1.ConditionTrue,
		Reason: d.Reason, Message: msg, ObservedGeneration: gen}, d.Changed())
	limited := metav1.ConditionTrue
	if d.Limited == v1alpha1.ReasonWithinLimits {
		limited = metav1.ConditionFalse
	}
	setStable(conds, metav1.Condition{Type: v1alpha1.ConditionScalingLimited, Status: limited,
		Reason: d.Limited, Message: msg, ObservedGeneration: gen}, d.Changed())
}

// setStable sets c, keeping the current message when the reason is unchanged and force
// is false.
func setStable(conds *[]metav1.Condition, c metav1.Condition, force bool) {
	if cur := meta.FindStatusCondition(*conds, c.Type); cur != nil && !force && cur.Reason == c.Reason && cur.Status == c.Status {
		c.Message = cur.Message
	}
	meta.SetStatusCondition(conds, c)
}
