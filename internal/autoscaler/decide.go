package autoscaler

import (
	"math"
	"time"

	"github.com/taskroute/taskroute/api/v1alpha1"
)

// MinStep is the least a running pool may grow by in one step; a step is otherwise the
// pool's current size (it at most doubles), as an HPA's default scale-up policy.
const MinStep = 4

// DefaultStepInterval is the least time between two scale-ups of a running pool, so the
// workers of one step connect and take work before the next step is decided.
const DefaultStepInterval = 15 * time.Second

// Decide computes the pool's size from its load: the recommendation (what the load asks
// for), bounded by the queue's rate limit, pinned work and min/max, then planned in time:
// growth at once in steps, shrinking only after the load justified it for ScaleDownDelay.
func Decide(in Input) Decision {
	d := Decision{Input: in}
	d.recommend()
	target, limited := d.bound()
	d.plan(target, limited)
	return d
}

// recommend sets the recommendation and its parts.
func (d *Decision) recommend() {
	in := d.Input
	d.BusyWorkers = ceilDiv(in.InFlight, max(in.Slots, 1))
	d.BacklogWorkers = ceilDiv(in.Backlog, max(in.TargetBacklogPerWorker, 1))
	rec := d.BusyWorkers + d.BacklogWorkers
	perWorker := workerThroughput(in)
	if perWorker > 0 {
		d.ArrivalWorkers = ceilRate(in.ArrivalRate / perWorker)
		rec = max(rec, d.ArrivalWorkers)
	}
	if d.tooOld() {
		rec = max(rec, in.Current+1)
	}
	d.Recommendation = rec
	d.RateCap = rateCap(in, perWorker)
}

// tooOld tells whether the oldest waiting task is past the age target.
func (d *Decision) tooOld() bool {
	in := d.Input
	return in.MaxBacklogAge > 0 && in.Backlog > 0 && in.OldestAge > in.MaxBacklogAge
}

// bound applies the rate-limit cap, pinned work and min/max, and says which one bit.
func (d *Decision) bound() (int32, string) {
	in := d.Input
	target, limited := d.Recommendation, v1alpha1.ReasonWithinLimits
	if d.RateCap > 0 && target > d.RateCap {
		target, limited = d.RateCap, v1alpha1.ReasonRateLimited
	}
	if target < in.Pinned {
		target, limited = in.Pinned, v1alpha1.ReasonPinnedWork
	}
	if target > in.Max {
		target, limited = in.Max, v1alpha1.ReasonAtMaxReplicas
	}
	if target < in.Min {
		target, limited = in.Min, v1alpha1.ReasonAtMinReplicas
	}
	return target, limited
}

// plan moves from the current size towards target: up at once by at most a step per
// StepInterval, down only after ScaleDownDelay, to the largest target seen meanwhile.
func (d *Decision) plan(target int32, limited string) {
	in := d.Input
	d.Replicas, d.Limited, d.State = in.Current, limited, in.State
	switch {
	case target > in.Current:
		d.State.ScaleDownSince, d.State.ScaleDownTo = time.Time{}, 0
		d.grow(target)
	case target < in.Current:
		d.shrink(target)
	default:
		d.State.ScaleDownSince, d.State.ScaleDownTo = time.Time{}, 0
		d.Reason = v1alpha1.ReasonAtRecommendation
	}
}

func (d *Decision) grow(target int32) {
	in := d.Input
	d.Reason = v1alpha1.ReasonBacklogAboveTarget
	if d.tooOld() && d.BusyWorkers+d.BacklogWorkers <= in.Current {
		d.Reason = v1alpha1.ReasonBacklogTooOld
	}
	if in.Current > 0 && !in.State.LastScaleTime.IsZero() {
		if wait := in.State.LastScaleTime.Add(in.StepInterval).Sub(in.Now); wait > 0 {
			d.Limited, d.RequeueAfter = v1alpha1.ReasonStepLimited, wait
			return
		}
	}
	step := max(in.Current, MinStep)
	d.Replicas = min(target, in.Current+step)
	if d.Replicas < target {
		d.Limited, d.RequeueAfter = v1alpha1.ReasonStepLimited, in.StepInterval
	}
	d.State.LastScaleTime = in.Now
}

func (d *Decision) shrink(target int32) {
	in := d.Input
	if d.State.ScaleDownSince.IsZero() {
		d.State.ScaleDownSince, d.State.ScaleDownTo = in.Now, target
	} else {
		d.State.ScaleDownTo = max(d.State.ScaleDownTo, target)
	}
	if wait := d.State.ScaleDownSince.Add(in.ScaleDownDelay).Sub(in.Now); wait > 0 {
		d.Reason, d.RequeueAfter = v1alpha1.ReasonScaleDownDelayed, wait
		return
	}
	d.Replicas, d.Reason = d.State.ScaleDownTo, v1alpha1.ReasonBacklogBelowTarget
	d.State.ScaleDownSince, d.State.ScaleDownTo = time.Time{}, 0
	d.State.LastScaleTime = in.Now
}

// workerThroughput estimates the tasks/s one worker completes: its slots over the mean
// time a task runs (Little's law: in flight / dispatch rate), and no more than its own
// rate limit. 0 when neither is known.
func workerThroughput(in Input) float64 {
	var perWorker float64
	if in.InFlight > 0 && in.DispatchRate > 0 {
		serviceTime := float64(in.InFlight) / in.DispatchRate
		perWorker = float64(max(in.Slots, 1)) / serviceTime
	}
	if in.WorkerRate > 0 && (perWorker == 0 || in.WorkerRate < perWorker) {
		perWorker = in.WorkerRate
	}
	return perWorker
}

// rateCap is the most workers the queue's global rate limit keeps busy; 0 means no cap.
// Without a throughput estimate, a throttling queue is capped at its current size (at
// least one): more workers would only wait for tokens.
func rateCap(in Input, perWorker float64) int32 {
	switch {
	case in.QueueRateLimit <= 0:
		return 0
	case perWorker > 0:
		return max(ceilRate(in.QueueRateLimit/perWorker), 1)
	case in.Throttling:
		return max(in.Current, 1)
	}
	return 0
}

func ceilDiv(n int64, per int32) int32 {
	if n <= 0 {
		return 0
	}
	return clampInt32((n + int64(per) - 1) / int64(per))
}

func ceilRate(f float64) int32 {
	if f <= 0 || math.IsNaN(f) {
		return 0
	}
	return clampInt32(int64(math.Min(math.Ceil(f-1e-9), math.MaxInt32)))
}

func clampInt32(n int64) int32 { return int32(min(n, math.MaxInt32)) }
