package quotawatch

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/cluster"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/taskroute/taskroute/internal/matching"
)

// ConfigMapName is the ConfigMap of quota overrides in the manager's namespace.
const ConfigMapName = "taskroute-quotas"

// EventInvalidQuota is the Warning event on the ConfigMap naming a bad key and field.
const EventInvalidQuota = "InvalidQuota"

// maxEventNote is the longest note an events.k8s.io/v1 Event may have.
const maxEventNote = 1024

// RBAC: no marker here on purpose. Markers write the cluster-wide ClusterRole, and
// list/watch of ConfigMaps there would let the manager read every ConfigMap of the
// cluster. The Role "taskroute-quotas" (config/rbac/quotas_role.yaml, chart
// templates/rbac/quotas.yaml) grants get/list/watch on this one ConfigMap by name in the
// manager's namespace; the watch below selects it by metadata.name, which is what lets
// the API server check resourceNames on list and watch.

// QuotaSetter is the engine's run-time quota update (matching.Engine.SetQuotas).
type QuotaSetter interface {
	SetQuotas(matching.Quotas)
}

// Watcher applies the ConfigMap to the engine whenever it changes. Every replica runs it
// (each serves its own matching engine), not only the leader.
type Watcher struct {
	// Namespace and Name of the ConfigMap (the manager's namespace, ConfigMapName).
	Namespace, Name string
	// Base is the flags' configuration; the ConfigMap overrides it, and deleting the
	// ConfigMap returns to it.
	Base     Base
	Engine   QuotaSetter
	Recorder events.EventRecorder
	Log      logr.Logger

	reader  client.Reader
	mu      sync.Mutex
	good    map[string]Partial // last good value of each key of the ConfigMap
	applied *matching.Quotas
}

// SetupWithManager starts a cache that holds only the one ConfigMap (not every
// ConfigMap of the cluster) and the controller "quota-config" on it.
func (w *Watcher) SetupWithManager(mgr ctrl.Manager) error {
	if w.Namespace == "" {
		return errors.New("quotawatch: the manager's namespace is required")
	}
	if w.Name == "" {
		w.Name = ConfigMapName
	}
	cl, err := cluster.New(mgr.GetConfig(), func(o *cluster.Options) {
		o.Scheme = mgr.GetScheme()
		o.Cache = cache.Options{
			DefaultNamespaces: map[string]cache.Config{w.Namespace: {}},
			ByObject: map[client.Object]cache.ByObject{
				&corev1.ConfigMap{}: {Field: fields.OneTermEqualSelector("metadata.name", w.Name)},
			},
		}
	})
	if err != nil {
		return fmt.Errorf("creating the cache of ConfigMap %s/%s: %w", w.Namespace, w.Name, err)
	}
	// A cluster is started with the manager's caches, on every replica.
	if err := mgr.Add(cl); err != nil {
		return fmt.Errorf("adding the cache of ConfigMap %s/%s: %w", w.Namespace, w.Name, err)
	}
	w.reader = cl.GetCache()
	return ctrl.NewControllerManagedBy(mgr).
		Named("quota-config").
		WatchesRawSource(source.Kind(cl.GetCache(), &corev1.ConfigMap{},
			&handler.TypedEnqueueRequestForObject[*corev1.ConfigMap]{},
			predicate.TypedResourceVersionChangedPredicate[*corev1.ConfigMap]{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, NeedLeaderElection: ptr.To(false)}).
		Complete(w)
}

// Reconcile reads the ConfigMap and applies it; a missing ConfigMap means the flags.
func (w *Watcher) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if req.Namespace != w.Namespace || req.Name != w.Name {
		return reconcile.Result{}, nil
	}
	cm := &corev1.ConfigMap{}
	err := w.reader.Get(ctx, req.NamespacedName, cm)
	switch {
	case apierrors.IsNotFound(err):
		cm = nil
	case err != nil:
		return reconcile.Result{}, fmt.Errorf("reading ConfigMap %s: %w", req.NamespacedName, err)
	}
	w.apply(cm)
	return reconcile.Result{}, nil
}

// apply merges cm over the flags and sets the result on the engine. A bad key keeps its
// last good value (none: the flags), so a typo never loosens or drops a quota; the other
// keys still apply.
func (w *Watcher) apply(cm *corev1.ConfigMap) {
	w.mu.Lock()
	defer w.mu.Unlock()
	good := map[string]Partial{}
	var bad []error
	if cm != nil {
		for _, key := range sortedKeys(cm.Data) {
			p, err := ParsePartial(key, []byte(cm.Data[key]))
			if err == nil {
				good[key] = p
				continue
			}
			bad = append(bad, err)
			if last, ok := w.good[key]; ok {
				good[key] = last
			}
		}
		for _, key := range sortedKeys(cm.BinaryData) {
			bad = append(bad, &FieldError{Key: key, Reason: "binaryData is not read; put quotas under data"})
		}
		w.reject(cm, bad)
	}
	w.good = good
	q := Merge(w.Base, good)
	if w.applied != nil && reflect.DeepEqual(*w.applied, q) {
		w.Log.V(1).Info("Quotas unchanged", "configMap", w.Name, "present", cm != nil)
		return
	}
	w.Engine.SetQuotas(q)
	w.applied = &q
	if cm == nil {
		w.Log.Info("Applied flag quotas", "configMap", w.Name, "reason", "ConfigMap absent")
		return
	}
	w.Log.Info("Applied quotas", "configMap", w.Name, "resourceVersion", cm.ResourceVersion,
		"keys", len(good), "default", q.Default)
}

// reject reports bad keys: an error log and a count for each, and one Warning event on
// the ConfigMap naming them all.
func (w *Watcher) reject(cm *corev1.ConfigMap, bad []error) {
	if len(bad) == 0 {
		return
	}
	notes := make([]string, len(bad))
	for i, err := range bad {
		configErrors.Inc()
		var fe *FieldError
		key, field := "", ""
		if errors.As(err, &fe) {
			key, field = fe.Key, fe.Field
		}
		w.Log.Error(err, "Rejected quota; the previous value stays", "configMap", w.Name, "resourceVersion", cm.ResourceVersion, "key", key, "field", field)
		notes[i] = err.Error()
	}
	if w.Recorder != nil {
		note := fmt.Sprintf("Kept the previous quotas of %d bad keys: %s", len(bad), strings.Join(notes, "; "))
		if len(note) > maxEventNote { // the API server refuses longer notes; the log has all
			note = note[:maxEventNote-3] + "..."
		}
		w.Recorder.Eventf(cm, nil, corev1.EventTypeWarning, EventInvalidQuota, "Apply", "%s", note)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
