// Package render builds the child objects of taskroute's custom resources. Every function
// here is pure: it reads the parent object and returns the desired child, so the
// reconcilers stay short and the builders are covered by golden tests.
package render

import (
	"crypto/sha256"
	"encoding/hex"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/taskroute/taskroute/api/v1alpha1"
)

// Label and annotation keys the operator sets on worker Deployments and their pods.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelPool      = "taskroute.dev/pool"
	LabelQueue     = "taskroute.dev/queue"
	LabelVersion   = "taskroute.dev/version"

	// AnnotationPool, AnnotationQueue and AnnotationVersion carry the full values, since a
	// label value is limited to 63 characters and pool and queue names may be longer.
	AnnotationPool    = "taskroute.dev/pool"
	AnnotationQueue   = "taskroute.dev/queue"
	AnnotationVersion = "taskroute.dev/version"

	// AnnotationAppliedHash is the hash of the rendered Deployment, so the reconciler can
	// tell without a request whether the applied object is current.
	AnnotationAppliedHash = "taskroute.dev/applied-hash"

	// WorkerAppName is the value of app.kubernetes.io/name on every worker.
	WorkerAppName = "taskroute-worker"
	// ManagedBy is the value of app.kubernetes.io/managed-by and the server-side apply
	// field owner of everything the operator applies.
	ManagedBy = "taskroute"
)

// LabelValue returns s when it is a valid label value, otherwise a stable shortened form
// (a prefix and a hash), so long pool and queue names still make valid, distinct labels.
func LabelValue(s string) string {
	if len(validation.IsValidLabelValue(s)) == 0 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	suffix := hex.EncodeToString(sum[:])[:10]
	prefix := s
	if len(prefix) > 52 {
		prefix = prefix[:52]
	}
	// A label value must start and end with an alphanumeric; the hash ends it, and the
	// prefix keeps its own (validated) first character.
	return prefix + "-" + suffix
}

// SelectorLabels are the labels that select a pool's pods. They never change for a pool,
// because a Deployment's selector is immutable: the version is deliberately not here.
func SelectorLabels(pool *v1alpha1.WorkerPool) map[string]string {
	return map[string]string{
		LabelName: WorkerAppName,
		LabelPool: LabelValue(pool.Name),
	}
}

// Selector is SelectorLabels in the string form the /scale subresource reports.
func Selector(pool *v1alpha1.WorkerPool) string {
	return labels.SelectorFromSet(SelectorLabels(pool)).String()
}

// WorkerLabels are the labels of the Deployment and of every worker pod.
func WorkerLabels(pool *v1alpha1.WorkerPool) map[string]string {
	l := SelectorLabels(pool)
	l[LabelManagedBy] = ManagedBy
	l[LabelQueue] = LabelValue(pool.Spec.Queue)
	l[LabelVersion] = LabelValue(pool.Spec.Version)
	return l
}

// workerAnnotations are the full, untruncated identity of the pool.
func workerAnnotations(pool *v1alpha1.WorkerPool) map[string]string {
	return map[string]string{
		AnnotationPool:    pool.Name,
		AnnotationQueue:   pool.Spec.Queue,
		AnnotationVersion: pool.Spec.Version,
	}
}

// DeploymentName is the name of a pool's Deployment: the pool's own name. One pool is one
// version; versions of a queue coexist as separate pools (see docs/reconcilers.md).
func DeploymentName(pool *v1alpha1.WorkerPool) string { return pool.Name }
