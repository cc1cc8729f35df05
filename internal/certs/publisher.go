package certs

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/render"
)

// DefaultBundleConfigMapName is the ConfigMap, in every namespace with WorkerPools, that
// holds the CA bundle under BundleKey; worker pods mount it.
const (
	DefaultBundleConfigMapName = "taskroute-ca"
	BundleKey                  = "ca.crt"
)

// The publisher reads and writes its ConfigMaps in worker namespaces.
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;create;patch;delete
// +kubebuilder:rbac:groups=taskroute.dev,resources=workerpools,verbs=get;list;watch

// BundlePublisher keeps the ConfigMap DefaultBundleConfigMapName with the CA bundle in
// every namespace that has WorkerPools, and removes it from namespaces that no longer
// have any. Requests are keyed by namespace (the request's Name is the namespace).
type BundlePublisher struct {
	// Client lists WorkerPools (cached) and applies ConfigMaps.
	Client client.Client
	// Reader reads ConfigMaps without a cache (the manager's API reader), so the manager
	// does not watch every ConfigMap of the cluster.
	Reader client.Reader
	// Bundle returns the current PEM bundle (Source.CABundle).
	Bundle func() []byte
	// Name of the ConfigMap (DefaultBundleConfigMapName).
	Name string

	changed chan event.GenericEvent
}

// NewBundlePublisher returns a publisher of bundle; register it with SetupWithManager.
func NewBundlePublisher(c client.Client, bundle func() []byte) *BundlePublisher {
	return &BundlePublisher{Client: c, Bundle: bundle, changed: make(chan event.GenericEvent, 1)}
}

// Notify asks for the bundle to be published to every namespace again (the CA rotated).
// It never blocks.
func (p *BundlePublisher) Notify() {
	select {
	case p.changed <- event.GenericEvent{Object: &v1alpha1.WorkerPool{}}:
	default: // a republish is already pending
	}
}

// SetupWithManager registers the publisher as the controller "ca-bundle".
func (p *BundlePublisher) SetupWithManager(mgr ctrl.Manager) error {
	if p.Name == "" {
		p.Name = DefaultBundleConfigMapName
	}
	if p.Reader == nil {
		p.Reader = mgr.GetAPIReader()
	}
	if p.changed == nil {
		p.changed = make(chan event.GenericEvent, 1)
	}
	// A namespace gains or loses pools only on create and delete.
	createDelete := predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }}
	return ctrl.NewControllerManagedBy(mgr).
		Named("ca-bundle").
		Watches(&v1alpha1.WorkerPool{}, handler.EnqueueRequestsFromMapFunc(namespaceOf), builder.WithPredicates(createDelete)).
		WatchesRawSource(source.Channel(p.changed, handler.EnqueueRequestsFromMapFunc(p.allNamespaces))).
		Complete(p)
}

func namespaceOf(_ context.Context, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: obj.GetNamespace()}}}
}

func (p *BundlePublisher) allNamespaces(ctx context.Context, _ client.Object) []reconcile.Request {
	pools := &v1alpha1.WorkerPoolList{}
	if err := p.Client.List(ctx, pools); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "Failed to list WorkerPools for the CA bundle")
		return nil
	}
	seen := map[string]bool{}
	var reqs []reconcile.Request
	for _, wp := range pools.Items {
		if !seen[wp.Namespace] {
			seen[wp.Namespace] = true
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: wp.Namespace}})
		}
	}
	return reqs
}

// Reconcile publishes or removes the bundle ConfigMap of one namespace.
func (p *BundlePublisher) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ns := req.Name
	log := logr.FromContextOrDiscard(ctx).WithValues("namespace", ns, "configMap", p.Name)
	key := types.NamespacedName{Namespace: ns, Name: p.Name}

	pools := &v1alpha1.WorkerPoolList{}
	if err := p.Client.List(ctx, pools, client.InNamespace(ns), client.Limit(1)); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing WorkerPools in %s: %w", ns, err)
	}
	current := &corev1.ConfigMap{}
	err := p.Reader.Get(ctx, key, current)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, fmt.Errorf("reading ConfigMap %s: %w", key, err)
	}
	owned := exists && current.Labels[render.LabelManagedBy] == render.ManagedBy

	if len(pools.Items) == 0 {
		if owned {
			if err := p.Client.Delete(ctx, current); client.IgnoreNotFound(err) != nil {
				return reconcile.Result{}, fmt.Errorf("deleting ConfigMap %s: %w", key, err)
			}
			log.Info("Deleted CA bundle of a namespace without WorkerPools")
		}
		return reconcile.Result{}, nil
	}
	bundle := p.Bundle()
	if len(bundle) == 0 {
		log.V(1).Info("Waited for the CA bundle")
		return reconcile.Result{RequeueAfter: 2 * time.Second}, nil
	}
	if exists && !owned {
		// Someone else's ConfigMap of that name: do not take it over.
		log.Info("Skipped CA bundle: a ConfigMap of that name is not managed by taskroute")
		return reconcile.Result{}, nil
	}
	if owned && current.Data[BundleKey] == string(bundle) {
		return reconcile.Result{}, nil
	}
	cm := corev1ac.ConfigMap(p.Name, ns).
		WithLabels(map[string]string{render.LabelManagedBy: render.ManagedBy}).
		WithData(map[string]string{BundleKey: string(bundle)})
	if err := p.Client.Apply(ctx, cm, client.FieldOwner(render.ManagedBy), client.ForceOwnership); err != nil {
		return reconcile.Result{}, fmt.Errorf("applying ConfigMap %s: %w", key, err)
	}
	log.Info("Applied CA bundle")
	return reconcile.Result{}, nil
}
