// Package poolmetrics exports, at scrape time, each WorkerPool's share of its queue's
// backlog and each queue's pollers and rate-limit state, for HPA metrics adapters and
// dashboards (docs/autoscaling.md). It runs in the manager next to the reconcilers and reads
// the same things they do: WorkerPool specs from the cache and queue statistics from the
// matching engine (queueconfig.Registry).
package poolmetrics

import (
	"context"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/autoscaler"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// StatsSource returns a queue's live statistics (the matching engine).
type StatsSource interface {
	Stats(ctx context.Context, key queueconfig.Key) (queueconfig.Stats, error)
}

// scrapeTimeout bounds one scrape's reads.
const scrapeTimeout = 5 * time.Second

var poolLabels = []string{"namespace", "queue", "pool", "version", "kind", "priority"}

var (
	poolBacklogDesc = prometheus.NewDesc("taskroute_pool_backlog_tasks",
		"Tasks waiting that the WorkerPool may take (its capabilities meet their requirements, it polls their priority), by kind and priority. A task several pools may take counts for each.",
		poolLabels, nil)
	poolAgeDesc = prometheus.NewDesc("taskroute_pool_backlog_oldest_age_seconds",
		"Age of the oldest waiting task the WorkerPool may take, by kind and priority.", poolLabels, nil)
	pollersDesc = prometheus.NewDesc("taskroute_queue_pollers",
		"Live workers polling a queue of a WorkerPool, by the pool they report.", []string{"namespace", "queue", "pool"}, nil)
	rateLimitDesc = prometheus.NewDesc("taskroute_queue_rate_limit_state",
		"1 for the queue's current rate-limit state (Unlimited, Open, Throttling), 0 for the others.", []string{"namespace", "queue", "state"}, nil)
	errorsDesc = prometheus.NewDesc("taskroute_pool_metrics_errors",
		"1 when the last scrape could not list WorkerPools or read a queue's statistics.", nil, nil)
)

var rateLimitStates = []string{queueconfig.RateLimitUnlimited, queueconfig.RateLimitOpen, queueconfig.RateLimitThrottling}

// Collector is a prometheus.Collector; register it in controller-runtime's registry.
type Collector struct {
	pools client.Reader
	stats StatsSource
	log   logr.Logger
}

// New returns a collector reading WorkerPools from pools and statistics from stats.
func New(pools client.Reader, stats StatsSource, log logr.Logger) *Collector {
	return &Collector{pools: pools, stats: stats, log: log}
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolBacklogDesc, poolAgeDesc, pollersDesc, rateLimitDesc, errorsDesc} {
		ch <- d
	}
}

// Collect reads each queue of a WorkerPool once and reports every pool of it. Series are
// bounded by the WorkerPools: two kinds times at most ten priorities per pool.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	failed := 0.0
	defer func() { ch <- prometheus.MustNewConstMetric(errorsDesc, prometheus.GaugeValue, failed) }()
	var list v1alpha1.WorkerPoolList
	if err := c.pools.List(ctx, &list); err != nil {
		c.log.Error(err, "Failed to list WorkerPools for metrics")
		failed = 1
		return
	}
	byQueue := map[queueconfig.Key][]*v1alpha1.WorkerPool{}
	for i := range list.Items {
		p := &list.Items[i]
		key := queueconfig.Key{Namespace: p.Namespace, Name: p.Spec.Queue}
		byQueue[key] = append(byQueue[key], p)
	}
	for key, pools := range byQueue {
		st, err := c.stats.Stats(ctx, key)
		if err != nil {
			c.log.Error(err, "Failed to read queue statistics for metrics", "namespace", key.Namespace, "queue", key.Name)
			failed = 1
			continue
		}
		collectQueue(ch, key, st)
		for _, p := range pools {
			collectPool(ch, key, p, st.Backlog)
		}
	}
}

func collectQueue(ch chan<- prometheus.Metric, key queueconfig.Key, st queueconfig.Stats) {
	pollers := map[string]int{}
	for _, p := range st.Pollers {
		pollers[p.Pool]++
	}
	for pool, n := range pollers {
		ch <- prometheus.MustNewConstMetric(pollersDesc, prometheus.GaugeValue, float64(n), key.Namespace, key.Name, pool)
	}
	for _, s := range rateLimitStates {
		v := 0.0
		if st.RateLimitState == s {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(rateLimitDesc, prometheus.GaugeValue, v, key.Namespace, key.Name, s)
	}
}

// servableKey groups a pool's servable backlog.
type servableKey struct {
	kind     string
	priority int
}

func collectPool(ch chan<- prometheus.Metric, key queueconfig.Key, p *v1alpha1.WorkerPool, backlog []queueconfig.Backlog) {
	profile := autoscaler.PoolProfile(p)
	counts := map[servableKey]int64{}
	ages := map[servableKey]time.Duration{}
	for _, b := range backlog {
		if !profile.Serves(b) {
			continue
		}
		k := servableKey{b.Kind, b.Priority}
		counts[k] += b.Count
		ages[k] = max(ages[k], b.OldestAge)
	}
	for k, n := range counts {
		labels := []string{key.Namespace, key.Name, p.Name, p.Spec.Version, k.kind, strconv.Itoa(k.priority)}
		ch <- prometheus.MustNewConstMetric(poolBacklogDesc, prometheus.GaugeValue, float64(n), labels...)
		ch <- prometheus.MustNewConstMetric(poolAgeDesc, prometheus.GaugeValue, ages[k].Seconds(), labels...)
	}
}
