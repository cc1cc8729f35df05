package e2e

import (
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/localcluster"
	"github.com/taskroute/taskroute/internal/render"
)

var _ = Describe("Routed worker pools on the real scheduler", Ordered, func() {
	const (
		ns         = "e2e-routing"
		queue      = "media"
		pinnedHost = "kwok-node-cpu-2"
	)
	var (
		gpuPool  = workerPool(ns, "gpu", queue, 2, withGPU)
		cpuPool  = workerPool(ns, "cpu", queue, 3)
		hostPool = workerPool(ns, "pinned", queue, 2, pinnedTo(pinnedHost))
	)

	BeforeAll(func(ctx SpecContext) {
		Expect(cluster.CreateNamespace(ctx, ns)).To(Succeed())
		Expect(k8s.Create(ctx, &v1alpha1.TaskQueue{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: queue}})).To(Succeed())
		for _, p := range []*v1alpha1.WorkerPool{gpuPool, cpuPool, hostPool} {
			Expect(k8s.Create(ctx, p)).To(Succeed(), "creating pool %s", p.Name)
		}
	})

	It("runs GPU pools only on GPU nodes, with a GPU per worker and the GPU taint tolerated", func(ctx SpecContext) {
		pods := runningPods(ctx, ns, gpuPool.Name, 2)
		for _, p := range pods {
			Expect(localcluster.GPUNodeNames).To(ContainElement(p.Spec.NodeName), "GPU pod %s", p.Name)
			Expect(gpuRequest(p)).To(Equal("1"), "nvidia.com/gpu request of %s", p.Name)
			Expect(p.Spec.Tolerations).To(ContainElement(HaveField("Key", string(render.NvidiaGPU))), "tolerations of %s", p.Name)
		}
	})

	It("keeps CPU pools off the tainted GPU nodes", func(ctx SpecContext) {
		pods := runningPods(ctx, ns, cpuPool.Name, 3)
		for _, p := range pods {
			Expect(localcluster.CPUNodeNames).To(ContainElement(p.Spec.NodeName), "CPU pod %s", p.Name)
			Expect(gpuRequest(p)).To(Equal("0"), "nvidia.com/gpu request of %s", p.Name)
		}
	})

	It("runs host-pinned pools only on their host", func(ctx SpecContext) {
		pods := runningPods(ctx, ns, hostPool.Name, 2)
		Expect(nodesOf(pods)).To(Equal([]string{pinnedHost}), "nodes of the pinned pool: %s", describePods(pods))
	})

	It("reports every pool Ready with all replicas ready, from the Deployments the controller-manager runs", func(ctx SpecContext) {
		for _, p := range []*v1alpha1.WorkerPool{gpuPool, cpuPool, hostPool} {
			expectPoolReady(ctx, ns, p.Name, *p.Spec.Replicas)
		}
	})

	It("leaves workers Pending when a pool asks for more GPUs than the nodes have", func(ctx SpecContext) {
		// 2 GPU nodes x 4 GPUs = 8; the gpu pool holds 2, this one asks 7: one cannot fit.
		overflow := workerPool(ns, "gpu-overflow", queue, 7, withGPU)
		Expect(k8s.Create(ctx, overflow)).To(Succeed())

		var pending []corev1.Pod
		Eventually(func(g Gomega) {
			pods := poolPods(ctx, ns, overflow.Name)
			g.Expect(pods).To(HaveLen(7))
			running, unschedulable := 0, []corev1.Pod{}
			for _, p := range pods {
				switch {
				case p.Status.Phase == corev1.PodRunning:
					running++
				case p.Spec.NodeName == "" && isUnschedulable(p):
					unschedulable = append(unschedulable, p)
				}
			}
			g.Expect(running).To(Equal(6), "running: %s", describePods(pods))
			g.Expect(unschedulable).To(HaveLen(1), "unschedulable: %s", describePods(pods))
			pending = unschedulable
		}).WithContext(ctx).Should(Succeed())
		Expect(scheduledCondition(pending[0]).Message).To(ContainSubstring("nvidia.com/gpu"), "the scheduler's reason")

		// The scheduler keeps it Pending; the pool must not claim to be Ready.
		Consistently(func(g Gomega) {
			var p v1alpha1.WorkerPool
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(overflow), &p)).To(Succeed())
			g.Expect(p.Status.ReadyReplicas).To(BeNumerically("<=", 6))
			g.Expect(meta.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ConditionReady)).To(BeFalse(), "Ready with a Pending worker")
		}).WithContext(ctx).WithTimeout(3 * time.Second).Should(Succeed())
	})

	It("garbage-collects the Deployment and pods of a deleted pool", func(ctx SpecContext) {
		overflow := &v1alpha1.WorkerPool{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gpu-overflow"}}
		deployments := poolDeployments(ctx, ns, overflow.Name)
		Expect(deployments).To(HaveLen(1))
		Expect(deployments[0].OwnerReferences).To(ContainElement(HaveField("Kind", "WorkerPool")))

		Expect(k8s.Delete(ctx, overflow)).To(Succeed())
		Eventually(func(g Gomega) {
			err := k8s.Get(ctx, client.ObjectKeyFromObject(&deployments[0]), &deployments[0])
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "deployment %s still there (err %v)", deployments[0].Name, err)
			g.Expect(poolPods(ctx, ns, overflow.Name)).To(BeEmpty())
		}).WithContext(ctx).Should(Succeed())

		// The other pools are untouched.
		runningPods(ctx, ns, gpuPool.Name, 2)
	})

	It("did all of it with the chart's RBAC: the manager had no request forbidden", func() {
		// The manager impersonates the chart's ServiceAccount; a missing rule shows up as a
		// "forbidden" error in its log even where no assertion above would notice (events).
		log, err := os.ReadFile(cluster.LogFile(localcluster.ManagerProcessName))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(log)).To(ContainSubstring(`"controllerKind":"WorkerPool"`), "the manager's log is the one expected")
		for _, line := range strings.Split(string(log), "\n") {
			Expect(line).NotTo(ContainSubstring("forbidden"), "the chart's ClusterRole lacks a rule")
		}
	})
})

func scheduledCondition(p corev1.Pod) corev1.PodCondition {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			return c
		}
	}
	return corev1.PodCondition{}
}

func isUnschedulable(p corev1.Pod) bool {
	c := scheduledCondition(p)
	return c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable
}
