package controllers

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/render"
)

var _ = Describe("Pod deletion cost of autoscaled pools", func() {
	ctx := context.Background()

	It("ranks the worker pods by live load, idle ones first, and patches only when the order changes", func() {
		ns := newNamespace(ctx)
		pool := autoscaledPool(ns, "cost", "cost", 3, 0, time.Hour) // the hour keeps the size
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		// envtest runs no ReplicaSet controller: the pods are created as it would.
		for _, name := range []string{"cost-a", "cost-b", "cost-c"} {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: render.WorkerLabels(pool)},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "example.com/worker:1"}}}}
			Expect(k8sClient.Create(ctx, pod)).To(Succeed())
		}
		key := queueconfig.Key{Namespace: ns, Name: "cost"}
		load := func(a, b, c int64) {
			registry.SetStats(key, queueconfig.Stats{Running: a + b + c, Pollers: []queueconfig.Poller{
				{Identity: "cost-a-0a1b2c3d", Pool: "cost", Running: a},
				{Identity: "cost-b-4e5f6a7b", Pool: "cost", Running: b},
				{Identity: "cost-c-8c9d0e1f", Pool: "cost", Running: c},
			}})
			registry.BacklogWakes().Notify(key)
		}
		costs := func() map[string]string {
			var pods corev1.PodList
			Expect(k8sClient.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
			out := map[string]string{}
			for _, p := range pods.Items {
				out[p.Name] = p.Annotations[AnnotationPodDeletionCost] + "@" + p.ResourceVersion
			}
			return out
		}
		cost := func(name string) func() string {
			return func() string { return costs()[name][:1] }
		}

		load(4, 1, 0)
		Eventually(cost("cost-a")).Should(Equal("2"))
		Eventually(cost("cost-b")).Should(Equal("1"))
		Eventually(cost("cost-c")).Should(Equal("0"))

		By("changing the numbers but not the order: no pod is written")
		before := costs()
		count := reconcileCount("workerpool")
		load(6, 2, 0)
		Eventually(func() float64 { return reconcileCount("workerpool") }).Should(BeNumerically(">", count))
		Expect(costs()).To(Equal(before))

		By("changing the order")
		load(1, 3, 5)
		Eventually(cost("cost-a")).Should(Equal("1"))
		Eventually(cost("cost-b")).Should(Equal("2"))
		Eventually(cost("cost-c")).Should(Equal("3"))
	})
})
