package queueconfig

import "strings"

// Capability is a property a worker advertises in its polls, or a requirement of a task.
// A requirement with a value is met by a worker with that capability and an equal value;
// a requirement with an empty value by a worker with that capability and any value.
type Capability struct {
	Name  string
	Value string
}

// String renders the capability as name=value, or as its name alone when it has no value
// (a requirement of presence).
func (c Capability) String() string {
	if c.Value == "" {
		return c.Name
	}
	return c.Name + "=" + c.Value
}

// FormatCapabilities renders capabilities in their order, joined by commas.
func FormatCapabilities(caps []Capability) string {
	parts := make([]string, len(caps))
	for i, c := range caps {
		parts[i] = c.String()
	}
	return strings.Join(parts, ",")
}
