package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/taskroute/taskroute/internal/matching"
	"github.com/taskroute/taskroute/internal/quotawatch"
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

func (o *quotaOptions) bind(fs *flag.FlagSet) {
	fs.Int64Var(&o.maxBacklog, "quota-max-backlog", 1_000_000, "Most tasks waiting for dispatch per namespace, over all its queues (0 = unlimited).")
	fs.IntVar(&o.maxPayloadBytes, "quota-max-payload-bytes", 1<<20, "Largest task payload per namespace, below --matching-max-payload-bytes (0 = only that limit).")
	fs.IntVar(&o.maxQueues, "quota-max-queues", 1000, "Most queues holding waiting tasks per namespace (0 = unlimited).")
	fs.Float64Var(&o.addRate, "quota-add-rate", 5000, "Tasks per second a namespace may add, token bucket (0 = unlimited). With --standalone the default is 0.")
	fs.IntVar(&o.addBurst, "quota-add-burst", 10000, "Burst of --quota-add-rate; also the largest batch a namespace can add at once.")
	fs.StringVar(&o.overrides, "quota-overrides", "", `Per-namespace overrides as JSON, e.g. {"team-a":{"maxBacklog":5000000,"addRate":0}}; key "_default" overrides the flags for every namespace; fields not given keep the defaults. The ConfigMap taskroute-quotas, when present, overrides these.`)
}

// standaloneDefaults drops the add-rate quota in --standalone mode unless
// --quota-add-rate was given: it guards a shared cluster against one runaway namespace,
// while a development service should add as fast as its disk allows.
func (o *quotaOptions) standaloneDefaults(fs *flag.FlagSet) {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "quota-add-rate" })
	if !given {
		o.addRate = 0
	}
}

// base returns the flags' quota configuration, or an error naming the flag.
func (o *quotaOptions) base() (quotawatch.Base, error) {
	b := quotawatch.Base{Default: matching.Quota{
		MaxBacklog: o.maxBacklog, MaxPayloadBytes: o.maxPayloadBytes, MaxQueues: o.maxQueues,
		AddRate: o.addRate, AddBurst: o.addBurst,
	}}
	if o.maxBacklog < 0 || o.maxPayloadBytes < 0 || o.maxQueues < 0 || o.addRate < 0 || o.addBurst < 0 {
		return b, fmt.Errorf("--quota-*: limits must be >= 0")
	}
	if strings.TrimSpace(o.overrides) == "" {
		return b, nil
	}
	over, err := quotawatch.ParseOverrides([]byte(o.overrides))
	if err != nil {
		return b, fmt.Errorf("--quota-overrides: %w", err)
	}
	b.Overrides = over
	return b, nil
}

// quotas returns the engine's quotas at start: the flags, before any ConfigMap.
func (o *quotaOptions) quotas() (matching.Quotas, error) {
	b, err := o.base()
	if err != nil {
		return matching.Quotas{}, err
	}
	return quotawatch.Merge(b, nil), nil
}

// setupQuotaWatch applies ConfigMap quotawatch.ConfigMapName of the manager's namespace to
// engine while the manager runs. Without a namespace (a manager run out of cluster without
// --namespace) only the flags apply.
func (o *quotaOptions) setupQuotaWatch(mgr ctrl.Manager, engine quotawatch.QuotaSetter, namespace string) error {
	log := ctrl.Log.WithName("quota-config")
	if namespace == "" {
		log.Info("Not watching the quota ConfigMap: no manager namespace (set --namespace or $"+podNamespaceEnv+")", "configMap", quotawatch.ConfigMapName)
		return nil
	}
	b, err := o.base()
	if err != nil {
		return err
	}
	w := &quotawatch.Watcher{
		Namespace: namespace, Name: quotawatch.ConfigMapName, Base: b, Engine: engine,
		Recorder: mgr.GetEventRecorder("quota-config"), Log: log,
	}
	if err := w.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up quota ConfigMap watch: %w", err)
	}
	return nil
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
