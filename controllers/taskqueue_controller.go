package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// QueueConfigFinalizer keeps a TaskQueue until its configuration is removed from the
// matching service, so a deleted queue returns to the defaults.
const QueueConfigFinalizer = "taskroute.dev/queue-config"

// Event reasons of the TaskQueue controller.
const (
	EventConfigApplied = "ConfigApplied"
	EventInvalidSpec   = "InvalidSpec"
	EventConfigFailed  = "ApplyFailed"
)

// TaskQueueReconciler publishes each TaskQueue's configuration to the matching service and
// copies the queue's live statistics into its status.
type TaskQueueReconciler struct {
	client.Client
	Recorder events.EventRecorder
	Options

	// applied remembers the object (UID and generation) whose configuration this process
	// last published per queue, so the periodic statistics refresh does not re-apply it.
	applied sync.Map // types.NamespacedName -> appliedQueue
}

type appliedQueue struct {
	uid        types.UID
	generation int64
}

// +kubebuilder:rbac:groups=taskroute.dev,resources=taskqueues,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=taskroute.dev,resources=taskqueues/status,verbs=patch
// +kubebuilder:rbac:groups=taskroute.dev,resources=taskqueues/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller.
func (r *TaskQueueReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		// Our status writes do not change the generation and so do not come back here;
		// statistics are refreshed by RequeueAfter instead. Deletion must pass for the
		// finalizer.
		For(&v1alpha1.TaskQueue{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, deletionStarted()))).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Named("taskqueue").
		Complete(r)
}

// deletionStarted passes the update that sets metadata.deletionTimestamp.
func deletionStarted() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp().IsZero() && !e.ObjectNew.GetDeletionTimestamp().IsZero()
	}}
}

// Reconcile fetches the queue, handles its finalizer and writes its status once.
func (r *TaskQueueReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, retErr error) {
	q := &v1alpha1.TaskQueue{}
	if err := r.Get(ctx, req.NamespacedName, q); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !q.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, q)
	}
	if !controllerutil.ContainsFinalizer(q, QueueConfigFinalizer) {
		patch := client.MergeFromWithOptions(q.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(q, QueueConfigFinalizer)
		if err := r.Patch(ctx, q, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("adding finalizer to TaskQueue %s: %w", req.NamespacedName, err)
		}
	}

	before := q.DeepCopy()
	defer func() {
		if err := r.patchStatus(ctx, before, q); err != nil {
			retErr = errors.Join(retErr, err)
		}
	}()
	return r.reconcile(ctx, q)
}

func (r *TaskQueueReconciler) reconcile(ctx context.Context, q *v1alpha1.TaskQueue) (ctrl.Result, error) {
	key := queueconfig.Key{Namespace: q.Namespace, Name: q.Name}
	obs := queueObservation{}

	obs.config, obs.specErr = queueConfigFromSpec(&q.Spec)
	if obs.specErr != nil {
		r.Recorder.Eventf(q, nil, corev1.EventTypeWarning, EventInvalidSpec, "Apply", "%v", obs.specErr)
	} else if err := r.publish(ctx, q, key, obs.config); err != nil {
		obs.applyErr = err
	}
	obs.stats, obs.statsErr = r.Registry.Stats(ctx, key)
	setQueueStatus(q, obs)

	if obs.applyErr != nil {
		return ctrl.Result{}, fmt.Errorf("TaskQueue %s: %w", key, obs.applyErr)
	}
	if obs.statsErr != nil {
		return ctrl.Result{}, fmt.Errorf("TaskQueue %s: reading statistics: %w", key, obs.statsErr)
	}
	return ctrl.Result{RequeueAfter: r.StatsRefreshInterval}, nil
}

// publish applies cfg unless this process already applied this generation of the object.
func (r *TaskQueueReconciler) publish(ctx context.Context, q *v1alpha1.TaskQueue, key queueconfig.Key, cfg queueconfig.Config) error {
	name := types.NamespacedName{Namespace: q.Namespace, Name: q.Name}
	want := appliedQueue{uid: q.UID, generation: q.Generation}
	if got, ok := r.applied.Load(name); ok && got.(appliedQueue) == want {
		return nil
	}
	if err := r.Registry.Apply(ctx, key, cfg); err != nil {
		r.Recorder.Eventf(q, nil, corev1.EventTypeWarning, EventConfigFailed, "Apply", "Publishing queue configuration failed: %v", err)
		return fmt.Errorf("publishing configuration: %w", err)
	}
	r.applied.Store(name, want)
	logf.FromContext(ctx).Info("Applied queue configuration", "generation", q.Generation)
	r.Recorder.Eventf(q, nil, corev1.EventTypeNormal, EventConfigApplied, "Apply", "Published configuration of generation %d", q.Generation)
	return nil
}

// reconcileDelete returns the queue to the default configuration, then lets it go.
func (r *TaskQueueReconciler) reconcileDelete(ctx context.Context, q *v1alpha1.TaskQueue) error {
	if !controllerutil.ContainsFinalizer(q, QueueConfigFinalizer) {
		return nil
	}
	name := types.NamespacedName{Namespace: q.Namespace, Name: q.Name}
	if err := r.Registry.Remove(ctx, queueconfig.Key{Namespace: q.Namespace, Name: q.Name}); err != nil {
		return fmt.Errorf("TaskQueue %s: removing configuration: %w", name, err)
	}
	r.applied.Delete(name)
	patch := client.MergeFromWithOptions(q.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(q, QueueConfigFinalizer)
	if err := r.Patch(ctx, q, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("TaskQueue %s: removing finalizer: %w", name, err)
	}
	logf.FromContext(ctx).Info("Removed queue configuration")
	return nil
}

// patchStatus writes the status with one merge patch, only when it changed.
func (r *TaskQueueReconciler) patchStatus(ctx context.Context, before, q *v1alpha1.TaskQueue) error {
	if equality.Semantic.DeepEqual(before.Status, q.Status) {
		return nil
	}
	if err := r.Status().Patch(ctx, q, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("patching status of TaskQueue %s/%s: %w", q.Namespace, q.Name, err)
	}
	return nil
}
