package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/render"
)

// IndexPoolQueue indexes WorkerPools by spec.queue, so a TaskQueue event finds its pools
// in the cache without listing the namespace.
const IndexPoolQueue = "spec.queue"

// Event reasons of the WorkerPool controller.
const (
	EventDeploymentCreated = "DeploymentCreated"
	EventDeploymentUpdated = "DeploymentUpdated"
	EventApplyFailed       = "ApplyFailed"
	EventInvalidTemplate   = "InvalidTemplate"
	EventDeploymentClash   = "DeploymentConflict"
)

// WorkerPoolReconciler renders each WorkerPool's Deployment, applies it with server-side
// apply, and reports the Deployment's and the queue's state in the pool's status.
type WorkerPoolReconciler struct {
	client.Client
	// APIReader reads past the cache; used only to check a name clash before creating.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Options

	// appliedGeneration remembers the Deployment generation each of our applies produced.
	// A different generation in the cache means someone else changed the spec, so the
	// Deployment is applied again even though its hash annotation still matches.
	appliedGeneration sync.Map // types.NamespacedName -> int64
	// metrics holds the autoscaler's series of each autoscaled pool.
	metrics autoscalerMetrics
}

// +kubebuilder:rbac:groups=taskroute.dev,resources=workerpools,verbs=get;list;watch
// +kubebuilder:rbac:groups=taskroute.dev,resources=workerpools/status,verbs=patch
// +kubebuilder:rbac:groups=taskroute.dev,resources=workerpools/finalizers,verbs=update
// +kubebuilder:rbac:groups=taskroute.dev,resources=taskqueues,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller and its field index.
func (r *WorkerPoolReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.WorkerPool{}, IndexPoolQueue,
		func(o client.Object) []string { return []string{o.(*v1alpha1.WorkerPool).Spec.Queue} }); err != nil {
		return fmt.Errorf("indexing WorkerPools by %s: %w", IndexPoolQueue, err)
	}
	return r.watchBacklogWakes(ctrl.NewControllerManagedBy(mgr)).
		// Status writes (ours included) do not change the generation, so they do not come
		// back as reconciles; annotations pass so `kubectl annotate` can force one.
		For(&v1alpha1.WorkerPool{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&appsv1.Deployment{}).
		// A queue appearing, disappearing or changing its priority levels re-resolves the
		// pools that name it; its frequent status writes do not.
		Watches(&v1alpha1.TaskQueue{}, handler.EnqueueRequestsFromMapFunc(r.poolsForQueue),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("workerpool").
		Complete(r)
}

// poolsForQueue maps a TaskQueue to the WorkerPools that poll it.
func (r *WorkerPoolReconciler) poolsForQueue(ctx context.Context, o client.Object) []ctrl.Request {
	var pools v1alpha1.WorkerPoolList
	if err := r.List(ctx, &pools, client.InNamespace(o.GetNamespace()), client.MatchingFields{IndexPoolQueue: o.GetName()}); err != nil {
		logf.FromContext(ctx).Error(err, "Failed to list WorkerPools of TaskQueue", "taskQueue", client.ObjectKeyFromObject(o))
		return nil
	}
	reqs := make([]ctrl.Request, len(pools.Items))
	for i := range pools.Items {
		reqs[i] = ctrl.Request{NamespacedName: client.ObjectKeyFromObject(&pools.Items[i])}
	}
	return reqs
}

// Reconcile fetches the pool, reconciles it and writes its status once, if it changed.
func (r *WorkerPoolReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	pool := &v1alpha1.WorkerPool{}
	if err := r.Get(ctx, req.NamespacedName, pool); err != nil {
		if apierrors.IsNotFound(err) {
			r.appliedGeneration.Delete(req.NamespacedName)
			r.metrics.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !pool.DeletionTimestamp.IsZero() {
		r.metrics.forget(req.NamespacedName)
		return ctrl.Result{}, nil // the garbage collector deletes the owned Deployment
	}

	before := pool.DeepCopy()
	defer func() {
		if err := r.patchStatus(ctx, before, pool); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()
	return r.reconcile(ctx, before, pool)
}

func (r *WorkerPoolReconciler) reconcile(ctx context.Context, before, pool *v1alpha1.WorkerPool) (ctrl.Result, error) {
	obs := poolObservation{}
	var err error
	if obs.queue, err = r.resolveQueue(ctx, pool); err != nil {
		return ctrl.Result{}, err
	}
	obs.stats, obs.statsErr = r.Registry.Stats(ctx, queueconfig.Key{Namespace: pool.Namespace, Name: pool.Spec.Queue})
	if obs.statsErr != nil {
		logf.FromContext(ctx).Error(obs.statsErr, "Failed to read queue statistics", "queue", pool.Spec.Queue)
	}
	if err := r.autoscale(ctx, before, pool, &obs); err != nil {
		return ctrl.Result{}, err
	}
	obs.deployment, obs.desiredReplicas, err = r.reconcileDeployment(ctx, pool, &obs)
	if obs.statsErr == nil && loadKnown(pool, obs.stats) {
		err = errors.Join(err, r.syncDeletionCosts(ctx, pool, obs.stats))
	}
	setPoolStatus(pool, obs)
	r.updateAutoscalerMetrics(pool, obs)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("WorkerPool %s/%s: %w", pool.Namespace, pool.Name, err)
	}
	// Statistics (connected workers, backlog) change without any Kubernetes event; a
	// pending scale step or scale-down delay may end sooner.
	return ctrl.Result{RequeueAfter: r.requeueAfter(obs)}, nil
}

// requeueAfter is the statistics refresh interval, or sooner when the autoscaler waits
// for a step interval or a scale-down delay to end.
func (r *WorkerPoolReconciler) requeueAfter(obs poolObservation) time.Duration {
	if d := obs.scaling; d != nil && d.RequeueAfter > 0 {
		return min(r.StatsRefreshInterval, d.RequeueAfter)
	}
	return r.StatsRefreshInterval
}

// resolveQueue reads the pool's TaskQueue, if there is one.
func (r *WorkerPoolReconciler) resolveQueue(ctx context.Context, pool *v1alpha1.WorkerPool) (queueResolution, error) {
	q := &v1alpha1.TaskQueue{}
	err := r.Get(ctx, types.NamespacedName{Namespace: pool.Namespace, Name: pool.Spec.Queue}, q)
	if apierrors.IsNotFound(err) {
		return queueResolution{levels: v1alpha1.DefaultPriorityLevels}, nil
	}
	if err != nil {
		return queueResolution{}, fmt.Errorf("WorkerPool %s/%s: reading TaskQueue %s: %w", pool.Namespace, pool.Name, pool.Spec.Queue, err)
	}
	res := queueResolution{found: true, levels: v1alpha1.DefaultPriorityLevels}
	if q.Spec.Priority != nil && q.Spec.Priority.Levels > 0 {
		res.levels = q.Spec.Priority.Levels
	}
	if rl := q.Spec.RateLimit; rl != nil {
		res.rateLimit = rl.TasksPerSecond.AsApproximateFloat64()
	}
	return res, nil
}

// reconcileDeployment renders the Deployment and applies it unless the applied one is
// current. It returns the Deployment as last seen and the rendered replica count.
func (r *WorkerPoolReconciler) reconcileDeployment(ctx context.Context, pool *v1alpha1.WorkerPool, obs *poolObservation) (*appsv1.Deployment, int32, error) {
	log := logf.FromContext(ctx)
	desired, err := render.Deployment(pool, r.Render)
	if err != nil {
		obs.renderErr = err
		r.Recorder.Eventf(pool, nil, corev1.EventTypeWarning, EventInvalidTemplate, "Render", "%v", err)
		return nil, 0, nil // the pool must change before rendering can succeed: no retry
	}
	replicas := *desired.Spec.Replicas
	key := types.NamespacedName{Namespace: pool.Namespace, Name: *desired.Name}

	current := &appsv1.Deployment{}
	switch err := r.Get(ctx, key, current); {
	case apierrors.IsNotFound(err):
		current = nil
		// The cache holds only our Deployments; make sure we do not take over a user's.
		other := &appsv1.Deployment{}
		if err := r.APIReader.Get(ctx, key, other); err == nil && !metav1.IsControlledBy(other, pool) {
			obs.conflict = fmt.Errorf("Deployment %s exists and is not managed by this WorkerPool", key)
			r.Recorder.Eventf(pool, nil, corev1.EventTypeWarning, EventDeploymentClash, "Apply", "%v", obs.conflict)
			return nil, replicas, nil
		} else if err != nil && !apierrors.IsNotFound(err) {
			return nil, replicas, fmt.Errorf("reading Deployment %s: %w", key, err)
		}
	case err != nil:
		return nil, replicas, fmt.Errorf("reading Deployment %s: %w", key, err)
	case !metav1.IsControlledBy(current, pool):
		obs.conflict = fmt.Errorf("Deployment %s is controlled by another owner", key)
		r.Recorder.Eventf(pool, nil, corev1.EventTypeWarning, EventDeploymentClash, "Apply", "%v", obs.conflict)
		return current, replicas, nil
	case r.isCurrent(key, current, desired):
		log.V(1).Info("Skipped apply of unchanged Deployment", "deployment", key)
		return current, replicas, nil
	}

	if err := r.Apply(ctx, desired, FieldOwner, client.ForceOwnership); err != nil {
		obs.applyErr = err
		r.Recorder.Eventf(pool, nil, corev1.EventTypeWarning, EventApplyFailed, "Apply", "Applying Deployment %s failed: %v", key.Name, err)
		return current, replicas, fmt.Errorf("applying Deployment %s: %w", key, err)
	}
	r.appliedGeneration.Store(key, *desired.Generation)
	applied, err := toDeployment(desired)
	if err != nil {
		return current, replicas, err
	}
	if current == nil {
		log.Info("Created deployment", "deployment", key, "replicas", replicas)
		r.Recorder.Eventf(pool, nil, corev1.EventTypeNormal, EventDeploymentCreated, "Apply", "Created Deployment %s with %d replicas", key.Name, replicas)
	} else {
		log.Info("Updated deployment", "deployment", key, "replicas", replicas)
		r.Recorder.Eventf(pool, nil, corev1.EventTypeNormal, EventDeploymentUpdated, "Apply", "Updated Deployment %s", key.Name)
	}
	return applied, replicas, nil
}

// isCurrent tells whether current is what we would apply: same rendered hash, and its spec
// not changed by anyone since our last apply (when this process made one).
func (r *WorkerPoolReconciler) isCurrent(key types.NamespacedName, current *appsv1.Deployment, desired *appsv1ac.DeploymentApplyConfiguration) bool {
	if current.Annotations[render.AnnotationAppliedHash] != desired.Annotations[render.AnnotationAppliedHash] {
		return false
	}
	if g, ok := r.appliedGeneration.Load(key); ok && g.(int64) != current.Generation {
		return false
	}
	return true
}

// toDeployment converts the apply response (which the client decoded into the apply
// configuration) into a typed Deployment for the status computation.
func toDeployment(ac *appsv1ac.DeploymentApplyConfiguration) (*appsv1.Deployment, error) {
	d := &appsv1.Deployment{}
	if err := convertJSON(ac, d); err != nil {
		return nil, fmt.Errorf("decoding applied Deployment: %w", err)
	}
	return d, nil
}

// patchStatus writes the status with one merge patch, only when it changed.
func (r *WorkerPoolReconciler) patchStatus(ctx context.Context, before, pool *v1alpha1.WorkerPool) error {
	if equality.Semantic.DeepEqual(before.Status, pool.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, pool, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("patching status of WorkerPool %s/%s: %w", pool.Namespace, pool.Name, err)
	}
	return nil
}
