package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TaskQueueSpec configures a task queue. A queue exists without this object (it is created
// on demand when a task is added or a worker polls); the object adds limits and defaults and
// reports status.
// +kubebuilder:validation:XValidation:rule="!has(self.versioning) || !has(self.versioning.rampingVersion) || !has(self.versioning.currentVersion) || self.versioning.rampingVersion != self.versioning.currentVersion",message="spec.versioning.rampingVersion must differ from spec.versioning.currentVersion"
type TaskQueueSpec struct {
	// rateLimit caps how fast tasks are dispatched from this queue across all of its
	// workers together (a token bucket on the server), to protect downstream services.
	// Each worker's own rate is set on its WorkerPool. Unset means unlimited.
	// +optional
	RateLimit *QueueRateLimit `json:"rateLimit,omitempty"`

	// priority sets how many priority levels the queue has and which one a task gets when
	// it names none. Higher levels drain first; lower levels are never starved forever.
	// +optional
	Priority *PriorityConfig `json:"priority,omitempty"`

	// taskDefaults are the timeouts and retry policy of tasks that do not set their own.
	// +optional
	TaskDefaults *TaskDefaults `json:"taskDefaults,omitempty"`

	// sticky configures sticky execution of workflow tasks: later workflow tasks of an
	// execution would go first to the worker that completed the previous one.
	// Not yet honoured: the matching service has no sticky execution yet, so every
	// workflow task goes to any worker of the queue. While sticky is set with mode
	// Enabled, the SpecHonored condition is False and names it.
	// +optional
	Sticky *StickyConfig `json:"sticky,omitempty"`

	// versioning would select which worker version receives tasks that are not pinned to
	// one. Not yet honoured: tasks are not routed by worker version yet (nor pinned to
	// one), so any worker of the queue takes any task. While currentVersion or
	// rampingVersion is set, the SpecHonored condition is False and names it.
	// +optional
	Versioning *VersioningConfig `json:"versioning,omitempty"`

	// fairness sets a rate limit per fairness key and weights by key (docs/matching.md,
	// Fairness). Fairness itself needs no setting: tasks that carry keys are served in turn.
	// +optional
	Fairness *FairnessConfig `json:"fairness,omitempty"`

	// retention is how long the outcome of a finished task is kept for callers to fetch.
	// +optional
	// +kubebuilder:default="24h"
	Retention *metav1.Duration `json:"retention,omitempty"`

	// preferenceWait is how long a task with preferred capabilities waits for a worker
	// that meets one of them before any worker that meets its requirements may take it;
	// 0s..60s. 0s means no wait: preferences only choose among the workers waiting when
	// the task arrives.
	// +optional
	// +kubebuilder:default="500ms"
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s') && duration(self) <= duration('60s')",message="spec.preferenceWait must be within 0s..60s"
	PreferenceWait *metav1.Duration `json:"preferenceWait,omitempty"`
}

// QueueRateLimit is a global token bucket for one queue.
// +kubebuilder:validation:XValidation:rule="quantity(self.tasksPerSecond).isGreaterThan(quantity('0'))",message="spec.rateLimit.tasksPerSecond must be greater than 0"
// +kubebuilder:validation:XValidation:rule="self.burst >= 1",message="spec.rateLimit.burst must be at least 1 when a rate is set"
type QueueRateLimit struct {
	// tasksPerSecond is the sustained dispatch rate, as a decimal quantity: "100", "2.5",
	// "500m" (one task every two seconds).
	// +required
	TasksPerSecond resource.Quantity `json:"tasksPerSecond"`

	// burst is how many tasks may be dispatched at once after an idle period.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000
	Burst int32 `json:"burst,omitempty"`
}

// PriorityConfig defines the priority levels of a queue.
// +kubebuilder:validation:XValidation:rule="self.defaultLevel <= self.levels",message="spec.priority.defaultLevel must be within 1..spec.priority.levels"
type PriorityConfig struct {
	// levels is the number of priority levels, numbered 1 (lowest) to levels (highest).
	// +optional
	// +kubebuilder:default=5
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	Levels int32 `json:"levels,omitempty"`

	// defaultLevel is the level of tasks that do not name one.
	// +optional
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	DefaultLevel int32 `json:"defaultLevel,omitempty"`
}

// TaskDefaults are the timeouts and retry policy applied to tasks that do not set them.
// Durations use Go syntax: "30s", "5m", "1h30m".
type TaskDefaults struct {
	// scheduleToStartTimeout is how long a task may wait in the queue before a worker
	// starts it; after that it ends as TimedOut. Unset means no limit.
	// +optional
	ScheduleToStartTimeout *metav1.Duration `json:"scheduleToStartTimeout,omitempty"`

	// startToCloseTimeout is how long one attempt may run before it is retried.
	// +optional
	// +kubebuilder:default="10m"
	StartToCloseTimeout *metav1.Duration `json:"startToCloseTimeout,omitempty"`

	// heartbeatTimeout is how long a running attempt may go without a heartbeat before it
	// is considered lost and retried. Unset means heartbeats are not required.
	// +optional
	HeartbeatTimeout *metav1.Duration `json:"heartbeatTimeout,omitempty"`

	// retryPolicy decides whether and when a failed or timed-out attempt runs again.
	// +optional
	RetryPolicy *RetryPolicy `json:"retryPolicy,omitempty"`
}

// RetryPolicy is an exponential backoff with a cap.
// +kubebuilder:validation:XValidation:rule="!has(self.maximumInterval) || !has(self.initialInterval) || duration(self.maximumInterval) >= duration(self.initialInterval)",message="spec.taskDefaults.retryPolicy.maximumInterval must not be shorter than initialInterval"
// +kubebuilder:validation:XValidation:rule="!has(self.backoffCoefficient) || quantity(self.backoffCoefficient).compareTo(quantity('1')) >= 0",message="spec.taskDefaults.retryPolicy.backoffCoefficient must be at least 1"
type RetryPolicy struct {
	// initialInterval is the wait before the first retry.
	// +optional
	// +kubebuilder:default="1s"
	InitialInterval *metav1.Duration `json:"initialInterval,omitempty"`

	// backoffCoefficient multiplies the wait after each retry, as a decimal quantity ("2",
	// "1.5").
	// +optional
	// +kubebuilder:default="2"
	BackoffCoefficient *resource.Quantity `json:"backoffCoefficient,omitempty"`

	// maximumInterval caps the wait between retries.
	// +optional
	// +kubebuilder:default="100s"
	MaximumInterval *metav1.Duration `json:"maximumInterval,omitempty"`

	// maximumAttempts is the most attempts a task gets, the first included; 0 means no limit.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	MaximumAttempts int32 `json:"maximumAttempts,omitempty"`

	// nonRetryableErrorTypes are error types that end a task at once instead of retrying.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	NonRetryableErrorTypes []string `json:"nonRetryableErrorTypes,omitempty"`
}

// StickyConfig configures sticky execution of workflow tasks. Not yet honoured (see
// spec.sticky).
type StickyConfig struct {
	// mode turns sticky execution on (the default) or off. Not yet honoured: Enabled has
	// no effect yet.
	// +optional
	// +kubebuilder:default=Enabled
	Mode FeatureMode `json:"mode,omitempty"`

	// scheduleToStartTimeout is how long a workflow task waits on its sticky worker before
	// it returns to the normal queue, where any worker may take it.
	// +optional
	// +kubebuilder:default="5s"
	ScheduleToStartTimeout *metav1.Duration `json:"scheduleToStartTimeout,omitempty"`
}

// VersioningConfig routes unpinned tasks between worker versions (build ids). Not yet
// honoured (see spec.versioning).
// +kubebuilder:validation:XValidation:rule="!has(self.rampingVersion) || has(self.currentVersion)",message="spec.versioning.rampingVersion needs spec.versioning.currentVersion"
// +kubebuilder:validation:XValidation:rule="has(self.rampingVersion) || !has(self.rampPercentage) || self.rampPercentage == 0",message="spec.versioning.rampPercentage needs spec.versioning.rampingVersion"
type VersioningConfig struct {
	// currentVersion receives unpinned tasks. Unset means any worker takes them.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	CurrentVersion string `json:"currentVersion,omitempty"`

	// rampingVersion receives rampPercentage percent of unpinned tasks.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	RampingVersion string `json:"rampingVersion,omitempty"`

	// rampPercentage is the share of unpinned tasks sent to rampingVersion.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	RampPercentage int32 `json:"rampPercentage,omitempty"`
}

// RateLimitState tells whether the global rate limit is holding tasks back.
// +kubebuilder:validation:Enum=Unlimited;Open;Throttling
type RateLimitState string

const (
	// RateLimitUnlimited means the queue has no global rate limit.
	RateLimitUnlimited RateLimitState = "Unlimited"
	// RateLimitOpen means a limit is set and dispatch is below it.
	RateLimitOpen RateLimitState = "Open"
	// RateLimitThrottling means tasks are waiting for tokens.
	RateLimitThrottling RateLimitState = "Throttling"
)

// TaskQueue condition types (besides Ready).
const (
	// ConditionTaskTypesConsistent is False when the workers of the queue register
	// different task types, so some tasks can land on a worker that cannot run them.
	ConditionTaskTypesConsistent = "TaskTypesConsistent"
	// ConditionRoutable is True when every set of capabilities that waiting tasks require
	// is met by a connected worker, so no task waits for a worker that is not there.
	ConditionRoutable = "Routable"
)

// Reasons of the Routable condition.
const (
	// ReasonTasksRoutable: every waiting task can go to a connected worker (tasks that
	// require nothing go to any worker, connected or not yet).
	ReasonTasksRoutable = "TasksRoutable"
	// ReasonNoCapableWorkers: some tasks require capabilities that no connected worker
	// has; the message names them and how many tasks wait for them.
	ReasonNoCapableWorkers = "NoCapableWorkers"
)

// BacklogStatus is the backlog of one kind and priority level.
type BacklogStatus struct {
	// kind is the sub-queue.
	// +required
	Kind TaskKind `json:"kind"`
	// priority is the level.
	// +required
	Priority int32 `json:"priority"`
	// count is the number of tasks waiting.
	// +required
	Count int64 `json:"count"`
	// oldestAge is how long the oldest waiting task has waited.
	// +optional
	OldestAge *metav1.Duration `json:"oldestAge,omitempty"`
}

// PollerStatus describes one worker polling the queue.
type PollerStatus struct {
	// identity names the worker (usually its pod).
	// +required
	// +kubebuilder:validation:MaxLength=256
	Identity string `json:"identity"`
	// version is the worker's build id.
	// +optional
	Version string `json:"version,omitempty"`
	// lastAccessTime is when the worker last polled.
	// +optional
	LastAccessTime *metav1.Time `json:"lastAccessTime,omitempty"`
}

// TaskQueueStatus is the observed state of a queue, refreshed from the matching service.
type TaskQueueStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (configuration accepted by the matching service),
	// TaskTypesConsistent, Routable (every waiting task's required capabilities are met by
	// a connected worker) and SpecHonored (False while fields that are accepted but not
	// yet honoured are set).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// backlogCount is the number of tasks waiting, all kinds and priorities.
	// +optional
	BacklogCount int64 `json:"backlogCount"`

	// oldestBacklogAge is how long the oldest waiting task has waited.
	// +optional
	OldestBacklogAge *metav1.Duration `json:"oldestBacklogAge,omitempty"`

	// backlog breaks the backlog down by kind and priority level.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	Backlog []BacklogStatus `json:"backlog,omitempty"`

	// addRate is the recent rate of added tasks per second.
	// +optional
	AddRate *resource.Quantity `json:"addRate,omitempty"`

	// dispatchRate is the recent rate of dispatched tasks per second.
	// +optional
	DispatchRate *resource.Quantity `json:"dispatchRate,omitempty"`

	// pollerCount is the number of workers that polled recently.
	// +optional
	PollerCount int32 `json:"pollerCount"`

	// pollers lists up to 50 of those workers.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	Pollers []PollerStatus `json:"pollers,omitempty"`

	// rateLimit is the state of the global rate limit.
	// +optional
	RateLimit RateLimitState `json:"rateLimit,omitempty"`

	// registeredTaskTypes is the union of task types the queue's workers registered.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	RegisteredTaskTypes []string `json:"registeredTaskTypes,omitempty"`

	// runningTasks is the number of attempts running now: started by the matching
	// service and not yet completed, failed, released or timed out. Attempts started
	// before the service's last restart are not counted.
	// +optional
	RunningTasks int64 `json:"runningTasks"`

	// unknownTaskTypes lists up to 20 task types that workers of the queue failed within
	// the last hour because they had not registered them (error type UnknownTaskType),
	// most failures first: tasks of these types were added, but the workers that polled
	// them do not run them.
	// +optional
	// +listType=map
	// +listMapKey=taskType
	// +kubebuilder:validation:MaxItems=20
	UnknownTaskTypes []UnknownTaskTypeStatus `json:"unknownTaskTypes,omitempty"`
}

// UnknownTaskTypeStatus counts the attempts of one task type that workers failed because
// they had not registered the type.
type UnknownTaskTypeStatus struct {
	// taskType is the type's name.
	// +required
	// +kubebuilder:validation:MaxLength=256
	TaskType string `json:"taskType"`

	// failures is the attempts that failed with UnknownTaskType.
	// +optional
	Failures int64 `json:"failures"`

	// tasksFailed is the tasks that ended Failed because their attempts reached the
	// service's bound.
	// +optional
	TasksFailed int64 `json:"tasksFailed,omitempty"`

	// lastSeenTime is when the latest such attempt failed.
	// +optional
	LastSeenTime *metav1.Time `json:"lastSeenTime,omitempty"`

	// lastWorkerIdentity is the worker that failed the latest such attempt.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	LastWorkerIdentity string `json:"lastWorkerIdentity,omitempty"`
}

// TaskQueue configures a queue that workers long-poll for tasks.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tq,categories=taskroute
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Backlog",type=integer,JSONPath=`.status.backlogCount`
// +kubebuilder:printcolumn:name="Oldest",type=string,JSONPath=`.status.oldestBacklogAge`
// +kubebuilder:printcolumn:name="Pollers",type=integer,JSONPath=`.status.pollerCount`
// +kubebuilder:printcolumn:name="Running",type=integer,JSONPath=`.status.runningTasks`
// +kubebuilder:printcolumn:name="Rate",type=string,JSONPath=`.spec.rateLimit.tasksPerSecond`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TaskQueue struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired configuration of the queue.
	// +optional
	Spec TaskQueueSpec `json:"spec,omitempty"`

	// status is the observed state of the queue.
	// +optional
	Status TaskQueueStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (q *TaskQueue) GetConditions() []metav1.Condition { return q.Status.Conditions }

// SetConditions replaces the status conditions.
func (q *TaskQueue) SetConditions(c []metav1.Condition) { q.Status.Conditions = c }

// +kubebuilder:object:root=true

// TaskQueueList is a list of TaskQueues.
type TaskQueueList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TaskQueue `json:"items"`
}

func init() {
	SchemeBuilder.Register(&TaskQueue{}, &TaskQueueList{})
}
