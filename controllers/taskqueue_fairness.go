package controllers

import (
	"fmt"
	"sort"
	"unicode/utf8"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// fairnessFromSpec copies spec.fairness into cfg, checking what the CRD checks (and the
// byte length of keys, which CEL counts in characters).
func fairnessFromSpec(f *v1alpha1.FairnessConfig, cfg *queueconfig.Config) error {
	if f == nil {
		return nil
	}
	if rl := f.KeyRateLimit; rl != nil {
		cfg.FairnessKeyRateLimit = rl.TasksPerSecond.AsApproximateFloat64()
		if cfg.FairnessKeyRateLimit <= 0 || cfg.FairnessKeyRateLimit > 100000 {
			return fmt.Errorf("spec.fairness.keyRateLimit.tasksPerSecond: must be greater than 0 and at most 100000, got %s", rl.TasksPerSecond.String())
		}
		cfg.FairnessKeyBurst = max(int(rl.Burst), 1)
	}
	if len(f.WeightOverrides) > v1alpha1.MaxFairnessWeightOverride {
		return fmt.Errorf("spec.fairness.weightOverrides: must have at most %d keys, got %d", v1alpha1.MaxFairnessWeightOverride, len(f.WeightOverrides))
	}
	keys := make([]string, 0, len(f.WeightOverrides))
	for k := range f.WeightOverrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || len(k) > v1alpha1.MaxFairnessKeyBytes || !utf8.ValidString(k) {
			return fmt.Errorf("spec.fairness.weightOverrides[%q]: key must be 1..%d bytes of UTF-8", k, v1alpha1.MaxFairnessKeyBytes)
		}
		if w := f.WeightOverrides[k]; w < 1 || w > v1alpha1.MaxFairnessWeight {
			return fmt.Errorf("spec.fairness.weightOverrides[%q]: weight must be within 1..%d, got %d", k, v1alpha1.MaxFairnessWeight, w)
		}
	}
	if len(keys) > 0 {
		cfg.FairnessWeightOverrides = make(map[string]int32, len(keys))
		for k, w := range f.WeightOverrides {
			cfg.FairnessWeightOverrides[k] = w
		}
	}
	return nil
}
