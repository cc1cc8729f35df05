package poolmetrics

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/controllers"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/testutil"
)

// runAutoscaler runs the manager's reconcilers on the matching engine, as the manager
// does, with a pool of queue q in mode Backlog at zero: the task runTraffic left waiting
// makes the autoscaler scale it up, so its metrics have series. It returns once they are
// in controller-runtime's registry.
func runAutoscaler(t *testing.T, registry queueconfig.Registry, ns string) {
	t.Helper()
	mgr, err := ctrl.NewManager(cluster.Config, ctrl.Options{
		Scheme: testutil.Scheme(), Cache: controllers.CacheOptions(),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := controllers.Setup(mgr, controllers.Options{Registry: registry}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	scaled := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "scaled"},
		Spec: v1alpha1.WorkerPoolSpec{Queue: "q", Replicas: ptr.To[int32](0),
			Autoscaling: &v1alpha1.Autoscaling{Mode: v1alpha1.AutoscalingBacklog, MinReplicas: ptr.To[int32](0), MaxReplicas: 2},
			Template:    corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "example.com/w"}}}}},
	}
	if err := cluster.Client.Create(t.Context(), scaled); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"taskroute_autoscaler_scaling_decisions_total", "taskroute_autoscaler_desired_replicas",
		"taskroute_autoscaler_recommended_replicas", "taskroute_autoscaler_ready_replicas"} {
		waitForMetric(t, name)
	}
}

// waitForMetric polls controller-runtime's registry until the metric has a series.
func waitForMetric(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		families, err := ctrlmetrics.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() == name && len(f.GetMetric()) > 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no series: the autoscaler did not scale the pool", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
