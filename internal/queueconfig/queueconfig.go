// Package queueconfig is the boundary between the Kubernetes side of taskroute (the
// TaskQueue and WorkerPool reconcilers) and the matching service. The reconcilers publish
// each queue's configuration through a Registry and read live statistics back from it.
//
// The types here are plain Go, with no Kubernetes API types, so the matching service can
// run without Kubernetes (standalone mode) and be tested on its own.
package queueconfig

import (
	"context"
	"time"
)

// Key names a queue. Queues are namespaced, like the objects that configure them and the
// workers that poll them.
type Key struct {
	Namespace string
	Name      string
}

func (k Key) String() string { return k.Namespace + "/" + k.Name }

// RetryPolicy is an exponential backoff with a cap.
type RetryPolicy struct {
	InitialInterval    time.Duration
	BackoffCoefficient float64
	MaximumInterval    time.Duration
	// MaximumAttempts counts the first attempt; 0 means unlimited.
	MaximumAttempts        int
	NonRetryableErrorTypes []string
}

// Config is the configuration of one queue, as the matching service applies it.
type Config struct {
	// RateLimit is the global dispatch rate in tasks per second; 0 means unlimited.
	RateLimit float64
	// Burst is the token bucket's size; at least 1 when RateLimit is set.
	Burst int

	// PriorityLevels are numbered 1 (lowest) to PriorityLevels (highest).
	PriorityLevels  int
	DefaultPriority int

	// Defaults for tasks that do not set their own; 0 means no limit.
	ScheduleToStartTimeout time.Duration
	StartToCloseTimeout    time.Duration
	HeartbeatTimeout       time.Duration
	Retry                  RetryPolicy

	// Sticky execution of workflow tasks.
	StickyEnabled                bool
	StickyScheduleToStartTimeout time.Duration

	// Versioning of unpinned tasks; empty CurrentVersion means any worker takes them.
	CurrentVersion string
	RampingVersion string
	RampPercentage int

	// Retention is how long a finished task's outcome is kept.
	Retention time.Duration

	// PreferenceWait is how long a task with preferred capabilities waits for a poll
	// that meets one before any poll that meets its requirements may take it; 0 means
	// preferences only choose among the polls waiting when the task arrives.
	PreferenceWait time.Duration
	// FairnessKeyRateLimit is each fairness key's dispatch rate in tasks per second; 0
	// means unlimited. FairnessKeyBurst is each key's bucket size (at least 1 when set).
	FairnessKeyRateLimit float64 `json:",omitempty"`
	FairnessKeyBurst     int     `json:",omitempty"`
	// FairnessWeightOverrides are weights by fairness key; they win over the tasks' own.
	// Replaced as a whole, never mutated (configurations are shared).
	FairnessWeightOverrides map[string]int32 `json:",omitempty"`
}

// DefaultPreferenceWait is the preference wait of a queue that sets none: long enough
// for a preferred worker that is busy for a moment to poll again, short enough not to
// leave other capable workers idle for long.
const DefaultPreferenceWait = 500 * time.Millisecond

// MaxPreferenceWait bounds PreferenceWait (the TaskQueue CRD's bound too).
const MaxPreferenceWait = time.Minute

// Default returns the configuration of a queue that has no TaskQueue object. It equals the
// defaults of the TaskQueue CRD, so creating an empty TaskQueue changes nothing.
func Default() Config {
	return Config{
		PriorityLevels:      5,
		DefaultPriority:     3,
		StartToCloseTimeout: 10 * time.Minute,
		Retry: RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    100 * time.Second,
		},
		StickyEnabled:                true,
		StickyScheduleToStartTimeout: 5 * time.Second,
		Retention:                    24 * time.Hour,
		PreferenceWait:               DefaultPreferenceWait,
	}
}

// Rate-limit states reported in Stats.
const (
	RateLimitUnlimited  = "Unlimited"
	RateLimitOpen       = "Open"
	RateLimitThrottling = "Throttling"
)

// Task kinds reported in Stats.
const (
	KindActivity = "Activity"
	KindWorkflow = "Workflow"
)

// Backlog is the backlog of one kind, priority level and requirement set.
type Backlog struct {
	Kind      string // KindActivity or KindWorkflow
	Priority  int
	Count     int64
	OldestAge time.Duration
	// Requires is the capabilities these tasks require, sorted by name; empty for tasks
	// that require nothing, which any worker may take.
	Requires []Capability
	// Routable tells whether a live poller of the queue meets every requirement. Tasks
	// that require nothing count as routable whatever this says.
	Routable bool
	// Unmet is, when not routable, the requirements that no live poller meets on its own;
	// empty when each is met by some poller but no single poller meets them all.
	Unmet []Capability
}

// Unroutable reports whether these tasks require capabilities that no live poller has
// together, so they wait until a capable worker connects.
func (b Backlog) Unroutable() bool { return len(b.Requires) > 0 && !b.Routable }

// Poller is a worker that polled the queue recently.
type Poller struct {
	Identity   string
	Pool       string // the WorkerPool the worker belongs to, if any
	Version    string
	LastAccess time.Time
	TaskTypes  []string
	// Capabilities the worker advertises, its host and process among them.
	Capabilities []Capability
	// Running is the number of the queue's tasks this worker runs now.
	Running int64
	// OpenSessions is the sessions of the queue bound to this worker now.
	OpenSessions int64
}

// Stats are live statistics of one queue.
type Stats struct {
	Backlog      []Backlog
	AddRate      float64 // tasks per second, recent
	DispatchRate float64 // tasks per second, recent
	Pollers      []Poller
	// Running is the number of the queue's tasks running now (attempts started by this
	// service and not ended).
	Running int64
	// RateLimitState is one of the RateLimit* constants.
	RateLimitState string
	// UnknownTaskTypes is the task types workers failed because they had not registered
	// them, within the last hour.
	UnknownTaskTypes []UnknownTaskType
}

// UnknownTaskType counts the attempts of one task type that workers failed with
// UnknownTaskType (they had not registered it).
type UnknownTaskType struct {
	TaskType string
	// Failures is the attempts that failed so; TasksFailed the tasks that ended Failed
	// because their attempts reached the bound.
	Failures, TasksFailed int64
	LastSeen              time.Time
	LastWorker            string // identity of the worker that failed the latest attempt
}

// Registry is implemented by the matching service (and by Memory for tests of the
// Kubernetes side alone).
type Registry interface {
	// Apply sets a queue's configuration. It takes effect for every dispatch after it
	// returns, and survives the queue being unloaded from memory.
	Apply(ctx context.Context, key Key, cfg Config) error
	// Remove returns a queue to Default(), for a deleted TaskQueue. Its tasks stay.
	Remove(ctx context.Context, key Key) error
	// Stats returns live statistics of a queue; a queue that never saw a task or a poller
	// has empty statistics, not an error.
	Stats(ctx context.Context, key Key) (Stats, error)
}
