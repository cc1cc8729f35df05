// Package controllers holds taskroute's reconcilers: WorkerPool (renders and applies the
// worker Deployment) and TaskQueue (publishes queue configuration to the matching service
// and reports its statistics).
package controllers

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/render"
)

// FieldOwner is the server-side apply field manager of everything the operator writes.
const FieldOwner = client.FieldOwner(render.ManagedBy)

// Options configure both reconcilers.
type Options struct {
	// Registry is the matching service's configuration and statistics interface.
	Registry queueconfig.Registry
	// Render configures every worker Deployment: the matching address written into the
	// pods, and whether they get a token and the CA bundle (not when the manager runs the
	// matching service with auth or TLS disabled).
	Render render.Options
	// StatsRefreshInterval is how often live queue statistics are copied into status.
	StatsRefreshInterval time.Duration
	// MaxConcurrentReconciles bounds parallel reconciles per controller.
	MaxConcurrentReconciles int
}

// DefaultStatsRefreshInterval is the default of Options.StatsRefreshInterval.
const DefaultStatsRefreshInterval = 15 * time.Second

// Setup registers both reconcilers with mgr.
func Setup(mgr ctrl.Manager, opts Options) error {
	if opts.Registry == nil {
		return fmt.Errorf("controllers: Options.Registry is required")
	}
	if opts.StatsRefreshInterval <= 0 {
		opts.StatsRefreshInterval = DefaultStatsRefreshInterval
	}
	if opts.MaxConcurrentReconciles <= 0 {
		opts.MaxConcurrentReconciles = 1
	}
	if err := (&WorkerPoolReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("workerpool-controller"),
		Options:  opts,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up WorkerPool controller: %w", err)
	}
	if err := (&TaskQueueReconciler{
		Client:   mgr.GetClient(),
		Recorder: mgr.GetEventRecorder("taskqueue-controller"),
		Options:  opts,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up TaskQueue controller: %w", err)
	}
	return nil
}

// CacheOptions limit the manager's Deployment and Pod caches to the operator's own
// Deployments and worker pods, so memory does not grow with every object in the cluster.
func CacheOptions() cache.Options {
	ours := labels.SelectorFromSet(labels.Set{render.LabelManagedBy: render.ManagedBy})
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&appsv1.Deployment{}: {Label: ours},
		// Worker pods, for their deletion cost (autoscaled pools).
		&corev1.Pod{}: {Label: ours},
	}}
}
