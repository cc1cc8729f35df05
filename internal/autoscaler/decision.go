package autoscaler

import (
	"fmt"
	"time"
)

// Decision is the size the pool should have, with the numbers behind it.
type Decision struct {
	// Replicas is the size to write to spec.replicas.
	Replicas int32
	// Recommendation is what the load asks for before bounds, pinned work and steps.
	Recommendation int32
	// Reason is the ScalingActive reason (v1alpha1.Reason*): what this decision did.
	Reason string
	// Limited is the ScalingLimited reason: v1alpha1.ReasonWithinLimits, or what held
	// the size back.
	Limited string
	// State is the state to keep for the next decision.
	State State
	// RequeueAfter is when to decide again because a delay or step interval ends; 0
	// when only a change of the load can change the decision.
	RequeueAfter time.Duration

	// The parts of the recommendation, for the message.
	BusyWorkers, BacklogWorkers, ArrivalWorkers, RateCap int32
	Input                                                Input
}

// Changed tells whether the decision changes spec.replicas.
func (d Decision) Changed() bool { return d.Replicas != d.Input.Current }

// Message explains the decision with its numbers, for the condition and the event.
func (d Decision) Message() string {
	in := d.Input
	msg := fmt.Sprintf("%d -> %d workers (load asks for %d: %d busy with %d in flight, %d for a backlog of %d at %d per worker",
		in.Current, d.Replicas, d.Recommendation, d.BusyWorkers, in.InFlight, d.BacklogWorkers, in.Backlog, in.TargetBacklogPerWorker)
	if d.ArrivalWorkers > 0 {
		msg += fmt.Sprintf(", %d for %.3g arrivals/s", d.ArrivalWorkers, in.ArrivalRate)
	}
	msg += fmt.Sprintf("; oldest waiting %s", in.OldestAge.Round(time.Second))
	if d.RateCap > 0 {
		msg += fmt.Sprintf("; the rate limit of %.3g tasks/s keeps at most %d busy", in.QueueRateLimit, d.RateCap)
	}
	if in.Pinned > 0 {
		msg += fmt.Sprintf("; %d workers hold pinned work", in.Pinned)
	}
	msg += fmt.Sprintf("; bounds %d..%d)", in.Min, in.Max)
	if !d.State.ScaleDownSince.IsZero() {
		msg += fmt.Sprintf("; shrinking to %d once the load has asked for fewer for %s", d.State.ScaleDownTo, in.ScaleDownDelay)
	}
	return msg
}
