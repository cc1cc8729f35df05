package server

import (
	"fmt"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// Bounds of routing fields.
const (
	maxRequirements       = 16 // per task
	maxWorkerCapabilities = 64 // per poll
	maxCapabilityPrefix   = 253
	maxCapabilityNamePart = 63
	maxCapabilityValue    = 63
	maxHostName           = 253
)

// checkCapabilities validates a list of capabilities: at most max, each name in label-key
// syntax and each value in label-value syntax, names unique.
func checkCapabilities(field string, caps []*matchingv1.Capability, max int) error {
	if len(caps) > max {
		return invalid(field, "must list at most %d capabilities, got %d", max, len(caps))
	}
	seen := make(map[string]struct{}, len(caps))
	for i, c := range caps {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := checkCapabilityName(f+".name", c.GetName()); err != nil {
			return err
		}
		if err := checkCapabilityValue(f+".value", c.GetName(), c.GetValue()); err != nil {
			return err
		}
		if _, dup := seen[c.GetName()]; dup {
			return invalid(f+".name", "%q is listed twice", c.GetName())
		}
		seen[c.GetName()] = struct{}{}
	}
	return nil
}

// checkCapabilityName: an optional DNS subdomain prefix and '/', then 1..63 characters of
// [A-Za-z0-9-_.] starting and ending alphanumeric (a Kubernetes label key).
func checkCapabilityName(field, s string) error {
	prefix, name := "", s
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			prefix, name = s[:i], s[i+1:]
			break
		}
	}
	if prefix != "" || len(s) > 0 && s[0] == '/' {
		if err := checkDNSSubdomain(prefix); err != nil {
			return invalid(field, "prefix of %q %s", s, err)
		}
	}
	if len(name) == 0 || len(name) > maxCapabilityNamePart {
		return invalid(field, "must be a label key: 1..%d characters after an optional prefix, got %q", maxCapabilityNamePart, s)
	}
	if !labelChars(name) {
		return invalid(field, "must be a label key: alphanumerics, '-', '_' or '.', starting and ending alphanumeric, got %q", s)
	}
	return nil
}

// checkCapabilityValue: empty, or up to 63 characters of [A-Za-z0-9-_.] starting and
// ending alphanumeric (a Kubernetes label value); the host capability takes a host or node
// name, up to 253 characters of the same.
func checkCapabilityValue(field, name, s string) error {
	if s == "" {
		return nil
	}
	maxLen := maxCapabilityValue
	if name == capabilityHost {
		maxLen = maxHostName
	}
	if len(s) > maxLen || !labelChars(s) {
		return invalid(field, "must be a label value: up to %d alphanumerics, '-', '_' or '.', starting and ending alphanumeric, got %q", maxLen, s)
	}
	return nil
}

// capabilityHost is client.CapabilityHost: its value is a node or host name.
const capabilityHost = "taskroute.dev/host"

func labelChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && ((i == 0 || i == len(s)-1) || c != '-' && c != '_' && c != '.') {
			return false
		}
	}
	return true
}

// checkDNSSubdomain reports why s is not a DNS subdomain (lowercase labels joined by dots).
func checkDNSSubdomain(s string) error {
	if len(s) == 0 || len(s) > maxCapabilityPrefix {
		return fmt.Errorf("must be a DNS subdomain of 1..%d characters", maxCapabilityPrefix)
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("must be a DNS subdomain (lowercase letters, digits, '-', '.')")
			}
			continue
		}
		label := s[start:i]
		if len(label) == 0 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("must be a DNS subdomain (labels start and end alphanumeric)")
		}
		start = i + 1
	}
	return nil
}
