package autoscaler

import (
	"testing"
	"time"

	"github.com/taskroute/taskroute/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// base is a pool of 10-slot workers, 0..20, 10 waiting tasks per worker, 5m delay.
func base(change func(*Input)) Input {
	in := Input{Now: t0, Current: 2, Min: 0, Max: 20, TargetBacklogPerWorker: 10, ScaleDownDelay: 5 * time.Minute,
		StepInterval: 15 * time.Second, Slots: 10}
	change(&in)
	return in
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name            string
		in              Input
		replicas        int32
		reason, limited string
		requeue         time.Duration
	}{
		{name: "spike grows by one step", in: base(func(in *Input) { in.Current, in.Backlog = 1, 500 }),
			replicas: 5, reason: v1alpha1.ReasonBacklogAboveTarget, limited: v1alpha1.ReasonStepLimited, requeue: 15 * time.Second},
		{name: "spike on a large pool doubles it", in: base(func(in *Input) { in.Current, in.Max, in.Backlog = 10, 100, 2000 }),
			replicas: 20, reason: v1alpha1.ReasonBacklogAboveTarget, limited: v1alpha1.ReasonStepLimited, requeue: 15 * time.Second},
		{name: "spike right after a step waits for the step interval", in: base(func(in *Input) {
			in.Current, in.Backlog, in.State.LastScaleTime = 5, 500, t0.Add(-5*time.Second)
		}), replicas: 5, reason: v1alpha1.ReasonBacklogAboveTarget, limited: v1alpha1.ReasonStepLimited, requeue: 10 * time.Second},
		{name: "from zero at once, even right after scaling to zero", in: base(func(in *Input) {
			in.Current, in.Backlog, in.State.LastScaleTime = 0, 1, t0.Add(-time.Second)
		}), replicas: 1, reason: v1alpha1.ReasonBacklogAboveTarget, limited: v1alpha1.ReasonWithinLimits},
		{name: "from zero with a large backlog takes the first step", in: base(func(in *Input) { in.Current, in.Backlog = 0, 1000 }),
			replicas: 4, reason: v1alpha1.ReasonBacklogAboveTarget, limited: v1alpha1.ReasonStepLimited, requeue: 15 * time.Second},
		{name: "steady state: busy workers and a short backlog", in: base(func(in *Input) {
			in.Current, in.InFlight, in.Backlog, in.ArrivalRate, in.DispatchRate = 3, 20, 5, 10, 10
		}), replicas: 3, reason: v1alpha1.ReasonAtRecommendation, limited: v1alpha1.ReasonWithinLimits},
		{name: "arrivals faster than dispatch grow the pool", in: base(func(in *Input) {
			// 10 in flight at 10/s: a task runs 1 s, a 10-slot worker does 10/s; 50/s arrive.
			in.Current, in.InFlight, in.DispatchRate, in.ArrivalRate = 1, 10, 10, 50
		}), replicas: 5, reason: v1alpha1.ReasonBacklogAboveTarget, limited: v1alpha1.ReasonWithinLimits},
		{name: "worker rate limit bounds the arrival estimate", in: base(func(in *Input) {
			in.Current, in.WorkerRate, in.ArrivalRate = 1, 2, 7
		}), replicas: 4, reason: v1alpha1.ReasonBacklogAboveTarget, limited: v1alpha1.ReasonWithinLimits},
		{name: "drain starts the scale-down delay", in: base(func(in *Input) { in.Current = 5 }),
			replicas: 5, reason: v1alpha1.ReasonScaleDownDelayed, limited: v1alpha1.ReasonWithinLimits, requeue: 5 * time.Minute},
		{name: "drain after the delay goes to zero", in: base(func(in *Input) {
			in.Current, in.State.ScaleDownSince = 5, t0.Add(-5*time.Minute)
		}), replicas: 0, reason: v1alpha1.ReasonBacklogBelowTarget, limited: v1alpha1.ReasonWithinLimits},
		{name: "drain shrinks to the largest size asked for during the delay", in: base(func(in *Input) {
			in.Current, in.State.ScaleDownSince, in.State.ScaleDownTo = 8, t0.Add(-6*time.Minute), 3
		}), replicas: 3, reason: v1alpha1.ReasonBacklogBelowTarget, limited: v1alpha1.ReasonWithinLimits},
		{name: "drain stops at minReplicas", in: base(func(in *Input) {
			in.Current, in.Min, in.State.ScaleDownSince = 5, 1, t0.Add(-5*time.Minute)
		}), replicas: 1, reason: v1alpha1.ReasonBacklogBelowTarget, limited: v1alpha1.ReasonAtMinReplicas},
		{name: "maxReplicas caps a spike", in: base(func(in *Input) { in.Current, in.Max, in.Backlog = 6, 8, 5000 }),
			replicas: 8, reason: v1alpha1.ReasonBacklogAboveTarget, limited: v1alpha1.ReasonAtMaxReplicas},
		{name: "rate-limited queue: no more workers than the limit keeps busy", in: base(func(in *Input) {
			// 5/s per worker (its own limit), queue limit 10/s: 2 workers can work.
			in.Current, in.Backlog, in.WorkerRate, in.QueueRateLimit, in.Throttling = 2, 1000, 5, 10, true
		}), replicas: 2, reason: v1alpha1.ReasonAtRecommendation, limited: v1alpha1.ReasonRateLimited},
		{name: "rate-limited queue from measured task time", in: base(func(in *Input) {
			// 20 in flight at 10/s: tasks run 2 s, a 10-slot worker does 5/s; limit 10/s.
			in.Current, in.Backlog, in.InFlight, in.DispatchRate, in.QueueRateLimit = 2, 1000, 20, 10, 10
		}), replicas: 2, reason: v1alpha1.ReasonAtRecommendation, limited: v1alpha1.ReasonRateLimited},
		{name: "throttling queue without an estimate holds its size", in: base(func(in *Input) {
			in.Current, in.Backlog, in.QueueRateLimit, in.Throttling = 3, 1000, 10, true
		}), replicas: 3, reason: v1alpha1.ReasonAtRecommendation, limited: v1alpha1.ReasonRateLimited},
		{name: "old backlog grows the pool by one", in: base(func(in *Input) {
			in.Current, in.Backlog, in.OldestAge, in.MaxBacklogAge = 2, 3, 10*time.Minute, time.Minute
		}), replicas: 3, reason: v1alpha1.ReasonBacklogTooOld, limited: v1alpha1.ReasonWithinLimits},
		{name: "pinned work keeps a pool from zero", in: base(func(in *Input) {
			in.Current, in.Pinned, in.State.ScaleDownSince = 3, 1, t0.Add(-time.Hour)
		}), replicas: 1, reason: v1alpha1.ReasonBacklogBelowTarget, limited: v1alpha1.ReasonPinnedWork},
		{name: "pinned work alone keeps the size", in: base(func(in *Input) { in.Current, in.Pinned = 2, 2 }),
			replicas: 2, reason: v1alpha1.ReasonAtRecommendation, limited: v1alpha1.ReasonPinnedWork},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.in)
			if d.Replicas != tc.replicas || d.Reason != tc.reason || d.Limited != tc.limited || d.RequeueAfter != tc.requeue {
				t.Errorf("Decide = %d %s %s requeue %s, want %d %s %s requeue %s\n%s",
					d.Replicas, d.Reason, d.Limited, d.RequeueAfter, tc.replicas, tc.reason, tc.limited, tc.requeue, d.Message())
			}
		})
	}
}

// run feeds a series of backlogs, one pass per interval, carrying the state and the size
// as the reconciler does, and returns the sizes.
func run(start int32, interval time.Duration, backlogs []int64, change func(*Input)) []int32 {
	cur, st, now := start, State{}, t0
	sizes := make([]int32, 0, len(backlogs))
	for _, b := range backlogs {
		in := base(change)
		in.Now, in.Current, in.Backlog, in.State = now, cur, b, st
		d := Decide(in)
		cur, st = d.Replicas, d.State
		sizes = append(sizes, cur)
		now = now.Add(interval)
	}
	return sizes
}

func TestDecideOscillatingInputDoesNotFlap(t *testing.T) {
	// The backlog swings between 60 and 0 every 30 s for 20 minutes; delay 5 m.
	backlogs := make([]int64, 40)
	for i := range backlogs {
		if i%2 == 0 {
			backlogs[i] = 60
		}
	}
	sizes := run(6, 30*time.Second, backlogs, func(*Input) {})
	for i, s := range sizes {
		if s != 6 {
			t.Fatalf("pass %d: size %d, want 6 throughout: %v", i, s, sizes)
		}
	}
}

func TestDecideShrinksOnlyAfterTheDelayThenToTheLargestAskedFor(t *testing.T) {
	// 8 workers; the backlog falls to 30 (3 workers) then 10 (1 worker); one pass a minute.
	// The second delay starts at the first pass after the first shrink.
	sizes := run(8, time.Minute, []int64{30, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10}, func(*Input) {})
	want := []int32{8, 8, 8, 8, 8, 3, 3, 3, 3, 3, 3, 1}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("sizes %v, want %v", sizes, want)
		}
	}
}

func TestDecideSpikeClimbsInSteps(t *testing.T) {
	// 1000 tasks arrive at a pool at zero and stay (workers busy elsewhere); passes every 15 s.
	backlogs := make([]int64, 7)
	for i := range backlogs {
		backlogs[i] = 1000
	}
	sizes := run(0, 15*time.Second, backlogs, func(in *Input) { in.Max = 50 })
	want := []int32{4, 8, 16, 32, 50, 50, 50}
	for i := range want {
		if sizes[i] != want[i] {
			t.Fatalf("sizes %v, want %v", sizes, want)
		}
	}
}
