package client

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// Preference is a capability a task prefers (soft): Name and Value are matched as a
// requirement's are (an empty Value is met by any value), Weight is 1..100. Among the
// waiting workers that meet the task's requirements, the one whose met preferences weigh
// most gets the task; a worker that meets none gets it only after the task has waited the
// queue's preference wait (500ms unless the queue sets preferenceWait).
type Preference struct {
	Name   string `json:"name"`
	Value  string `json:"value,omitempty"`
	Weight int    `json:"weight"`
}

// Preferences are a task's preferred capabilities: at most 16, names unique and not
// among the task's requirements.
type Preferences []Preference

// Proto converts the preferences to their protocol form, sorted by name.
func (p Preferences) Proto() []*matchingv1.PreferredCapability {
	if len(p) == 0 {
		return nil
	}
	out := make([]*matchingv1.PreferredCapability, len(p))
	for i, x := range p {
		out[i] = &matchingv1.PreferredCapability{Capability: &matchingv1.Capability{Name: x.Name, Value: x.Value}, Weight: int32(x.Weight)}
	}
	slices.SortFunc(out, func(a, b *matchingv1.PreferredCapability) int {
		return strings.Compare(a.GetCapability().GetName(), b.GetCapability().GetName())
	})
	return out
}

// PreferencesFromProto converts protocol preferences (nil for none).
func PreferencesFromProto(in []*matchingv1.PreferredCapability) Preferences {
	if len(in) == 0 {
		return nil
	}
	out := make(Preferences, len(in))
	for i, x := range in {
		out[i] = Preference{Name: x.GetCapability().GetName(), Value: x.GetCapability().GetValue(), Weight: int(x.GetWeight())}
	}
	return out
}

// String renders the preferences as name[=value]:weight, joined by commas (the syntax
// ParsePreference reads).
func (p Preferences) String() string {
	parts := make([]string, len(p))
	for i, x := range p {
		nv := x.Name
		if x.Value != "" {
			nv += "=" + x.Value
		}
		parts[i] = nv + ":" + strconv.Itoa(x.Weight)
	}
	return strings.Join(parts, ",")
}

// ParsePreference reads "name[=value]:weight", e.g. "zone=eu:10" or "ssd:5". The service
// validates names, values and the weight's range.
func ParsePreference(s string) (Preference, error) {
	nv, w, ok := strings.Cut(s, ":")
	weight, err := strconv.Atoi(w)
	if !ok || err != nil || nv == "" {
		return Preference{}, fmt.Errorf("want name[=value]:weight, e.g. zone=eu:10, got %q", s)
	}
	name, value, _ := strings.Cut(nv, "=")
	return Preference{Name: name, Value: value, Weight: weight}, nil
}
