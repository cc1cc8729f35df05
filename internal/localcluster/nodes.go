package localcluster

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taskroute/taskroute/internal/render"
)

const (
	// KwokNodeAnnotation marks the nodes kwok manages (kwok runs with
	// --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake).
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
	// GPUResource is the extended resource GPU nodes offer.
	GPUResource = render.NvidiaGPU
	// GPULabel is the node label the WorkerPool builder derives for the capability
	// gpu=<value> when no nodeSelector is given ("capabilities.taskroute.dev/<name>").
	GPULabel = render.CapabilityLabelPrefix + render.GPUCapability
	// GPUModel is the value of GPULabel on the default GPU nodes.
	GPUModel = "a100"
	// GPUTaintKey is the taint on GPU nodes; GPU pools tolerate it by default.
	GPUTaintKey = "nvidia.com/gpu"
)

// NodeSpec describes one fake node.
type NodeSpec struct {
	Name   string
	Labels map[string]string
	Taints []corev1.Taint
	// Capacity is also the allocatable amount.
	Capacity corev1.ResourceList
}

// DefaultNodes are two GPU nodes (4 GPUs each, labelled and tainted like a real GPU
// node) and three CPU-only nodes, each with its own hostname.
func DefaultNodes() []NodeSpec {
	var nodes []NodeSpec
	for _, name := range []string{"kwok-node-gpu-1", "kwok-node-gpu-2"} {
		nodes = append(nodes, NodeSpec{
			Name:   name,
			Labels: map[string]string{GPULabel: GPUModel, "node.taskroute.dev/class": "gpu"},
			Taints: []corev1.Taint{{Key: GPUTaintKey, Value: "present", Effect: corev1.TaintEffectNoSchedule}},
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("32"),
				corev1.ResourceMemory: resource.MustParse("256Gi"),
				corev1.ResourcePods:   resource.MustParse("110"),
				GPUResource:           resource.MustParse("4"),
			},
		})
	}
	for _, name := range []string{"kwok-node-cpu-1", "kwok-node-cpu-2", "kwok-node-cpu-3"} {
		nodes = append(nodes, NodeSpec{
			Name:   name,
			Labels: map[string]string{"node.taskroute.dev/class": "cpu"},
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("16"),
				corev1.ResourceMemory: resource.MustParse("64Gi"),
				corev1.ResourcePods:   resource.MustParse("110"),
			},
		})
	}
	return nodes
}

// GPUNodeNames and CPUNodeNames name the default nodes, for assertions.
var (
	GPUNodeNames = []string{"kwok-node-gpu-1", "kwok-node-gpu-2"}
	CPUNodeNames = []string{"kwok-node-cpu-1", "kwok-node-cpu-2", "kwok-node-cpu-3"}
)

// nodeObject renders a NodeSpec as the Node kwok will manage. Nodes accept status on
// create, so capacity is set in one request; kwok's node-initialize stage then adds the
// Ready condition and its heartbeat keeps the node's lease fresh.
func nodeObject(s NodeSpec) *corev1.Node {
	labels := map[string]string{
		"kubernetes.io/hostname": s.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
		"type":                   "kwok",
	}
	for k, v := range s.Labels {
		labels[k] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        s.Name,
			Labels:      labels,
			Annotations: map[string]string{KwokNodeAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
		},
		Spec: corev1.NodeSpec{Taints: s.Taints},
		Status: corev1.NodeStatus{
			Capacity:    s.Capacity.DeepCopy(),
			Allocatable: s.Capacity.DeepCopy(),
			NodeInfo: corev1.NodeSystemInfo{
				Architecture:    "amd64",
				OperatingSystem: "linux",
				KubeletVersion:  "fake",
			},
		},
	}
}
