package controllers

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/render"
	"github.com/taskroute/taskroute/internal/testutil"
)

// Manager settings of the benchmark; the defaults are those of cmd/manager's flags, so the
// numbers are what an install gets.
var (
	benchQPS                     = flag.Float64("bench-qps", 50, "manager client QPS in BenchmarkReconcileWorkerPools")
	benchBurst                   = flag.Int("bench-burst", 100, "manager client burst in BenchmarkReconcileWorkerPools")
	benchMaxConcurrentReconciles = flag.Int("bench-concurrency", 4, "MaxConcurrentReconciles in BenchmarkReconcileWorkerPools")
)

// requestCounter counts the manager's API requests by kind.
type requestCounter struct {
	total, applies, statusWrites, scales, events, reads atomic.Int64
}

func (c *requestCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		c.total.Add(1)
		switch {
		case strings.Contains(req.URL.Path, "/events"):
			c.events.Add(1)
		case req.Method == http.MethodPatch && strings.HasSuffix(req.URL.Path, "/status"):
			c.statusWrites.Add(1)
		case req.Method == http.MethodPut && strings.HasSuffix(req.URL.Path, "/scale"):
			c.scales.Add(1)
		case req.Method == http.MethodPatch && strings.Contains(req.URL.Path, "/deployments/"):
			c.applies.Add(1)
		case req.Method == http.MethodGet:
			c.reads.Add(1)
		}
		return rt.RoundTrip(req)
	})
}

func (c *requestCounter) reset() {
	for _, v := range []*atomic.Int64{&c.total, &c.applies, &c.statusWrites, &c.scales, &c.events, &c.reads} {
		v.Store(0)
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// BenchmarkReconcileWorkerPools creates N WorkerPools at once and measures until every
// Deployment exists and every pool's status.observedGeneration is current. Run it with
// -benchtime=1x (see docs/benchmarks.md); each iteration uses a fresh namespace.
func BenchmarkReconcileWorkerPools(b *testing.B) {
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

	counter := &requestCounter{}
	mgrCfg := rest.CopyConfig(cfg)
	mgrCfg.QPS, mgrCfg.Burst = float32(*benchQPS), *benchBurst
	mgrCfg.WrapTransport = counter.wrap
	mgr, err := ctrl.NewManager(mgrCfg, ctrl.Options{
		Scheme:                 testutil.Scheme(),
		Cache:                  CacheOptions(),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := Setup(mgr, Options{
		Registry:                queueconfig.NewMemory(),
		Render:                  render.Options{MatchingAddress: testMatchingAddress},
		StatsRefreshInterval:    DefaultStatsRefreshInterval,
		MaxConcurrentReconciles: *benchMaxConcurrentReconciles,
	}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() { cancel(); <-done }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("cache did not sync")
	}

	// The benchmark's own client is not counted and not throttled.
	loadCfg := rest.CopyConfig(cfg)
	loadCfg.QPS, loadCfg.Burst = 1000, 2000
	c, err := client.New(loadCfg, client.Options{Scheme: testutil.Scheme()})
	if err != nil {
		b.Fatal(err)
	}

	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("pools=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}
				if err := c.Create(ctx, ns); err != nil {
					b.Fatal(err)
				}
				counter.reset()
				start := time.Now()
				createPools(b, ctx, c, ns.Name, n)
				created := time.Since(start)
				waitConverged(b, ctx, c, ns.Name, n, 5*time.Minute)
				elapsed := time.Since(start)
				total := counter.total.Load()

				// Nothing changes after convergence, so the manager must go quiet.
				time.Sleep(3 * time.Second)
				idle := counter.total.Load() - total

				b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/pool")
				b.ReportMetric(float64(total)/float64(n), "requests/pool")
				b.ReportMetric(float64(counter.applies.Load())/float64(n), "applies/pool")
				b.ReportMetric(float64(counter.statusWrites.Load())/float64(n), "statuswrites/pool")
				b.ReportMetric(float64(counter.events.Load())/float64(n), "events/pool")
				b.ReportMetric(float64(idle), "idle-requests/3s")
				b.Logf("pools=%d created=%s elapsed=%s requests=%d (applies=%d status=%d events=%d reads=%d) idle=%d",
					n, created.Round(time.Millisecond), elapsed.Round(time.Millisecond), total, counter.applies.Load(), counter.statusWrites.Load(),
					counter.events.Load(), counter.reads.Load(), idle)
			}
		})
	}
}

// createPools creates n pools with 16 concurrent writers, the way `kubectl apply -f dir/`
// or a GitOps sync lands many objects at once.
func createPools(b *testing.B, ctx context.Context, c client.Client, ns string, n int) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				p := &v1alpha1.WorkerPool{
					ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("pool-%04d", i)},
					Spec: v1alpha1.WorkerPoolSpec{
						Queue:        fmt.Sprintf("queue-%d", i%50),
						Capabilities: []v1alpha1.Capability{{Name: "gpu", Value: "a100"}},
						Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
							Name: "worker", Image: "example.com/worker:1",
						}}}},
					},
				}
				if err := c.Create(ctx, p); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// waitConverged polls until n Deployments exist and n pools report their generation.
func waitConverged(b *testing.B, ctx context.Context, c client.Client, ns string, n int, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		var deps appsv1.DeploymentList
		var pools v1alpha1.WorkerPoolList
		if err := c.List(ctx, &deps, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		if err := c.List(ctx, &pools, client.InNamespace(ns)); err != nil {
			b.Fatal(err)
		}
		current := 0
		for _, p := range pools.Items {
			if p.Status.ObservedGeneration == p.Generation {
				current++
			}
		}
		if len(deps.Items) == n && current == n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("not converged after %s: %d/%d Deployments, %d/%d pools current", timeout, len(deps.Items), n, current, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
