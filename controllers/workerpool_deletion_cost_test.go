package controllers

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/render"
)

// createWorkerPods creates the pool's pods as the ReplicaSet controller would (envtest
// runs none).
func createWorkerPods(ctx context.Context, pool *v1alpha1.WorkerPool, names ...string) {
	GinkgoHelper()
	for _, name := range names {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: pool.Namespace, Name: name, Labels: render.WorkerLabels(pool)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "example.com/worker:1"}}}}
		Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	}
}

// podCosts returns each pod's deletion-cost annotation ("" when absent) and
// resourceVersion, as "cost@version", so a comparison also catches a write.
func podCosts(ctx context.Context, ns string) map[string]string {
	var pods corev1.PodList
	Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
	out := map[string]string{}
	for _, p := range pods.Items {
		out[p.Name] = p.Annotations[AnnotationPodDeletionCost] + "@" + p.ResourceVersion
	}
	return out
}

// podCost is a pod's deletion cost as the ReplicaSet controller reads it (absent is 0).
func podCost(ctx context.Context, ns, name string) func() string {
	return func() string {
		c := podCosts(ctx, ns)[name]
		if c[0] == '@' {
			return "0"
		}
		return c[:1]
	}
}

// setPodLoads sets the running tasks of the workers of pods a, b and c of the pool.
func setPodLoads(key queueconfig.Key, pool string, a, b, c int64) {
	registry.SetStats(key, queueconfig.Stats{Running: a + b + c, Pollers: []queueconfig.Poller{
		{Identity: pool + "-a-0a1b2c3d", Pool: pool, Running: a},
		{Identity: pool + "-b-4e5f6a7b", Pool: pool, Running: b},
		{Identity: pool + "-c-8c9d0e1f", Pool: pool, Running: c},
	}})
}

var _ = Describe("Pod deletion cost", func() {
	ctx := context.Background()

	It("ranks the worker pods of an autoscaled pool by live load, idle ones first, and patches only when the order changes", func() {
		ns := newNamespace(ctx)
		pool := autoscaledPool(ns, "cost", "cost", 3, 0, time.Hour) // the hour keeps the size
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		createWorkerPods(ctx, pool, "cost-a", "cost-b", "cost-c")
		key := queueconfig.Key{Namespace: ns, Name: "cost"}
		load := func(a, b, c int64) {
			setPodLoads(key, "cost", a, b, c)
			registry.BacklogWatch().Notify(queueconfig.Wake{Key: key})
		}

		load(4, 1, 0)
		Eventually(podCost(ctx, ns, "cost-a")).Should(Equal("2"))
		Eventually(podCost(ctx, ns, "cost-b")).Should(Equal("1"))
		Expect(podCost(ctx, ns, "cost-c")()).To(Equal("0"))
		Expect(podCosts(ctx, ns)["cost-c"]).To(HavePrefix("@"), "an idle pod without a cost was written")

		By("changing the numbers but not the order: no pod is written")
		before := podCosts(ctx, ns)
		count := reconcileCount("workerpool")
		load(6, 2, 0)
		Eventually(func() float64 { return reconcileCount("workerpool") }).Should(BeNumerically(">", count))
		Expect(podCosts(ctx, ns)).To(Equal(before))

		By("changing the order")
		load(1, 3, 5)
		Eventually(podCost(ctx, ns, "cost-a")).Should(Equal("1"))
		Eventually(podCost(ctx, ns, "cost-b")).Should(Equal("2"))
		Eventually(podCost(ctx, ns, "cost-c")).Should(Equal("3"))
	})

	It("ranks the pods of a pool scaled by an HPA or KEDA (mode Disabled) once its workers report, and leaves pools of unknown load alone", func() {
		ns := newNamespace(ctx)
		pool := newPool(ns, "ext", "ext")
		pool.Spec.Replicas = ptr.To[int32](3)
		pool.Spec.Autoscaling = &v1alpha1.Autoscaling{Mode: v1alpha1.AutoscalingDisabled, MaxReplicas: 10}
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		createWorkerPods(ctx, pool, "ext-a", "ext-b", "ext-c")
		key := queueconfig.Key{Namespace: ns, Name: "ext"}
		// Disabled pools are not woken by the backlog: a touch stands for the refresh.
		reconciled := func() {
			count := reconcileCount("workerpool")
			touch(ctx, pool)
			Eventually(func() float64 { return reconcileCount("workerpool") }).Should(BeNumerically(">", count))
		}

		By("no worker of the pool reports: nothing is written")
		registry.SetStats(key, queueconfig.Stats{Pollers: []queueconfig.Poller{{Identity: "other-x-1", Pool: "other", Running: 2}}})
		before := podCosts(ctx, ns)
		reconciled()
		Expect(podCosts(ctx, ns)).To(Equal(before))

		By("the workers report their load")
		setPodLoads(key, "ext", 0, 5, 2)
		touch(ctx, pool)
		Eventually(podCost(ctx, ns, "ext-b")).Should(Equal("2"))
		Eventually(podCost(ctx, ns, "ext-c")).Should(Equal("1"))
		Expect(podCost(ctx, ns, "ext-a")()).To(Equal("0"))

		By("changing the numbers but not the order: no pod is written")
		before = podCosts(ctx, ns)
		setPodLoads(key, "ext", 0, 9, 1)
		reconciled()
		Expect(podCosts(ctx, ns)).To(Equal(before))
	})
})
