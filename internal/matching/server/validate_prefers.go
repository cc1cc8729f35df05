package server

import (
	"fmt"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// Bounds of a task's preferred capabilities.
const (
	maxPreferences = 16
	maxPrefWeight  = 100
)

// checkPreferences validates a task's preferred capabilities: at most maxPreferences,
// each a valid capability with a weight 1..maxPrefWeight, names unique and not required
// too (a required capability is always met, so preferring it would change nothing).
func checkPreferences(field string, prefs []*matchingv1.PreferredCapability, requires []*matchingv1.Capability) error {
	if len(prefs) > maxPreferences {
		return invalid(field, "must list at most %d preferences, got %d", maxPreferences, len(prefs))
	}
	required := make(map[string]bool, len(requires))
	for _, r := range requires {
		required[r.GetName()] = true
	}
	seen := make(map[string]bool, len(prefs))
	for i, p := range prefs {
		f := fmt.Sprintf("%s[%d]", field, i)
		c := p.GetCapability()
		if c == nil {
			return invalid(f+".capability", "must be set")
		}
		if err := checkCapabilityName(f+".capability.name", c.GetName()); err != nil {
			return err
		}
		if err := checkCapabilityValue(f+".capability.value", c.GetName(), c.GetValue()); err != nil {
			return err
		}
		if w := p.GetWeight(); w < 1 || w > maxPrefWeight {
			return invalid(f+".weight", "must be within 1..%d, got %d", maxPrefWeight, w)
		}
		switch name := c.GetName(); {
		case required[name]:
			return invalid(f+".capability.name", "%q is also required; a preference must name another capability", name)
		case seen[name]:
			return invalid(f+".capability.name", "%q is listed twice", name)
		default:
			seen[name] = true
		}
	}
	return nil
}
