package client

import (
	"slices"
	"strings"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// Capabilities are named properties of workers, and the requirements of tasks: a name in
// label-key syntax ("gpu", "arch", "example.com/fpga") and a value in label-value syntax,
// possibly empty. A task's requirement with a value is met by a worker with that capability
// and an equal value; a requirement with an empty value by a worker with that capability
// and any value. Example: Capabilities{"gpu": ""} requires some GPU,
// Capabilities{"gpu": "a100"} an A100.
type Capabilities map[string]string

// Proto converts the capabilities to their protocol form, sorted by name.
func (c Capabilities) Proto() []*matchingv1.Capability {
	if len(c) == 0 {
		return nil
	}
	out := make([]*matchingv1.Capability, 0, len(c))
	for n, v := range c {
		out = append(out, &matchingv1.Capability{Name: n, Value: v})
	}
	slices.SortFunc(out, func(a, b *matchingv1.Capability) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// CapabilitiesFromProto converts protocol capabilities (nil for none).
func CapabilitiesFromProto(in []*matchingv1.Capability) Capabilities {
	if len(in) == 0 {
		return nil
	}
	c := make(Capabilities, len(in))
	for _, x := range in {
		c[x.GetName()] = x.GetValue()
	}
	return c
}

// String renders the capabilities as name=value pairs sorted by name, joined by commas
// (the TASKROUTE_CAPABILITIES syntax); a capability without a value renders as its name.
func (c Capabilities) String() string {
	parts := make([]string, 0, len(c))
	for _, p := range c.Proto() {
		if p.Value == "" {
			parts = append(parts, p.Name)
		} else {
			parts = append(parts, p.Name+"="+p.Value)
		}
	}
	return strings.Join(parts, ",")
}

// Capabilities every worker advertises by itself, so tasks can be routed to a host or to
// one worker process without queue names to invent. Use the worker SDK's
// Task.SameHost and Task.SameProcess rather than spelling them out.
const (
	// CapabilityHost is the worker's host: the node name in a cluster
	// (TASKROUTE_NODE_NAME), otherwise the host name. Up to 253 characters.
	CapabilityHost = "taskroute.dev/host"
	// CapabilityProcess is a random id of the worker process, new at every start.
	CapabilityProcess = "taskroute.dev/process"
)
