package queueconfig

import "slices"

// Capabilities that pin a task to particular workers: every worker advertises its host
// and a per-start process id, and a task may require them (task.SameHost, SameProcess).
const (
	CapabilityHost    = "taskroute.dev/host"
	CapabilityProcess = "taskroute.dev/process"
)

// Pinned reports whether these tasks are routed to a host or a process: only the workers
// there can take them, so those workers must not be scaled away while the tasks wait.
func (b Backlog) Pinned() bool {
	return slices.ContainsFunc(b.Requires, func(c Capability) bool {
		return c.Name == CapabilityHost || c.Name == CapabilityProcess
	})
}
