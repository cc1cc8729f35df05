package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/taskroute/taskroute/pkg/client"
)

// fairnessFlags are the fairness flags of "set queue-config".
type fairnessFlags struct {
	keyRate  float64
	keyBurst int
	weights  []string // KEY=WEIGHT
}

func (f *fairnessFlags) register(fs *pflag.FlagSet) {
	fs.Float64Var(&f.keyRate, "fairness-key-rate-limit", 0, "dispatch rate of each fairness key in tasks/second (0 = unlimited)")
	fs.IntVar(&f.keyBurst, "fairness-key-burst", 0, "token bucket size of each fairness key (at least 1 with a key rate limit)")
	fs.StringSliceVar(&f.weights, "fairness-weights", nil, "weights by fairness key, KEY=WEIGHT (1..1000), comma-separated or repeated; they win over the tasks' own ('' clears)")
}

// apply sets the fields of u whose flags were given.
func (f *fairnessFlags) apply(given func(string) bool, u *client.QueueConfigUpdate) error {
	if given("fairness-key-rate-limit") {
		u.FairnessKeyRateLimit = &f.keyRate
	}
	if given("fairness-key-burst") {
		u.FairnessKeyBurst = &f.keyBurst
	}
	if given("fairness-weights") {
		weights, err := parseWeights(f.weights)
		if err != nil {
			return err
		}
		u.FairnessWeightOverrides = &weights
	}
	return nil
}

// parseWeights reads KEY=WEIGHT pairs; empty items are skipped, so ” means none.
func parseWeights(items []string) (map[string]int, error) {
	out := map[string]int{}
	for _, it := range items {
		if it == "" {
			continue
		}
		k, v, ok := strings.Cut(it, "=")
		w, err := strconv.Atoi(v)
		if !ok || err != nil {
			return nil, fmt.Errorf("--fairness-weights: want KEY=WEIGHT, got %q", it)
		}
		out[k] = w
	}
	return out, nil
}

// fairnessRow renders a queue's fairness settings for "get queue-config".
func fairnessRow(c *client.QueueConfig) string {
	rate := "unlimited per key"
	if c.FairnessKeyRateLimit > 0 {
		rate = fmt.Sprintf("%s per key, burst %d", humanRate(c.FairnessKeyRateLimit), c.FairnessKeyBurst)
	}
	if len(c.FairnessWeightOverrides) == 0 {
		return rate + "; no weight overrides"
	}
	keys := make([]string, 0, len(c.FairnessWeightOverrides))
	for k := range c.FairnessWeightOverrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = fmt.Sprintf("%s=%d", k, c.FairnessWeightOverrides[k])
	}
	return rate + "; weights " + strings.Join(pairs, ",")
}

// keyedBacklog reports whether any backlog row has a fairness key (then describe shows a
// KEY column).
func keyedBacklog(rows []client.Backlog) bool {
	for _, b := range rows {
		if b.FairnessKey != "" {
			return true
		}
	}
	return false
}

// backlogKeyCell is a row's KEY cell: "(default)" for the default key.
func backlogKeyCell(b client.Backlog) string {
	if b.FairnessKey == "" {
		return "(default)"
	}
	return b.FairnessKey
}

// fairnessKeyText renders a task's fairness key and the weight it carries.
func fairnessKeyText(t *client.TaskInfo) string {
	if t.FairnessWeight == 0 {
		return t.FairnessKey
	}
	return fmt.Sprintf("%s (weight %d)", t.FairnessKey, t.FairnessWeight)
}
