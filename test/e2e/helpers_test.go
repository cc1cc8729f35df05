package e2e

import (
	"context"
	"fmt"
	"slices"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/render"
)

// workerPool returns a pool of a small worker container on queue; mutate adds routing.
func workerPool(namespace, name, queue string, replicas int32, mutate ...func(*v1alpha1.WorkerPool)) *v1alpha1.WorkerPool {
	p := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: v1alpha1.WorkerPoolSpec{
			Queue:    queue,
			Version:  "1.0",
			Replicas: ptr.To(replicas),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name:  "worker",
				Image: "ghcr.io/taskroute/example-worker:dev",
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
			}}}},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func withGPU(p *v1alpha1.WorkerPool) {
	p.Spec.Capabilities = append(p.Spec.Capabilities, v1alpha1.Capability{Name: "gpu", Value: "a100"})
}

func pinnedTo(hosts ...string) func(*v1alpha1.WorkerPool) {
	return func(p *v1alpha1.WorkerPool) { p.Spec.Placement = &v1alpha1.Placement{Hosts: hosts} }
}

// poolPods lists the pods of a pool, by the selector labels the operator puts on them.
func poolPods(ctx context.Context, namespace, pool string) []corev1.Pod {
	var pods corev1.PodList
	Expect(k8s.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{render.LabelPool: pool})).To(Succeed())
	return pods.Items
}

// poolDeployments lists the Deployments of a pool.
func poolDeployments(ctx context.Context, namespace, pool string) []appsv1.Deployment {
	var ds appsv1.DeploymentList
	Expect(k8s.List(ctx, &ds, client.InNamespace(namespace), client.MatchingLabels{render.LabelPool: pool})).To(Succeed())
	return ds.Items
}

// runningOn waits until the pool has exactly want pods, all Running on a node, and returns
// them.
func runningPods(ctx context.Context, namespace, pool string, want int) []corev1.Pod {
	var pods []corev1.Pod
	Eventually(func(g Gomega) {
		pods = poolPods(ctx, namespace, pool)
		g.Expect(pods).To(HaveLen(want), "pods of pool %s", pool)
		for _, p := range pods {
			g.Expect(p.Spec.NodeName).NotTo(BeEmpty(), "pod %s not scheduled", p.Name)
			g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "pod %s on %s", p.Name, p.Spec.NodeName)
		}
	}).WithContext(ctx).Should(Succeed())
	return pods
}

// expectPoolReady waits until the pool reports Ready with every replica ready, for its
// current generation.
func expectPoolReady(ctx context.Context, namespace, name string, replicas int32) {
	Eventually(func(g Gomega) {
		var p v1alpha1.WorkerPool
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &p)).To(Succeed())
		g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation), "observedGeneration of %s", name)
		g.Expect(p.Status.ReadyReplicas).To(Equal(replicas), "readyReplicas of %s", name)
		g.Expect(p.Status.Replicas).To(Equal(replicas), "replicas of %s", name)
		ready := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady)
		g.Expect(ready).NotTo(BeNil(), "Ready condition of %s", name)
		g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), "Ready condition of %s: %s %s", name, ready.Reason, ready.Message)
	}).WithContext(ctx).Should(Succeed())
}

func nodesOf(pods []corev1.Pod) []string {
	var nodes []string
	for _, p := range pods {
		if !slices.Contains(nodes, p.Spec.NodeName) {
			nodes = append(nodes, p.Spec.NodeName)
		}
	}
	slices.Sort(nodes)
	return nodes
}

func gpuRequest(p corev1.Pod) string {
	var total resource.Quantity
	for _, c := range p.Spec.Containers {
		if q, ok := c.Resources.Requests[render.NvidiaGPU]; ok {
			total.Add(q)
		}
	}
	return total.String()
}

func describePods(pods []corev1.Pod) string {
	s := ""
	for _, p := range pods {
		s += fmt.Sprintf("%s@%s(%s) ", p.Name, p.Spec.NodeName, p.Status.Phase)
	}
	return s
}
