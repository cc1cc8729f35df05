package server

import (
	"fmt"
	"sort"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// Bounds of fairness fields.
const (
	maxFairnessKey       = 64   // bytes of UTF-8
	maxWeightOverrides   = 1000 // keys in a queue's weight overrides
	maxFairnessKeyRate   = 1e5  // tasks/second per key
	maxFairnessKeyBursts = maxBurst
)

// checkTaskFairness validates a task's fairness key and weight (fields named relative to
// the task).
func checkTaskFairness(t *matchingv1.TaskSpec) error {
	if err := checkName("fairness_key", t.GetFairnessKey(), maxFairnessKey, false); err != nil {
		return err
	}
	if w := t.GetFairnessWeight(); w < 0 || w > matching.MaxFairnessWeight {
		return invalid("fairness_weight", "must be 0 (unset: 1) or 1..%d, got %d", matching.MaxFairnessWeight, w)
	}
	return nil
}

// checkQueueFairness validates a queue's fairness settings.
func checkQueueFairness(c *queueconfig.Config) error {
	if err := checkRateAndBurst("fairness_key_rate_limit", "fairness_key_burst", c.FairnessKeyRateLimit, c.FairnessKeyBurst, maxFairnessKeyRate, maxFairnessKeyBursts); err != nil {
		return err
	}
	if len(c.FairnessWeightOverrides) > maxWeightOverrides {
		return invalid("config.fairness_weight_overrides", "must have at most %d keys, got %d", maxWeightOverrides, len(c.FairnessWeightOverrides))
	}
	keys := make([]string, 0, len(c.FairnessWeightOverrides))
	for k := range c.FairnessWeightOverrides {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first bad key is named the same way every time
	for _, k := range keys {
		field := fmt.Sprintf("config.fairness_weight_overrides[%q]", k)
		if err := checkName(field, k, maxFairnessKey, false); err != nil {
			return err
		}
		if w := c.FairnessWeightOverrides[k]; w < 1 || w > matching.MaxFairnessWeight {
			return invalid(field, "weight must be within 1..%d, got %d", matching.MaxFairnessWeight, w)
		}
	}
	return nil
}

// fairnessSetters are the update_mask paths of the fairness settings.
var fairnessSetters = map[string]setter{
	"fairness_key_rate_limit": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		d.FairnessKeyRateLimit = s.GetFairnessKeyRateLimit()
		return nil
	},
	"fairness_key_burst": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		d.FairnessKeyBurst = int(s.GetFairnessKeyBurst())
		return nil
	},
	"fairness_weight_overrides": func(d *queueconfig.Config, s *matchingv1.QueueConfig) error {
		d.FairnessWeightOverrides = nil
		if len(s.GetFairnessWeightOverrides()) > 0 {
			d.FairnessWeightOverrides = make(map[string]int32, len(s.GetFairnessWeightOverrides()))
			for k, w := range s.GetFairnessWeightOverrides() {
				d.FairnessWeightOverrides[k] = w
			}
		}
		return nil
	},
}

// init adds the fairness paths to configSetters; they are kept here, with their checks.
func init() {
	for p, set := range fairnessSetters {
		configSetters[p] = set
	}
}
