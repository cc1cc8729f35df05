package controllers

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/render"
)

// AnnotationPodDeletionCost is read by the ReplicaSet controller: on a scale-down it
// deletes the pods of lower cost first.
const AnnotationPodDeletionCost = "controller.kubernetes.io/pod-deletion-cost"

// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;patch

// syncDeletionCosts keeps the deletion cost of an autoscaled pool's pods in step with
// their workers' live load, so a scale-down removes idle workers first. The cost is the
// pod's rank by load (0 for idle pods), so a pod is patched only when the order of the
// pods changes, not on every change of the numbers.
func (r *WorkerPoolReconciler) syncDeletionCosts(ctx context.Context, pool *v1alpha1.WorkerPool, stats queueconfig.Stats) error {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(pool.Namespace), client.MatchingLabels(render.SelectorLabels(pool))); err != nil {
		return fmt.Errorf("listing pods of WorkerPool %s/%s: %w", pool.Namespace, pool.Name, err)
	}
	costs := deletionCosts(pods.Items, podLoads(stats, pool.Name))
	for i := range pods.Items {
		pod := &pods.Items[i]
		want := strconv.Itoa(costs[pod.Name])
		if pod.Annotations[AnnotationPodDeletionCost] == want || !pod.DeletionTimestamp.IsZero() {
			continue
		}
		patch := client.MergeFrom(pod.DeepCopy())
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[AnnotationPodDeletionCost] = want
		if err := r.Patch(ctx, pod, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("setting the deletion cost of pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		logf.FromContext(ctx).V(1).Info("Updated pod deletion cost", "pod", pod.Name, "cost", want)
	}
	return nil
}

// podLoads is the live load of each pod of the pool, by pod name: the tasks its workers
// run and the sessions bound to them, plus the waiting tasks routed to their process or
// host that one of them meets.
// A worker's identity is its pod's name and a random suffix (pkg/worker DefaultIdentity).
func podLoads(stats queueconfig.Stats, pool string) map[string]int64 {
	loads := map[string]int64{}
	for _, p := range stats.Pollers {
		if p.Pool != pool {
			continue
		}
		pod := podOfIdentity(p.Identity)
		loads[pod] += p.Running + p.OpenSessions
		w := queueconfig.WorkerProfile{Capabilities: p.Capabilities}
		for _, b := range stats.Backlog {
			if b.Count > 0 && b.Pinned() && w.Meets(b.Requires) {
				loads[pod] += b.Count
			}
		}
	}
	return loads
}

// podOfIdentity strips the random suffix DefaultIdentity adds to the pod name.
func podOfIdentity(identity string) string {
	if i := strings.LastIndexByte(identity, '-'); i > 0 {
		return identity[:i]
	}
	return identity
}

// deletionCosts ranks pods by load: idle pods cost 0, busy ones 1, 2, ... from the least
// to the most loaded (equal loads share a rank), so the least loaded go first.
func deletionCosts(pods []corev1.Pod, loads map[string]int64) map[string]int {
	var busy []int64
	for _, p := range pods {
		if l := loads[p.Name]; l > 0 && !slices.Contains(busy, l) {
			busy = append(busy, l)
		}
	}
	slices.Sort(busy)
	costs := make(map[string]int, len(pods))
	for _, p := range pods {
		if l := loads[p.Name]; l > 0 {
			costs[p.Name] = slices.Index(busy, l) + 1
		} else {
			costs[p.Name] = 0
		}
	}
	return costs
}
