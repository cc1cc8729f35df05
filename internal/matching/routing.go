package matching

import (
	"slices"
	"strings"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// capability is a worker's property or a task's requirement (see matchingv1.Capability):
// a requirement with an empty value is met by the capability with any value.
type capability struct{ name, value string }

// routeSep joins the requirements of a route key; it cannot occur in names or values.
const routeSep = "\x1f"

// requirementsOf returns validated requirements sorted by name and their route key: the
// canonical text of the set ("" for none), which names the task's backlog partition.
func requirementsOf(in []*matchingv1.Capability) ([]capability, string) {
	reqs := sortedCapabilities(in)
	return reqs, routeKey(reqs)
}

// sortedCapabilities converts validated capabilities and sorts them by name (nil for none).
func sortedCapabilities(in []*matchingv1.Capability) []capability {
	if len(in) == 0 {
		return nil
	}
	caps := make([]capability, len(in))
	for i, c := range in {
		caps[i] = capability{c.GetName(), c.GetValue()}
	}
	slices.SortFunc(caps, func(a, b capability) int { return strings.Compare(a.name, b.name) })
	return caps
}

// routeKey is the canonical text of sorted capabilities: name=value joined by routeSep.
func routeKey(caps []capability) string {
	var b strings.Builder
	for i, c := range caps {
		if i > 0 {
			b.WriteString(routeSep)
		}
		b.WriteString(c.name)
		b.WriteByte('=')
		b.WriteString(c.value)
	}
	return b.String()
}

// parseRouteKey is the inverse of routeKey: the requirements of a route key (the
// preferences that may follow are parsePreferences's).
func parseRouteKey(key string) []capability {
	key, _, _ = strings.Cut(key, prefSep)
	if key == "" {
		return nil
	}
	parts := strings.Split(key, routeSep)
	caps := make([]capability, len(parts))
	for i, p := range parts {
		caps[i].name, caps[i].value, _ = strings.Cut(p, "=")
	}
	return caps
}

// capabilitySet is a worker's capabilities, sorted by name, names unique (validated). A
// slice, not a map: a worker has a few, and a map would cost more than the rest of its
// entry in the poller table.
type capabilitySet []capability

func capabilitySetOf(in []*matchingv1.Capability) capabilitySet { return sortedCapabilities(in) }

// meets reports whether the set meets one requirement.
func (s capabilitySet) meets(r capability) bool {
	for _, c := range s {
		if c.name == r.name {
			return r.value == "" || c.value == r.value
		}
	}
	return false
}

// meetsAll reports whether the set meets every requirement.
func (s capabilitySet) meetsAll(reqs []capability) bool {
	for _, r := range reqs {
		if !s.meets(r) {
			return false
		}
	}
	return true
}

// key is the canonical text of the set (its route key, as if it were a requirement set).
func (s capabilitySet) key() string { return routeKey(s) }

// sameAs reports whether a poll lists exactly the capabilities of s (so a poller's cached
// set can be reused without building a new one per poll).
func (s capabilitySet) sameAs(in []*matchingv1.Capability) bool {
	if len(in) != len(s) {
		return false
	}
	for _, c := range in {
		if !slices.Contains(s, capability{c.GetName(), c.GetValue()}) {
			return false
		}
	}
	return true
}

func capabilitiesProto(caps []capability) []*matchingv1.Capability {
	if len(caps) == 0 {
		return nil
	}
	out := make([]*matchingv1.Capability, len(caps))
	for i, c := range caps {
		out[i] = &matchingv1.Capability{Name: c.name, Value: c.value}
	}
	return out
}
