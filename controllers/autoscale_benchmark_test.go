package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/render"
	"github.com/taskroute/taskroute/internal/testutil"
)

const (
	autoscaleBenchPools  = 100
	autoscaleBenchQueues = 50
	autoscaleBenchSteady = 30 * time.Second
)

// BenchmarkAutoscaledPoolsSteadyBacklog: 100 Backlog-mode pools on 50 queues with a
// steady backlog, a statistics refresh of 1 s and every queue woken every 100 ms (far
// more than the engine's wakes, which fire only when a backlog level becomes non-empty).
// It counts the manager's API writes while the load is steady (must be 0: a write only
// when a decision changes), then after one change of every queue's backlog (one scale,
// one apply, one event per pool and a few status writes). Run with -benchtime=1x.
func BenchmarkAutoscaledPoolsSteadyBacklog(b *testing.B) {
	logf.SetLogger(logr.Discard())
	env, err := testutil.NewEnvironment()
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := testutil.Start(env)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	counter, reg := &requestCounter{}, queueconfig.NewMemory()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := startAutoscaleBenchManager(b, ctx, cfg, counter, reg)
	defer stop()
	c, err := client.New(cfg, client.Options{Scheme: testutil.Scheme()})
	if err != nil {
		b.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-as-"}}
	if err := c.Create(ctx, ns); err != nil {
		b.Fatal(err)
	}
	setBenchBacklog(reg, ns.Name, 40) // 4 workers per pool at 10 per worker
	createAutoscaledPools(b, ctx, c, ns.Name)
	waitReplicas(b, ctx, c, ns.Name, 4)

	counter.reset()
	wakeAll(ctx, reg, ns.Name, autoscaleBenchSteady)
	steady := snapshot(counter)
	b.Logf("steady %s: %s", autoscaleBenchSteady, steady)
	perMinute := func(n int64) float64 { return float64(n) * float64(time.Minute) / float64(autoscaleBenchSteady) }
	b.ReportMetric(perMinute(steady.writes()), "steady-writes/min")
	b.ReportMetric(perMinute(steady.total), "steady-requests/min")
	if steady.writes() != 0 {
		b.Errorf("%d API writes while nothing changed", steady.writes())
	}

	counter.reset()
	setBenchBacklog(reg, ns.Name, 70) // 7 workers: a step of at most 4 (doubling) takes it to 7
	wakeAll(ctx, reg, ns.Name, 3*time.Second)
	waitReplicas(b, ctx, c, ns.Name, 7)
	changed := snapshot(counter)
	b.Logf("one decision change per pool: %s", changed)
	b.ReportMetric(float64(changed.writes())/autoscaleBenchPools, "writes/pool/decision")
}

type counts struct{ total, applies, statusWrites, scales, events int64 }

func snapshot(c *requestCounter) counts {
	return counts{c.total.Load(), c.applies.Load(), c.statusWrites.Load(), c.scales.Load(), c.events.Load()}
}

func (c counts) writes() int64 { return c.applies + c.statusWrites + c.scales + c.events }

func (c counts) String() string {
	return fmt.Sprintf("requests=%d writes=%d (scale=%d status=%d apply=%d events=%d)", c.total, c.writes(), c.scales, c.statusWrites, c.applies, c.events)
}

func startAutoscaleBenchManager(b *testing.B, ctx context.Context, cfg *rest.Config, counter *requestCounter, reg *queueconfig.Memory) func() {
	mgrCfg := rest.CopyConfig(cfg)
	mgrCfg.QPS, mgrCfg.Burst = 50, 100
	mgrCfg.WrapTransport = counter.wrap
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{Scheme: testutil.Scheme(), Cache: CacheOptions(),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	if err != nil {
		b.Fatal(err)
	}
	if err := Setup(mgr, Options{Registry: reg, Render: render.Options{MatchingAddress: testMatchingAddress},
		StatsRefreshInterval: time.Second, MaxConcurrentReconciles: 4}); err != nil {
		b.Fatal(err)
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	if !mgr.GetCache().WaitForCacheSync(mctx) {
		b.Fatal("cache did not sync")
	}
	return func() { cancel(); <-done }
}

func setBenchBacklog(reg *queueconfig.Memory, ns string, perQueue int64) {
	for q := range autoscaleBenchQueues {
		reg.SetStats(queueconfig.Key{Namespace: ns, Name: fmt.Sprintf("queue-%d", q)},
			queueconfig.Stats{Backlog: []queueconfig.Backlog{{Kind: queueconfig.KindActivity, Priority: 3, Count: perQueue}}})
	}
}

// wakeAll notifies every queue every 100 ms for d.
func wakeAll(ctx context.Context, reg *queueconfig.Memory, ns string, d time.Duration) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	end := time.After(d)
	for {
		select {
		case <-ctx.Done():
			return
		case <-end:
			return
		case <-tick.C:
			for q := range autoscaleBenchQueues {
				reg.BacklogWatch().Notify(queueconfig.Wake{Key: queueconfig.Key{Namespace: ns, Name: fmt.Sprintf("queue-%d", q)}})
			}
		}
	}
}

func createAutoscaledPools(b *testing.B, ctx context.Context, c client.Client, ns string) {
	for i := range autoscaleBenchPools {
		p := &v1alpha1.WorkerPool{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("pool-%03d", i)},
			Spec: v1alpha1.WorkerPoolSpec{
				Queue: fmt.Sprintf("queue-%d", i%autoscaleBenchQueues), Replicas: ptr.To[int32](1),
				Autoscaling: &v1alpha1.Autoscaling{Mode: v1alpha1.AutoscalingBacklog, MinReplicas: ptr.To[int32](0), MaxReplicas: 100,
					TargetBacklogPerWorker: 10, ScaleDownDelay: &metav1.Duration{Duration: time.Hour}},
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "example.com/worker:1"}}}},
			},
		}
		if err := c.Create(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}

// waitReplicas polls (bounded) until every pool has spec.replicas want, its Deployment
// applied for it, and a steady decision.
func waitReplicas(b *testing.B, ctx context.Context, c client.Client, ns string, want int32) {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var pools v1alpha1.WorkerPoolList
		if err := c.List(ctx, &pools, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		done := 0
		for _, p := range pools.Items {
			active := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionScalingActive)
			if ptr.Deref(p.Spec.Replicas, -1) == want && p.Status.ObservedGeneration == p.Generation && p.Status.DesiredReplicas == want &&
				active != nil && active.Reason == v1alpha1.ReasonAtRecommendation {
				done++
			}
		}
		if done == autoscaleBenchPools {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d/%d pools at %d replicas after 2 minutes", done, autoscaleBenchPools, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
