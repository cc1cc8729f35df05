package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkerPoolSpec declares a pool of worker processes for one queue.
type WorkerPoolSpec struct {
	// queue is the name of the task queue the workers poll, in this namespace. A TaskQueue
	// object of that name adds configuration; without one the queue runs with defaults.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Queue string `json:"queue"`

	// version is the build id the workers run. It labels the pods, and the workers report
	// it in their polls (TaskQueue status.pollers); several pools of one queue with
	// different versions coexist. Not yet honoured for routing: tasks cannot be pinned to
	// a version, so any worker of the queue may take any task whatever its version.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	Version string `json:"version,omitempty"`

	// capabilities the workers advertise, such as gpu=a100. A task that requires
	// capabilities is dispatched only to a worker that has all of them. Each capability is
	// also realized on nodes: the pods get a required node affinity on the capability's
	// node label, tolerations and extended resources (see Capability).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Capabilities []Capability `json:"capabilities,omitempty"`

	// placement pins the workers to hosts or nodes, beyond what capabilities require.
	// +optional
	Placement *Placement `json:"placement,omitempty"`

	// limits are per-worker limits that each worker process never exceeds.
	// +optional
	Limits *WorkerLimits `json:"limits,omitempty"`

	// priorities are the priority levels this pool serves; empty means all. Use one pool per
	// level for strict separation.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=10
	Priorities []int32 `json:"priorities,omitempty"`

	// replicas is the number of workers. It is the target of the /scale subresource, so an
	// HPA or KEDA may drive it; with autoscaling mode Backlog the operator writes it
	// through /scale from the queue's backlog (see autoscaling). Leave it out of GitOps
	// manifests when something scales the pool, as with a Deployment under an HPA.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	Replicas *int32 `json:"replicas,omitempty"`

	// autoscaling sizes the pool from the part of the queue's backlog it can serve (its
	// capabilities and priorities), its tasks in flight, the arrival rate, the age of the
	// oldest waiting task and the queue's rate limit; the conditions ScalingActive and
	// ScalingLimited and an event explain each decision. A pool at zero is woken by the
	// first task it can serve (docs/autoscaling.md).
	// +optional
	Autoscaling *Autoscaling `json:"autoscaling,omitempty"`

	// template is the pod template of the workers. The operator adds the worker contract
	// (environment, labels, placement) to it; fields set here win where they conflict,
	// except the pool's labels. Its fields are those of a pod template: see
	// "kubectl explain pod.spec".
	// +required
	Template corev1.PodTemplateSpec `json:"template"`
}

// Capability is a named property of the workers, and how it is realized on nodes.
type Capability struct {
	// name is the capability key, in label-key syntax: "gpu", "arch", "example.com/fpga".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=316
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$')",message="capability name must be a label key: an optional DNS prefix and '/', then up to 63 alphanumerics, '-', '_' or '.'"
	Name string `json:"name"`

	// value of the capability, in label-value syntax: "a100", "arm64". Empty means the
	// capability is present without a value.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`
	Value string `json:"value,omitempty"`

	// nodeSelector is the node labels that realize the capability, as a required node
	// affinity. Unset means one label: the capability name itself when it has a prefix,
	// otherwise "capabilities.taskroute.dev/<name>", equal to the value.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// nodeSelection turns the node affinity of this capability off, for capabilities
	// that are properties of the software rather than of the node.
	// +optional
	// +kubebuilder:default=Enabled
	NodeSelection FeatureMode `json:"nodeSelection,omitempty"`

	// tolerations let the workers onto nodes tainted for this capability. For the "gpu"
	// capability the default is to tolerate the "nvidia.com/gpu" taint.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// resources are extended resources each worker requests and is limited to, such as
	// {"nvidia.com/gpu": "1"}. For the "gpu" capability the default is one nvidia.com/gpu.
	// +optional
	Resources corev1.ResourceList `json:"resources,omitempty"`
}

// Placement pins workers to nodes.
type Placement struct {
	// hosts pins the workers to these nodes (values of kubernetes.io/hostname).
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	Hosts []string `json:"hosts,omitempty"`

	// nodeSelector adds node labels the workers require.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations let the workers onto tainted nodes.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
}

// WorkerLimits are per-worker limits, enforced by the SDK and checked by the server.
type WorkerLimits struct {
	// slots is how many tasks one worker runs at once. A worker polls only with a free slot.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	Slots int32 `json:"slots,omitempty"`

	// tasksPerSecond caps how fast one worker starts tasks, as a decimal quantity ("50",
	// "0.5"). Unset means no per-worker rate.
	// +optional
	TasksPerSecond *resource.Quantity `json:"tasksPerSecond,omitempty"`

	// sessions is how many sessions one worker process holds at once: the matching
	// service binds a new session (CreateSession) only to a live worker with a free
	// session slot, and the session's tasks run only on that worker. Injected as
	// TASKROUTE_SESSIONS, which the SDK advertises to the service. 0 means the worker
	// takes no sessions.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	Sessions int32 `json:"sessions,omitempty"`
}

// AutoscalingMode selects what sizes a pool.
// +kubebuilder:validation:Enum=Disabled;Backlog
type AutoscalingMode string

const (
	// AutoscalingDisabled leaves spec.replicas (or an external scaler) in charge.
	AutoscalingDisabled AutoscalingMode = "Disabled"
	// AutoscalingBacklog lets the operator size the pool from the queue's backlog,
	// within minReplicas..maxReplicas.
	AutoscalingBacklog AutoscalingMode = "Backlog"
)

// Autoscaling sizes a pool from the queue's backlog (see spec.autoscaling).
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="spec.autoscaling.minReplicas must not exceed spec.autoscaling.maxReplicas"
type Autoscaling struct {
	// mode: Backlog sizes the pool from the queue's backlog, writing spec.replicas;
	// Disabled leaves the size to spec.replicas alone (or to an external scaler).
	// +optional
	// +kubebuilder:default=Backlog
	Mode AutoscalingMode `json:"mode,omitempty"`

	// minReplicas is the smallest size the pool runs. 0 lets an idle pool scale to zero
	// after scaleDownDelay; the first task it can serve wakes it within about a second.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	MinReplicas *int32 `json:"minReplicas,omitempty"`

	// maxReplicas is the largest size.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	MaxReplicas int32 `json:"maxReplicas"`

	// targetBacklogPerWorker is the waiting backlog one worker should face: the pool
	// asks for one worker per this many waiting tasks, on top of the workers its tasks
	// in flight keep busy (in flight / limits.slots).
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	TargetBacklogPerWorker int32 `json:"targetBacklogPerWorker,omitempty"`

	// maxBacklogAge grows the pool by one worker at a time (one step per scale-up
	// interval) while the oldest task it can serve has waited longer than this, even if
	// the backlog is short. Unset: no age target.
	// +optional
	MaxBacklogAge *metav1.Duration `json:"maxBacklogAge,omitempty"`

	// scaleDownDelay is how long the load must justify fewer workers, without
	// interruption, before the pool shrinks; it then shrinks to the largest size asked
	// for during the delay, so a bursty queue does not flap. Growing is immediate.
	// +optional
	// +kubebuilder:default="5m"
	ScaleDownDelay *metav1.Duration `json:"scaleDownDelay,omitempty"`
}

// WorkerPool condition types (besides Ready, Progressing, Degraded).
const (
	// ConditionQueueResolved is False when the pool's TaskQueue does not exist or the pool
	// serves priority levels the queue does not have.
	ConditionQueueResolved = "QueueResolved"
)

// WorkerPoolStatus is the observed state of a pool.
type WorkerPoolStatus struct {
	// observedGeneration is the generation of the spec this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Progressing, Degraded, QueueResolved, SpecHonored (False
	// while fields that are accepted but not yet honoured are set), and with autoscaling
	// mode Backlog ScalingActive and ScalingLimited.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// replicas is the number of worker pods that exist.
	// +optional
	Replicas int32 `json:"replicas"`

	// desiredReplicas is the number of workers the pool is converging to.
	// +optional
	DesiredReplicas int32 `json:"desiredReplicas"`

	// readyReplicas is the number of worker pods that are ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas"`

	// updatedReplicas is the number of worker pods with the current template.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas"`

	// connectedWorkers is the number of workers currently polling the matching service.
	// +optional
	ConnectedWorkers int32 `json:"connectedWorkers"`

	// backlogCount is the backlog of the pool's queue, for a quick look.
	// +optional
	BacklogCount int64 `json:"backlogCount"`

	// selector is the label selector of the pool's pods, for the /scale subresource.
	// +optional
	Selector string `json:"selector,omitempty"`

	// deploymentName is the Deployment that runs the workers.
	// +optional
	DeploymentName string `json:"deploymentName,omitempty"`

	// autoscaling is the built-in autoscaler's state, with autoscaling mode Backlog.
	// +optional
	Autoscaling *AutoscalingStatus `json:"autoscaling,omitempty"`
}

// WorkerPool runs worker processes for a task queue on the right nodes.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=wp,categories=taskroute
// +kubebuilder:printcolumn:name="Queue",type=string,JSONPath=`.spec.queue`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.status.desiredReplicas`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Backlog",type=integer,JSONPath=`.status.backlogCount`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type WorkerPool struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired pool.
	// +required
	Spec WorkerPoolSpec `json:"spec"`

	// status is the observed state of the pool.
	// +optional
	Status WorkerPoolStatus `json:"status,omitempty"`
}

// GetConditions returns the status conditions.
func (p *WorkerPool) GetConditions() []metav1.Condition { return p.Status.Conditions }

// SetConditions replaces the status conditions.
func (p *WorkerPool) SetConditions(c []metav1.Condition) { p.Status.Conditions = c }

// +kubebuilder:object:root=true

// WorkerPoolList is a list of WorkerPools.
type WorkerPoolList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WorkerPool `json:"items"`
}

func init() {
	SchemeBuilder.Register(&WorkerPool{}, &WorkerPoolList{})
}
