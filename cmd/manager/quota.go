package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/taskroute/taskroute/internal/matching"
)

// quotaOptions are the per-namespace quota flags of the matching service (0 = unlimited).
// Defaults suit a shared cluster: generous for one team, bounded for a runaway producer.
type quotaOptions struct {
	maxBacklog      int64
	maxPayloadBytes int
	maxQueues       int
	addRate         float64
	addBurst        int
	overrides       string
}

var quotaOpts quotaOptions

func init() { quotaOpts.bind(flag.CommandLine) }

func (o *quotaOptions) bind(fs *flag.FlagSet) {
	fs.Int64Var(&o.maxBacklog, "quota-max-backlog", 1_000_000, "Most tasks waiting for dispatch per namespace, over all its queues (0 = unlimited).")
	fs.IntVar(&o.maxPayloadBytes, "quota-max-payload-bytes", 1<<20, "Largest task payload per namespace, below --matching-max-payload-bytes (0 = only that limit).")
	fs.IntVar(&o.maxQueues, "quota-max-queues", 1000, "Most queues holding waiting tasks per namespace (0 = unlimited).")
	fs.Float64Var(&o.addRate, "quota-add-rate", 5000, "Tasks per second a namespace may add, token bucket (0 = unlimited).")
	fs.IntVar(&o.addBurst, "quota-add-burst", 10000, "Burst of --quota-add-rate; also the largest batch a namespace can add at once.")
	fs.StringVar(&o.overrides, "quota-overrides", "", `Per-namespace overrides as JSON, e.g. {"team-a":{"maxBacklog":5000000,"addRate":0}}; fields not given keep the flag defaults.`)
}

// quotas returns the engine's quotas, or an error naming the flag.
func (o *quotaOptions) quotas() (matching.Quotas, error) {
	q := matching.Quotas{Default: matching.Quota{
		MaxBacklog: o.maxBacklog, MaxPayloadBytes: o.maxPayloadBytes, MaxQueues: o.maxQueues,
		AddRate: o.addRate, AddBurst: o.addBurst,
	}}
	if o.maxBacklog < 0 || o.maxPayloadBytes < 0 || o.maxQueues < 0 || o.addRate < 0 || o.addBurst < 0 {
		return q, fmt.Errorf("--quota-*: limits must be >= 0")
	}
	if strings.TrimSpace(o.overrides) == "" {
		return q, nil
	}
	over, err := parseQuotaOverrides(q.Default, []byte(o.overrides))
	if err != nil {
		return q, fmt.Errorf("--quota-overrides: %w", err)
	}
	q.Overrides = over
	return q, nil
}

// parseQuotaOverrides reads {"<namespace>": {<Quota fields>}}; each override starts from def,
// so it names only what differs.
func parseQuotaOverrides(def matching.Quota, b []byte) (map[string]matching.Quota, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	out := make(map[string]matching.Quota, len(raw))
	for ns, v := range raw {
		q := def
		dec := json.NewDecoder(strings.NewReader(string(v)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&q); err != nil {
			return nil, fmt.Errorf("namespace %q: %w", ns, err)
		}
		if q.MaxBacklog < 0 || q.MaxPayloadBytes < 0 || q.MaxQueues < 0 || q.AddRate < 0 || q.AddBurst < 0 {
			return nil, fmt.Errorf("namespace %q: limits must be >= 0", ns)
		}
		out[ns] = q
	}
	return out, nil
}

// engineOptions are the engine options carrying the quotas; a bad quota flag stops the
// manager at start-up with the flag named.
func (o *quotaOptions) engineOptions() matching.Options {
	q, err := o.quotas()
	if err != nil {
		ctrl.Log.Error(err, "Invalid quota flags")
		os.Exit(1)
	}
	return matching.Options{Quotas: q}
}
