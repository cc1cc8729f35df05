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

// loadKnown tells whether the live load of the pool's pods is known, so their deletion
// costs can follow it: whoever scales the pool (the built-in autoscaler, an HPA, KEDA,
// a person), the ReplicaSet controller then removes idle workers first. It is known when
// one of the pool's workers reports to the matching service; a Backlog-mode pool is
// sized from the same statistics, so with no worker reporting its pods are all idle.
func loadKnown(pool *v1alpha1.WorkerPool, stats queueconfig.Stats) bool {
	if backlogAutoscaled(pool) {
		return true
	}
	return slices.ContainsFunc(stats.Pollers, func(p queueconfig.Poller) bool { return p.Pool == pool.Name })
}

// syncDeletionCosts keeps the deletion cost of a pool's pods in step with their workers'
// live load, so a scale-down removes idle workers first. The cost is the pod's rank by
// load (0 for idle pods), so a pod is patched only when the order of the pods changes,
// not on every change of the numbers. An idle pod without the annotation is left alone:
// the ReplicaSet controller reads a missing cost as 0.
func (r *WorkerPoolReconciler) syncDeletionCosts(ctx context.Context, pool *v1alpha1.WorkerPool, stats queueconfig.Stats) error {
	var pods corev1.PodList
	if err := r.List(ctx, &pods, client.InNamespace(pool.Namespace), client.MatchingLabels(render.SelectorLabels(pool))); err != nil {
		return fmt.Errorf("listing pods of WorkerPool %s/%s: %w", pool.Namespace, pool.Name, err)
	}
	costs := deletionCosts(pods.Items, podLoads(stats, pool.Name))
	for i := range pods.Items {
		pod := &pods.Items[i]
		want := strconv.Itoa(costs[pod.Name])
		if currentCost(pod) == want || !pod.DeletionTimestamp.IsZero() {
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

// currentCost is the pod's deletion cost as the ReplicaSet controller reads it: a missing
// annotation is 0.
func currentCost(pod *corev1.Pod) string {
	if c, ok := pod.Annotations[AnnotationPodDeletionCost]; ok {
		return c
	}
	return "0"
}
