package render

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/taskroute/taskroute/api/v1alpha1"
)

const (
	// HostnameLabel is the node label spec.placement.hosts pins on.
	HostnameLabel = "kubernetes.io/hostname"
	// CapabilityLabelPrefix prefixes the default node label of an unprefixed capability.
	CapabilityLabelPrefix = "capabilities.taskroute.dev/"
	// GPUCapability is the capability name that gets GPU defaults.
	GPUCapability = "gpu"
	// NvidiaGPU is the extended resource and taint key of NVIDIA GPUs.
	NvidiaGPU corev1.ResourceName = "nvidia.com/gpu"
)

// CapabilityLabelKey is the node label that realizes a capability when it has no
// nodeSelector: the name itself when it has a DNS prefix, else under CapabilityLabelPrefix.
func CapabilityLabelKey(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	return CapabilityLabelPrefix + name
}

// applyPlacement merges spec.placement into the pod: hosts as a required node affinity,
// the node selector and the tolerations added to the template's own (the template wins on
// an equal node selector key, as the WorkerPool API documents).
func applyPlacement(spec *corev1.PodSpec, pool *v1alpha1.WorkerPool) {
	p := pool.Spec.Placement
	if p == nil {
		return
	}
	if len(p.Hosts) > 0 {
		hosts := slices.Clone(p.Hosts)
		slices.Sort(hosts)
		requireNodeExpressions(spec, []corev1.NodeSelectorRequirement{{
			Key: HostnameLabel, Operator: corev1.NodeSelectorOpIn, Values: hosts,
		}})
	}
	if len(p.NodeSelector) > 0 {
		spec.NodeSelector = mergeMaps(p.NodeSelector, spec.NodeSelector)
	}
	spec.Tolerations = appendTolerations(spec.Tolerations, p.Tolerations...)
}

// applyCapabilities realizes capabilities on nodes: required node affinity, tolerations
// and extended resources on the first container (the worker; others are sidecars).
func applyCapabilities(spec *corev1.PodSpec, caps []v1alpha1.Capability) error {
	var exprs []corev1.NodeSelectorRequirement
	for _, c := range caps {
		if c.NodeSelection != v1alpha1.FeatureDisabled {
			exprs = append(exprs, capabilityExpressions(c)...)
		}
		tolerations := c.Tolerations
		if len(tolerations) == 0 && c.Name == GPUCapability {
			tolerations = []corev1.Toleration{{Key: string(NvidiaGPU), Operator: corev1.TolerationOpExists}}
		}
		spec.Tolerations = appendTolerations(spec.Tolerations, tolerations...)

		resources := c.Resources
		if len(resources) == 0 && c.Name == GPUCapability {
			resources = corev1.ResourceList{NvidiaGPU: resource.MustParse("1")}
		}
		if err := addExtendedResources(&spec.Containers[0], resources); err != nil {
			return fmt.Errorf("capability %q: %w", c.Name, err)
		}
	}
	requireNodeExpressions(spec, exprs)
	return nil
}

// capabilityExpressions are the node requirements of one capability, sorted by key.
func capabilityExpressions(c v1alpha1.Capability) []corev1.NodeSelectorRequirement {
	if len(c.NodeSelector) == 0 {
		key := CapabilityLabelKey(c.Name)
		if c.Value == "" {
			// A capability without a value is present or not: any value of the label will do.
			return []corev1.NodeSelectorRequirement{{Key: key, Operator: corev1.NodeSelectorOpExists}}
		}
		return []corev1.NodeSelectorRequirement{{Key: key, Operator: corev1.NodeSelectorOpIn, Values: []string{c.Value}}}
	}
	keys := slices.Sorted(maps.Keys(c.NodeSelector))
	out := make([]corev1.NodeSelectorRequirement, 0, len(keys))
	for _, k := range keys {
		out = append(out, corev1.NodeSelectorRequirement{Key: k, Operator: corev1.NodeSelectorOpIn, Values: []string{c.NodeSelector[k]}})
	}
	return out
}

// addExtendedResources sets each resource as request and limit (extended resources
// cannot be overcommitted, so both must be equal), unless the container already sets it.
func addExtendedResources(c *corev1.Container, rl corev1.ResourceList) error {
	for _, name := range slices.Sorted(maps.Keys(rl)) {
		q := rl[name]
		if q.Sign() <= 0 {
			return fmt.Errorf("resources[%s]: must be positive, got %s", name, q.String())
		}
		_, hasReq := c.Resources.Requests[name]
		_, hasLim := c.Resources.Limits[name]
		if hasReq || hasLim {
			continue // the user's template wins
		}
		if c.Resources.Requests == nil {
			c.Resources.Requests = corev1.ResourceList{}
		}
		if c.Resources.Limits == nil {
			c.Resources.Limits = corev1.ResourceList{}
		}
		c.Resources.Requests[name] = q.DeepCopy()
		c.Resources.Limits[name] = q.DeepCopy()
	}
	return nil
}
