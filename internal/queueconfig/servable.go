package queueconfig

import (
	"slices"
	"time"
)

// WorkerProfile is what a group of workers can serve: the capabilities they advertise and
// the priority levels they poll (empty: every level). The autoscaler and the KEDA scaler
// narrow a queue's backlog to a pool with it.
type WorkerProfile struct {
	Capabilities []Capability
	Priorities   []int
}

// Meets reports whether the profile's capabilities meet every requirement: the capability
// present and, for a requirement with a value, an equal value.
func (p WorkerProfile) Meets(requires []Capability) bool {
	for _, r := range requires {
		if !slices.ContainsFunc(p.Capabilities, func(c Capability) bool {
			return c.Name == r.Name && (r.Value == "" || c.Value == r.Value)
		}) {
			return false
		}
	}
	return true
}

// Serves reports whether workers of the profile may take tasks of this backlog entry.
func (p WorkerProfile) Serves(b Backlog) bool {
	if len(p.Priorities) > 0 && !slices.Contains(p.Priorities, b.Priority) {
		return false
	}
	return p.Meets(b.Requires)
}

// ServableBacklog sums the backlog entries the profile serves and returns their count and
// the age of the oldest of their tasks.
func ServableBacklog(backlog []Backlog, p WorkerProfile) (count int64, oldest time.Duration) {
	for _, b := range backlog {
		if !p.Serves(b) {
			continue
		}
		count += b.Count
		oldest = max(oldest, b.OldestAge)
	}
	return count, oldest
}
