package render

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/taskroute/taskroute/api/v1alpha1"
)

// Options are the inputs of the Deployment that do not come from the WorkerPool.
type Options struct {
	// MatchingAddress is host:port of the matching service, written into every worker.
	MatchingAddress string
	// WithoutToken leaves out the projected ServiceAccount token (the manager runs with
	// --matching-auth=disabled). The zero value mounts it.
	WithoutToken bool
	// PlaintextMatching leaves out the CA bundle and sets TASKROUTE_INSECURE=true (the
	// manager runs with --matching-tls=disabled). The zero value verifies TLS.
	PlaintextMatching bool
}

// Deployment returns the worker Deployment of pool as a server-side apply configuration,
// with the hash of its content in the AnnotationAppliedHash annotation.
func Deployment(pool *v1alpha1.WorkerPool, opts Options) (*appsv1ac.DeploymentApplyConfiguration, error) {
	tmpl, err := podTemplate(pool, opts)
	if err != nil {
		return nil, fmt.Errorf("rendering pod template of WorkerPool %s/%s: %w", pool.Namespace, pool.Name, err)
	}
	d := appsv1ac.Deployment(DeploymentName(pool), pool.Namespace).
		WithLabels(WorkerLabels(pool)).
		WithAnnotations(workerAnnotations(pool)).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(v1alpha1.GroupVersion.String()).
			WithKind("WorkerPool").
			WithName(pool.Name).
			WithUID(pool.UID).
			WithController(true).
			WithBlockOwnerDeletion(true)).
		WithSpec(appsv1ac.DeploymentSpec().
			WithReplicas(Replicas(pool)).
			WithSelector(metav1ac.LabelSelector().WithMatchLabels(SelectorLabels(pool))).
			WithTemplate(tmpl))

	hash, err := contentHash(d)
	if err != nil {
		return nil, err
	}
	d.WithAnnotations(map[string]string{AnnotationAppliedHash: hash})
	return d, nil
}

// Replicas is the size the Deployment gets: spec.replicas (default 1), which a user or an
// external scaler (an HPA or KEDA through /scale) writes. With autoscaling mode Backlog it
// is kept within min..max, so a pool never leaves the bounds it declares; there is no
// built-in autoscaler yet that sizes the pool from the backlog.
func Replicas(pool *v1alpha1.WorkerPool) int32 {
	replicas := ptr.Deref(pool.Spec.Replicas, 1)
	if as := pool.Spec.Autoscaling; as != nil && as.Mode == v1alpha1.AutoscalingBacklog {
		// A nil minReplicas is the CRD default, 1.
		return min(max(replicas, ptr.Deref(as.MinReplicas, 1)), as.MaxReplicas)
	}
	return replicas
}

// contentHash is a short, stable hash of the apply configuration. encoding/json sorts map
// keys, so equal configurations hash equally.
func contentHash(d *appsv1ac.DeploymentApplyConfiguration) (string, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("hashing rendered Deployment: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16], nil
}

// podTemplate is the user's template with the worker contract added. It is built on the
// typed API and converted once, which keeps the merge logic readable.
func podTemplate(pool *v1alpha1.WorkerPool, opts Options) (*corev1ac.PodTemplateSpecApplyConfiguration, error) {
	t := pool.Spec.Template.DeepCopy()
	if len(t.Spec.Containers) == 0 {
		return nil, fmt.Errorf("spec.template.spec.containers: at least one container is required")
	}

	t.Labels = mergeMaps(t.Labels, WorkerLabels(pool)) // the pool's labels win
	t.Annotations = mergeMaps(t.Annotations, workerAnnotations(pool))

	env := workerEnv(pool, opts)
	for i := range t.Spec.Containers {
		t.Spec.Containers[i].Env = withContractEnv(t.Spec.Containers[i].Env, env)
	}

	applyCredentials(&t.Spec, opts)
	applyRestrictedSecurityContext(&t.Spec)
	applyPlacement(&t.Spec, pool)
	if err := applyCapabilities(&t.Spec, pool.Spec.Capabilities); err != nil {
		return nil, err
	}

	// Converting through JSON keeps every field of the user's template, including ones
	// this package does not know about.
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	ac := &corev1ac.PodTemplateSpecApplyConfiguration{}
	if err := json.Unmarshal(b, ac); err != nil {
		return nil, err
	}
	return ac, nil
}

// mergeMaps returns base with over's entries added; over wins on equal keys.
func mergeMaps(base, over map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// appendTolerations adds each toleration that is not already present.
func appendTolerations(have []corev1.Toleration, add ...corev1.Toleration) []corev1.Toleration {
	for _, t := range add {
		if !slices.ContainsFunc(have, func(h corev1.Toleration) bool {
			return h.MatchToleration(&t) && ptr.Equal(h.TolerationSeconds, t.TolerationSeconds)
		}) {
			have = append(have, t)
		}
	}
	return have
}

// requireNodeExpressions ANDs exprs into the pod's required node affinity. Terms of a
// required affinity are ORed, so the expressions go into every existing term; with no
// term, one is created.
func requireNodeExpressions(spec *corev1.PodSpec, exprs []corev1.NodeSelectorRequirement) {
	if len(exprs) == 0 {
		return
	}
	if spec.Affinity == nil {
		spec.Affinity = &corev1.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &corev1.NodeAffinity{}
	}
	na := spec.Affinity.NodeAffinity
	if na.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		na.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	req := na.RequiredDuringSchedulingIgnoredDuringExecution
	if len(req.NodeSelectorTerms) == 0 {
		req.NodeSelectorTerms = []corev1.NodeSelectorTerm{{}}
	}
	for i := range req.NodeSelectorTerms {
		req.NodeSelectorTerms[i].MatchExpressions = append(req.NodeSelectorTerms[i].MatchExpressions, exprs...)
	}
}
