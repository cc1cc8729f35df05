// Package quotawatch applies per-namespace quota overrides from the ConfigMap
// taskroute-quotas in the manager's namespace to the matching engine while it runs.
package quotawatch

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/taskroute/taskroute/internal/matching"
)

// DefaultKey is the ConfigMap key (and --quota-overrides key) whose quota is every
// namespace's default, over the --quota-* flags. The underscore cannot appear in a
// namespace name, so the key never shadows a namespace (the "default" namespace included).
const DefaultKey = "_default"

// maxValueBytes bounds one key's value: a quota is five numbers.
const maxValueBytes = 4096

// Partial is a quota naming only the fields it changes; nil fields keep the quota below.
type Partial struct {
	MaxBacklog      *int64
	MaxPayloadBytes *int
	MaxQueues       *int
	AddRate         *float64
	AddBurst        *int
}

// Apply returns q with p's fields set over it.
func (p Partial) Apply(q matching.Quota) matching.Quota {
	if p.MaxBacklog != nil {
		q.MaxBacklog = *p.MaxBacklog
	}
	if p.MaxPayloadBytes != nil {
		q.MaxPayloadBytes = *p.MaxPayloadBytes
	}
	if p.MaxQueues != nil {
		q.MaxQueues = *p.MaxQueues
	}
	if p.AddRate != nil {
		q.AddRate = *p.AddRate
	}
	if p.AddBurst != nil {
		q.AddBurst = *p.AddBurst
	}
	return q
}

// FieldError is a bad quota value: Key is the namespace (or DefaultKey), Field the quota
// field ("" when the value as a whole is bad).
type FieldError struct {
	Key, Field string
	Reason     string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("key %q: %s", e.Key, e.Reason)
	}
	return fmt.Sprintf("key %q: field %q: %s", e.Key, e.Field, e.Reason)
}

// ParseKey checks that key is a namespace name or DefaultKey.
func ParseKey(key string) error {
	if key == DefaultKey {
		return nil
	}
	if errs := validation.IsDNS1123Label(key); len(errs) > 0 {
		return &FieldError{Key: key, Reason: "not a namespace name: " + errs[0]}
	}
	return nil
}

// ParsePartial reads one key's value: a YAML or JSON object with the fields maxBacklog,
// maxPayloadBytes, maxQueues, addRate and addBurst, each >= 0 (0 = unlimited). Unknown
// fields, wrong types and negative numbers are errors naming key and field.
func ParsePartial(key string, value []byte) (Partial, error) {
	var p Partial
	if err := ParseKey(key); err != nil {
		return p, err
	}
	if len(value) > maxValueBytes {
		return p, &FieldError{Key: key, Reason: fmt.Sprintf("value is %d bytes, over the limit of %d", len(value), maxValueBytes)}
	}
	js, err := yaml.YAMLToJSON(value)
	if err != nil {
		return p, &FieldError{Key: key, Reason: "not YAML or JSON: " + err.Error()}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(js, &fields); err != nil || fields == nil {
		return p, &FieldError{Key: key, Reason: "want an object such as {maxBacklog: 5000, addRate: 100}"}
	}
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names) // the first error reported is the same every time
	for _, name := range names {
		raw := fields[name]
		var err error
		switch name {
		case "maxBacklog":
			p.MaxBacklog, err = parseCount[int64](raw)
		case "maxPayloadBytes":
			p.MaxPayloadBytes, err = parseCount[int](raw)
		case "maxQueues":
			p.MaxQueues, err = parseCount[int](raw)
		case "addBurst":
			p.AddBurst, err = parseCount[int](raw)
		case "addRate":
			p.AddRate, err = parseRate(raw)
		default:
			return p, &FieldError{Key: key, Field: name, Reason: "unknown field (want maxBacklog, maxPayloadBytes, maxQueues, addRate or addBurst)"}
		}
		if err != nil {
			return p, &FieldError{Key: key, Field: name, Reason: err.Error()}
		}
	}
	return p, nil
}

func parseCount[T int | int64](raw json.RawMessage) (*T, error) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("want a whole number >= 0, got %s", raw)
	}
	if v < 0 {
		return nil, fmt.Errorf("want a whole number >= 0, got %d", v)
	}
	return &v, nil
}

func parseRate(raw json.RawMessage) (*float64, error) {
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return nil, fmt.Errorf("want tasks per second >= 0, got %s", raw)
	}
	return &v, nil
}

// ParseOverrides reads --quota-overrides: a JSON (or YAML) object of keys to partial
// quotas. The first bad key or field is the error.
func ParseOverrides(b []byte) (map[string]Partial, error) {
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, fmt.Errorf("want an object of namespace to quota: %w", err)
	}
	out := make(map[string]Partial, len(raw))
	for key, v := range raw {
		p, err := ParsePartial(key, v)
		if err != nil {
			return nil, err
		}
		out[key] = p
	}
	return out, nil
}

// Base is the quota configuration below the ConfigMap: the --quota-* flags and
// --quota-overrides.
type Base struct {
	Default   matching.Quota
	Overrides map[string]Partial
}

// Merge returns the engine's quotas. Each field of a namespace's quota is the first one
// set in: the ConfigMap's key of the namespace, --quota-overrides of the namespace, the
// ConfigMap's default key, --quota-overrides' default key, the --quota-* flag. A more
// specific key wins; at the same key the ConfigMap wins over the flags.
func Merge(base Base, cm map[string]Partial) matching.Quotas {
	def := base.Default
	if p, ok := base.Overrides[DefaultKey]; ok {
		def = p.Apply(def)
	}
	if p, ok := cm[DefaultKey]; ok {
		def = p.Apply(def)
	}
	q := matching.Quotas{Default: def}
	for _, layer := range []map[string]Partial{base.Overrides, cm} {
		for ns := range layer {
			if ns == DefaultKey {
				continue
			}
			if q.Overrides == nil {
				q.Overrides = map[string]matching.Quota{}
			}
			o := def
			if p, ok := base.Overrides[ns]; ok {
				o = p.Apply(o)
			}
			if p, ok := cm[ns]; ok {
				o = p.Apply(o)
			}
			q.Overrides[ns] = o
		}
	}
	return q
}
