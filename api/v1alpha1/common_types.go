package v1alpha1

// Condition types and reasons shared by both kinds. Conditions are positive: True is good.
const (
	// ConditionReady is True when the object is fully realized and serving.
	ConditionReady = "Ready"
	// ConditionProgressing is True while a rollout or scale change is under way.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when something is wrong that needs attention.
	ConditionDegraded = "Degraded"
	// ConditionSpecHonored is False while the spec sets fields that the API accepts but
	// taskroute does not honour yet; the message lists them. Their docs say so too.
	ConditionSpecHonored = "SpecHonored"
)

// Reasons of the SpecHonored condition.
const (
	// ReasonSpecHonored: every field the spec sets takes effect.
	ReasonSpecHonored = "AllFieldsHonored"
	// ReasonNotYetImplemented: some fields the spec sets have no effect yet.
	ReasonNotYetImplemented = "NotYetImplemented"
)

// TaskKind is one of the two sub-queues that share every queue name.
// +kubebuilder:validation:Enum=Activity;Workflow
type TaskKind string

const (
	// TaskKindActivity tasks run a function.
	TaskKindActivity TaskKind = "Activity"
	// TaskKindWorkflow tasks make progress on an execution.
	TaskKindWorkflow TaskKind = "Workflow"
)

// FeatureMode switches an optional behaviour on or off. An enum rather than a bool, so a
// third mode can be added without a breaking change.
// +kubebuilder:validation:Enum=Enabled;Disabled
type FeatureMode string

const (
	// FeatureEnabled turns the behaviour on.
	FeatureEnabled FeatureMode = "Enabled"
	// FeatureDisabled turns the behaviour off.
	FeatureDisabled FeatureMode = "Disabled"
)

// Priority levels are numbered 1 (lowest) to MaxPriorityLevels (highest).
const (
	// MaxPriorityLevels is the most priority levels a queue may have.
	MaxPriorityLevels = 10
	// DefaultPriorityLevels is the number of levels of a queue that does not say.
	DefaultPriorityLevels = 5
	// DefaultPriority is the level of a task that does not say.
	DefaultPriority = 3
)
