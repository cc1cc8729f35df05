package controllers

import (
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/render"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

func newPool(ns, name, queue string) *v1alpha1.WorkerPool {
	return &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.WorkerPoolSpec{
			Queue: queue,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "worker", Image: "example.com/worker:1",
			}}}},
		},
	}
}

func getDeployment(ctx context.Context, ns, name string) func() (*appsv1.Deployment, error) {
	return func() (*appsv1.Deployment, error) {
		d := &appsv1.Deployment{}
		return d, k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, d)
	}
}

func getPool(ctx context.Context, p *v1alpha1.WorkerPool) func() *v1alpha1.WorkerPool {
	return func() *v1alpha1.WorkerPool {
		out := &v1alpha1.WorkerPool{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(p), out)).To(Succeed())
		return out
	}
}

func condition(t string) func(*v1alpha1.WorkerPool) *metav1.Condition {
	return func(p *v1alpha1.WorkerPool) *metav1.Condition {
		return meta.FindStatusCondition(p.Status.Conditions, t)
	}
}

func haveCondition(t string, status metav1.ConditionStatus, reason string) OmegaMatcher {
	return WithTransform(condition(t), And(Not(BeNil()), HaveField("Status", status), HaveField("Reason", reason)))
}

func envOf(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

var _ = Describe("WorkerPool reconciler", func() {
	var ctx context.Context
	var ns string
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	It("applies a GPU pool's Deployment with affinity, tolerations, resources and the worker contract", func() {
		pool := newPool(ns, "gpu-pool", "inference")
		pool.Spec.Version = "v7"
		pool.Spec.Capabilities = []v1alpha1.Capability{{Name: "gpu", Value: "a100"}}
		pool.Spec.Placement = &v1alpha1.Placement{Hosts: []string{"node-2", "node-1"}}
		pool.Spec.Limits = &v1alpha1.WorkerLimits{Slots: 4}
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())

		var d *appsv1.Deployment
		Eventually(func(g Gomega) {
			var err error
			d, err = getDeployment(ctx, ns, "gpu-pool")()
			g.Expect(err).NotTo(HaveOccurred())
		}).Should(Succeed())

		Expect(metav1.IsControlledBy(d, pool)).To(BeTrue(), "owner reference to the pool")
		Expect(d.Labels).To(HaveKeyWithValue(render.LabelVersion, "v7"))
		Expect(d.Spec.Selector.MatchLabels).To(Equal(map[string]string{render.LabelName: render.WorkerAppName, render.LabelPool: "gpu-pool"}))
		Expect(d.Spec.Template.Labels).To(HaveKeyWithValue(render.LabelQueue, "inference"))
		Expect(*d.Spec.Replicas).To(BeEquivalentTo(1))

		terms := d.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		Expect(terms).To(HaveLen(1))
		Expect(terms[0].MatchExpressions).To(ConsistOf(
			corev1.NodeSelectorRequirement{Key: "capabilities.taskroute.dev/gpu", Operator: corev1.NodeSelectorOpIn, Values: []string{"a100"}},
			corev1.NodeSelectorRequirement{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{"node-1", "node-2"}},
		))
		Expect(d.Spec.Template.Spec.Tolerations).To(ContainElement(corev1.Toleration{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists}))
		c := d.Spec.Template.Spec.Containers[0]
		Expect(c.Resources.Limits[render.NvidiaGPU]).To(Equal(resource.MustParse("1")))
		Expect(c.Resources.Requests[render.NvidiaGPU]).To(Equal(resource.MustParse("1")))

		env := envOf(c)
		Expect(env[workerenv.Address].Value).To(Equal(testMatchingAddress))
		Expect(env[workerenv.Namespace].Value).To(Equal(ns))
		Expect(env[workerenv.Queue].Value).To(Equal("inference"))
		Expect(env[workerenv.Capabilities].Value).To(Equal("gpu=a100"))
		Expect(env[workerenv.Slots].Value).To(Equal("4"))
		Expect(env[workerenv.WorkerID].ValueFrom.FieldRef.FieldPath).To(Equal("metadata.name"))
		Expect(env[workerenv.NodeName].ValueFrom.FieldRef.FieldPath).To(Equal("spec.nodeName"))

		// Field ownership: everything is applied by the "taskroute" manager.
		Expect(d.ManagedFields).To(ContainElement(And(HaveField("Manager", "taskroute"), HaveField("Operation", metav1.ManagedFieldsOperationApply))))

		Eventually(func(g Gomega) {
			var evs eventsv1.EventList
			g.Expect(k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
			g.Expect(evs.Items).To(ContainElement(And(HaveField("Reason", EventDeploymentCreated), HaveField("Regarding.Name", "gpu-pool"))))
		}).Should(Succeed())
	})

	It("updates the Deployment when the pool changes, and writes nothing when it does not", func() {
		pool := newPool(ns, "orders", "orders")
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(HaveField("Status.ObservedGeneration", pool.Generation))

		By("changing replicas and version")
		updateSpec(ctx, pool, func() { pool.Spec.Replicas, pool.Spec.Version = ptr.To[int32](3), "v2" })
		Eventually(func(g Gomega) {
			d, err := getDeployment(ctx, ns, "orders")()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(*d.Spec.Replicas).To(BeEquivalentTo(3))
			g.Expect(d.Labels).To(HaveKeyWithValue(render.LabelVersion, "v2"))
			g.Expect(envOf(d.Spec.Template.Spec.Containers[0])[workerenv.Version].Value).To(Equal("v2"))
		}).Should(Succeed())
		Eventually(getPool(ctx, pool)).Should(And(
			HaveField("Status.ObservedGeneration", pool.Generation),
			HaveField("Status.DesiredReplicas", BeEquivalentTo(3)),
		))

		By("forcing reconciles of the unchanged pool")
		d, err := getDeployment(ctx, ns, "orders")()
		Expect(err).NotTo(HaveOccurred())
		rv := d.ResourceVersion
		before := reconcileCount("workerpool")
		touch(ctx, pool)
		Eventually(func() float64 { return reconcileCount("workerpool") }).Should(BeNumerically(">", before))
		touch(ctx, pool)
		Eventually(func() float64 { return reconcileCount("workerpool") }).Should(BeNumerically(">", before+1))
		Consistently(func() string {
			d, err := getDeployment(ctx, ns, "orders")()
			Expect(err).NotTo(HaveOccurred())
			return d.ResourceVersion
		}, "1s").Should(Equal(rv), "the Deployment must not be written when nothing changed")

		By("repairing a Deployment that someone else scaled")
		Expect(k8sClient.Patch(ctx, d, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":9}}`)))).To(Succeed())
		Eventually(func() int32 {
			d, err := getDeployment(ctx, ns, "orders")()
			Expect(err).NotTo(HaveOccurred())
			return *d.Spec.Replicas
		}).Should(BeEquivalentTo(3))
	})

	It("derives status and conditions from the Deployment's status", func() {
		pool := newPool(ns, "status", "status-q")
		pool.Spec.Replicas = ptr.To[int32](2)
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(And(
			HaveField("Status.DeploymentName", "status"),
			HaveField("Status.Selector", "app.kubernetes.io/name=taskroute-worker,taskroute.dev/pool=status"),
			HaveField("Status.DesiredReplicas", BeEquivalentTo(2)),
			haveCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonWorkersNotReady),
			haveCondition(v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonRollingOut),
			haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected),
		))

		By("reporting one ready worker of two")
		d, err := getDeployment(ctx, ns, "status")()
		Expect(err).NotTo(HaveOccurred())
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1}
		Expect(k8sClient.Status().Update(ctx, d)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(And(
			HaveField("Status.Replicas", BeEquivalentTo(2)),
			HaveField("Status.ReadyReplicas", BeEquivalentTo(1)),
			haveCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonWorkersNotReady),
			haveCondition(v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonScaling),
		))

		By("reporting all workers ready")
		d.Status.ReadyReplicas, d.Status.AvailableReplicas = 2, 2
		Expect(k8sClient.Status().Update(ctx, d)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(And(
			HaveField("Status.ReadyReplicas", BeEquivalentTo(2)),
			HaveField("Status.UpdatedReplicas", BeEquivalentTo(2)),
			haveCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonWorkersReady),
			haveCondition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonComplete),
		))

		By("reporting a stuck rollout")
		d.Status.Conditions = []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
			Message: `ReplicaSet "status-abc" has timed out progressing.`,
		}}
		Expect(k8sClient.Status().Update(ctx, d)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(And(
			haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonProgressDeadline),
			haveCondition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonProgressDeadline),
		))
	})

	It("reports a missing TaskQueue and resolves it when the queue appears, through the watch", func() {
		pool := newPool(ns, "late-queue", "late")
		pool.Spec.Priorities = []int32{4}
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(haveCondition(v1alpha1.ConditionQueueResolved, metav1.ConditionFalse, ReasonTaskQueueNotFound))
		// The pool still deploys: queues exist on demand.
		Eventually(getDeployment(ctx, ns, "late-queue")).ShouldNot(BeNil())

		By("creating a TaskQueue with too few priority levels")
		q := &v1alpha1.TaskQueue{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "late"},
			Spec: v1alpha1.TaskQueueSpec{Priority: &v1alpha1.PriorityConfig{Levels: 3, DefaultLevel: 1}}}
		Expect(k8sClient.Create(ctx, q)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(And(
			haveCondition(v1alpha1.ConditionQueueResolved, metav1.ConditionFalse, ReasonPriorityOutOfRange),
			haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonPriorityOutOfRange),
		))

		By("raising the queue's levels")
		updateSpec(ctx, q, func() { q.Spec.Priority.Levels = 5 })
		Eventually(getPool(ctx, pool)).Should(And(
			haveCondition(v1alpha1.ConditionQueueResolved, metav1.ConditionTrue, ReasonTaskQueueFound),
			haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected),
		))
	})

	It("counts the pool's connected workers and the queue's backlog from the registry", func() {
		pool := newPool(ns, "counted", "busy")
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(HaveField("Status.ObservedGeneration", BeNumerically(">", 0)))
		registry.SetStats(queueconfig.Key{Namespace: ns, Name: "busy"}, queueconfig.Stats{
			Backlog: []queueconfig.Backlog{{Kind: queueconfig.KindActivity, Priority: 3, Count: 40}, {Kind: queueconfig.KindWorkflow, Priority: 3, Count: 2}},
			Pollers: []queueconfig.Poller{{Identity: "counted-a", Pool: "counted"}, {Identity: "counted-b", Pool: "counted"}, {Identity: "other-a", Pool: "other"}},
		})
		touch(ctx, pool)
		Eventually(getPool(ctx, pool)).Should(And(
			HaveField("Status.ConnectedWorkers", BeEquivalentTo(2)),
			HaveField("Status.BacklogCount", BeEquivalentTo(42)),
		))
	})

	It("scales through the /scale subresource", func() {
		// No spec.replicas: the CRD default (1) makes /scale servable, as HPA and KEDA need.
		pool := newPool(ns, "scaled", "scaled")
		pool.Spec.Replicas = nil
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(HaveField("Status.Selector", Not(BeEmpty())))

		scale := &autoscalingv1.Scale{}
		Expect(k8sClient.SubResource("scale").Get(ctx, pool, scale)).To(Succeed())
		Expect(scale.Status.Selector).To(Equal(render.Selector(pool)))
		scale.Spec.Replicas = 5
		Expect(k8sClient.SubResource("scale").Update(ctx, pool, client.WithSubResourceBody(scale))).To(Succeed())

		Eventually(getPool(ctx, pool)).Should(HaveField("Spec.Replicas", HaveValue(BeEquivalentTo(5))))
		Eventually(func(g Gomega) {
			d, err := getDeployment(ctx, ns, "scaled")()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(*d.Spec.Replicas).To(BeEquivalentTo(5))
		}).Should(Succeed())
	})

	It("does not take over a Deployment it does not own", func() {
		theirs := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken"},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "theirs"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "theirs"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "example.com/theirs"}}},
				},
			},
		}
		Expect(k8sClient.Create(ctx, theirs)).To(Succeed())
		pool := newPool(ns, "taken", "q")
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		Eventually(getPool(ctx, pool)).Should(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonDeploymentConflict))
		d, err := getDeployment(ctx, ns, "taken")()
		Expect(err).NotTo(HaveOccurred())
		Expect(d.OwnerReferences).To(BeEmpty())
		Expect(strings.Join(d.Spec.Template.Spec.Containers[0].Args, "")).To(BeEmpty())
		Expect(d.Spec.Template.Spec.Containers[0].Env).To(BeEmpty())
	})
})
