// Package autoscaler decides the size of a WorkerPool from its queue's load. Decide is
// pure (observe, plan; the WorkerPool reconciler executes), so every case is a table test.
package autoscaler

import "time"

// Input is everything one decision looks at. Counts are of the work the pool can serve:
// the caller narrows the queue's backlog to the pool's capabilities and priorities.
type Input struct {
	Now time.Time

	// Current is spec.replicas now.
	Current int32
	// Min and Max bound the result (minReplicas, maxReplicas).
	Min, Max int32
	// TargetBacklogPerWorker is how many waiting tasks one worker should face (>= 1).
	TargetBacklogPerWorker int32
	// MaxBacklogAge is the age target of the oldest waiting task; 0 means none.
	MaxBacklogAge time.Duration
	// ScaleDownDelay is how long the load must justify fewer workers before shrinking.
	ScaleDownDelay time.Duration
	// StepInterval is the least time between two scale-ups of a running pool (a pool
	// at zero grows at once).
	StepInterval time.Duration

	// Slots is how many tasks one worker runs at once (>= 1).
	Slots int32
	// WorkerRate is one worker's own dispatch rate limit in tasks/s; 0 means none.
	WorkerRate float64

	// Backlog is the number of waiting tasks the pool can serve; OldestAge the age of
	// the oldest of them.
	Backlog   int64
	OldestAge time.Duration
	// InFlight is the number of the pool's tasks running now.
	InFlight int64
	// ArrivalRate and DispatchRate are the queue's recent add and dispatch rates, tasks/s.
	ArrivalRate, DispatchRate float64
	// QueueRateLimit is the queue's global dispatch limit in tasks/s; 0 means none.
	QueueRateLimit float64
	// Throttling tells that tasks of the queue wait for global rate-limit tokens now.
	Throttling bool

	// Pinned is how many of the pool's workers hold work that only they can do: tasks
	// routed to their host or process, waiting for them. The pool never shrinks below it.
	Pinned int32

	// State is what the previous decisions left (kept in the WorkerPool status).
	State State
}

// State is what a decision needs from earlier ones.
type State struct {
	// ScaleDownSince is when the load first justified fewer workers, without
	// interruption since; zero while it does not.
	ScaleDownSince time.Time
	// ScaleDownTo is the largest target since ScaleDownSince.
	ScaleDownTo int32
	// LastScaleTime is when the size last changed.
	LastScaleTime time.Time
}
