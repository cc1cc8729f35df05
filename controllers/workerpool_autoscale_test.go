package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// The suite's statistics refresh is an hour: every scale here is caused by a backlog wake
// (the matching service's event source), a spec change or a scale-down delay ending.

func autoscaledPool(ns, name, queue string, current, minReplicas int32, delay time.Duration) *v1alpha1.WorkerPool {
	p := newPool(ns, name, queue)
	p.Spec.Replicas = ptr.To(current)
	p.Spec.Autoscaling = &v1alpha1.Autoscaling{Mode: v1alpha1.AutoscalingBacklog, MinReplicas: ptr.To(minReplicas), MaxReplicas: 10,
		TargetBacklogPerWorker: 10, ScaleDownDelay: &metav1.Duration{Duration: delay}}
	return p
}

func deploymentReplicas(ctx context.Context, ns, name string) func() int32 {
	return func() int32 {
		d, err := getDeployment(ctx, ns, name)()
		if err != nil || d.Spec.Replicas == nil {
			return -1
		}
		return *d.Spec.Replicas
	}
}

func poolEvents(ctx context.Context, ns, pool string) func() []eventsv1.Event {
	return func() []eventsv1.Event {
		var evs eventsv1.EventList
		Expect(k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
		var out []eventsv1.Event
		for _, e := range evs.Items {
			if e.Regarding.Name == pool && e.Action == "Scale" {
				out = append(out, e)
			}
		}
		return out
	}
}

var _ = Describe("WorkerPool autoscaling (mode Backlog)", func() {
	var ns string
	ctx := context.Background()
	BeforeEach(func() { ns = newNamespace(ctx) })

	It("scales pools at zero when a task they can serve is added, woken by the backlog event source", func() {
		const runs = 5
		pools := make([]*v1alpha1.WorkerPool, runs)
		for i := range pools {
			pools[i] = autoscaledPool(ns, fmt.Sprintf("wake-%d", i), fmt.Sprintf("wake-%d", i), 0, 0, time.Minute)
			Expect(k8sClient.Create(ctx, pools[i])).To(Succeed())
		}
		for _, pool := range pools {
			Eventually(deploymentReplicas(ctx, ns, pool.Name)).Should(BeEquivalentTo(0))
			Eventually(getPool(ctx, pool)).Should(haveCondition(v1alpha1.ConditionScalingActive, metav1.ConditionTrue, v1alpha1.ReasonAtRecommendation))
		}

		took := make([]time.Duration, runs)
		for i, pool := range pools {
			key := queueconfig.Key{Namespace: ns, Name: pool.Spec.Queue}
			registry.SetStats(key, queueconfig.Stats{Backlog: []queueconfig.Backlog{{Kind: queueconfig.KindActivity, Priority: 3, Count: 25, Routable: true}}})
			start := time.Now()
			registry.BacklogWatch().Notify(queueconfig.Wake{Key: key})
			Eventually(deploymentReplicas(ctx, ns, pool.Name)).WithTimeout(5 * time.Second).WithPolling(5 * time.Millisecond).Should(BeEquivalentTo(3))
			took[i] = time.Since(start)
		}
		slices.Sort(took)
		GinkgoWriter.Printf("backlog wake to Deployment replicas 0 -> 3 (%d runs): min %s median %s max %s\n", runs, took[0], took[runs/2], took[runs-1])
		Expect(took[runs/2]).To(BeNumerically("<", time.Second), "median wake to replicas")

		pool := pools[0]
		Expect(getPool(ctx, pool)().Spec.Replicas).To(HaveValue(BeEquivalentTo(3)))
		// The event explains the scale; the conditions then describe the steady pool.
		Eventually(poolEvents(ctx, ns, pool.Name)).Should(ContainElement(And(HaveField("Reason", v1alpha1.ReasonBacklogAboveTarget),
			HaveField("Note", And(ContainSubstring("0 -> 3 workers"), ContainSubstring("backlog of 25"))))))
		Eventually(getPool(ctx, pool)).Should(And(
			haveCondition(v1alpha1.ConditionScalingActive, metav1.ConditionTrue, v1alpha1.ReasonAtRecommendation),
			haveCondition(v1alpha1.ConditionScalingLimited, metav1.ConditionFalse, v1alpha1.ReasonWithinLimits),
			HaveField("Status.Autoscaling.LastScaleTime", Not(BeNil())),
			HaveField("Status.Autoscaling.Recommendation", BeEquivalentTo(3)),
		))
	})

	It("does not grow a CPU pool for GPU tasks", func() {
		gpu := autoscaledPool(ns, "gpu", "split", 0, 0, time.Minute)
		gpu.Spec.Capabilities = []v1alpha1.Capability{{Name: "gpu", Value: "a100"}}
		cpu := autoscaledPool(ns, "cpu", "split", 0, 0, time.Minute)
		Expect(k8sClient.Create(ctx, gpu)).To(Succeed())
		Expect(k8sClient.Create(ctx, cpu)).To(Succeed())
		Eventually(deploymentReplicas(ctx, ns, "cpu")).Should(BeEquivalentTo(0))
		Eventually(deploymentReplicas(ctx, ns, "gpu")).Should(BeEquivalentTo(0))

		key := queueconfig.Key{Namespace: ns, Name: "split"}
		registry.SetStats(key, queueconfig.Stats{AddRate: 50, Backlog: []queueconfig.Backlog{{Kind: queueconfig.KindActivity, Priority: 3, Count: 15,
			Requires: []queueconfig.Capability{{Name: "gpu", Value: "a100"}}}}})
		registry.BacklogWatch().Notify(queueconfig.Wake{Key: key})
		Eventually(deploymentReplicas(ctx, ns, "gpu")).Should(BeEquivalentTo(2))
		// The CPU pool was woken by the same event: its status shows the queue's backlog.
		Eventually(getPool(ctx, cpu)).Should(HaveField("Status.BacklogCount", BeEquivalentTo(15)))
		Expect(getPool(ctx, cpu)().Spec.Replicas).To(HaveValue(BeEquivalentTo(0)))
		Expect(poolEvents(ctx, ns, "cpu")()).To(BeEmpty())
	})

	It("writes nothing while the decision does not change", func() {
		pool := autoscaledPool(ns, "steady", "steady", 2, 0, time.Minute)
		key := queueconfig.Key{Namespace: ns, Name: "steady"}
		registry.SetStats(key, queueconfig.Stats{Running: 20, DispatchRate: 10, AddRate: 10,
			Pollers: []queueconfig.Poller{{Identity: "a", Pool: "steady"}, {Identity: "b", Pool: "steady"}}})
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(haveCondition(v1alpha1.ConditionScalingActive, metav1.ConditionTrue, v1alpha1.ReasonAtRecommendation))
		generation := getPool(ctx, pool)().Generation

		for range 5 {
			before := reconcileCount("workerpool")
			registry.BacklogWatch().Notify(queueconfig.Wake{Key: key})
			Eventually(func() float64 { return reconcileCount("workerpool") }).Should(BeNumerically(">", before))
		}
		got := getPool(ctx, pool)()
		Expect(got.Generation).To(Equal(generation), "spec.replicas was written")
		Expect(got.Spec.Replicas).To(HaveValue(BeEquivalentTo(2)))
		Expect(poolEvents(ctx, ns, "steady")()).To(BeEmpty())
	})

	It("shrinks after scaleDownDelay, not before, and keeps the delay in the status", func() {
		pool := autoscaledPool(ns, "drain", "drain", 3, 0, 3*time.Second)
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(And(
			haveCondition(v1alpha1.ConditionScalingActive, metav1.ConditionTrue, v1alpha1.ReasonScaleDownDelayed),
			HaveField("Status.Autoscaling.ScaleDownSince", Not(BeNil())),
		))
		Expect(deploymentReplicas(ctx, ns, "drain")()).To(BeEquivalentTo(3))
		// The requeue at the end of the delay shrinks it: nothing else wakes the pool.
		Eventually(deploymentReplicas(ctx, ns, "drain")).WithTimeout(10 * time.Second).Should(BeEquivalentTo(0))
		Eventually(poolEvents(ctx, ns, "drain")).Should(ContainElement(And(HaveField("Reason", v1alpha1.ReasonBacklogBelowTarget),
			HaveField("Note", ContainSubstring("3 -> 0 workers")))))
		Eventually(getPool(ctx, pool)).Should(HaveField("Status.Autoscaling.ScaleDownSince", BeNil()))
	})

	It("keeps a pool that holds pinned work from going to zero", func() {
		key := queueconfig.Key{Namespace: ns, Name: "pinned"}
		registry.SetStats(key, queueconfig.Stats{
			Backlog: []queueconfig.Backlog{{Kind: queueconfig.KindActivity, Priority: 3, Count: 1,
				Requires: []queueconfig.Capability{{Name: queueconfig.CapabilityHost, Value: "node-1"}}}},
			Pollers: []queueconfig.Poller{{Identity: "w1", Pool: "pinned", Capabilities: []queueconfig.Capability{{Name: queueconfig.CapabilityHost, Value: "node-1"}}}},
		})
		pool := autoscaledPool(ns, "pinned", "pinned", 2, 0, time.Second)
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		Eventually(deploymentReplicas(ctx, ns, "pinned")).WithTimeout(10 * time.Second).Should(BeEquivalentTo(1))
		Expect(getPool(ctx, pool)()).To(haveCondition(v1alpha1.ConditionScalingLimited, metav1.ConditionTrue, v1alpha1.ReasonPinnedWork))
	})
})
