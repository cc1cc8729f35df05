package v1alpha1

import "k8s.io/apimachinery/pkg/api/resource"

// Bounds of the fairness settings (the matching service checks the same).
const (
	MaxFairnessKeyBytes       = 64
	MaxFairnessWeight         = 1000
	MaxFairnessWeightOverride = 1000 // keys in weightOverrides
)

// FairnessConfig tunes fairness within the queue: tasks carry a fairness key (a tenant)
// and a weight, and within a priority level the queue serves the keys in turn by weight.
// +kubebuilder:validation:XValidation:rule="!has(self.weightOverrides) || self.weightOverrides.all(k, size(k) >= 1 && size(k) <= 64)",message="spec.fairness.weightOverrides keys must be 1..64 characters"
// +kubebuilder:validation:XValidation:rule="!has(self.weightOverrides) || self.weightOverrides.all(k, self.weightOverrides[k] >= 1 && self.weightOverrides[k] <= 1000)",message="spec.fairness.weightOverrides weights must be within 1..1000"
type FairnessConfig struct {
	// keyRateLimit gives every fairness key (the default key included) its own token
	// bucket: a key over its rate waits while other keys' tasks flow. Unset means no
	// per-key limit. The queue's rateLimit still covers all dispatch.
	// +optional
	KeyRateLimit *FairnessKeyRateLimit `json:"keyRateLimit,omitempty"`

	// weightOverrides are weights (1..1000) by fairness key; they win over the weight the
	// tasks carry (tasks without one have weight 1).
	// +optional
	// +kubebuilder:validation:MaxProperties=1000
	WeightOverrides map[string]int32 `json:"weightOverrides,omitempty"`
}

// FairnessKeyRateLimit is the token bucket each fairness key gets.
// +kubebuilder:validation:XValidation:rule="quantity(self.tasksPerSecond).isGreaterThan(quantity('0')) && quantity(self.tasksPerSecond).isLessThan(quantity('100001'))",message="spec.fairness.keyRateLimit.tasksPerSecond must be greater than 0 and at most 100000"
type FairnessKeyRateLimit struct {
	// tasksPerSecond is each key's sustained dispatch rate, as a decimal quantity: "50",
	// "0.5", "500m".
	// +required
	TasksPerSecond resource.Quantity `json:"tasksPerSecond"`

	// burst is how many tasks of one key may be dispatched at once after it was idle.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	Burst int32 `json:"burst,omitempty"`
}
