package controllers

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

func getQueue(ctx context.Context, q *v1alpha1.TaskQueue) func() *v1alpha1.TaskQueue {
	return func() *v1alpha1.TaskQueue {
		out := &v1alpha1.TaskQueue{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(q), out)).To(Succeed())
		return out
	}
}

func haveQueueCondition(t string, status metav1.ConditionStatus, reason string) OmegaMatcher {
	return WithTransform(func(q *v1alpha1.TaskQueue) *metav1.Condition { return meta.FindStatusCondition(q.Status.Conditions, t) },
		And(Not(BeNil()), HaveField("Status", status), HaveField("Reason", reason)))
}

var _ = Describe("TaskQueue reconciler", func() {
	var ctx context.Context
	var ns string
	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace(ctx)
	})

	It("publishes the configuration to the registry and removes it on delete", func() {
		q := &v1alpha1.TaskQueue{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payments"},
			Spec: v1alpha1.TaskQueueSpec{
				RateLimit: &v1alpha1.QueueRateLimit{TasksPerSecond: resource.MustParse("2.5"), Burst: 5},
				Priority:  &v1alpha1.PriorityConfig{Levels: 3, DefaultLevel: 2},
			},
		}
		Expect(k8sClient.Create(ctx, q)).To(Succeed())
		key := queueconfig.Key{Namespace: ns, Name: "payments"}

		Eventually(func(g Gomega) {
			cfg, ok := registry.Config(key)
			g.Expect(ok).To(BeTrue())
			g.Expect(cfg.RateLimit).To(Equal(2.5))
			g.Expect(cfg.Burst).To(Equal(5))
			g.Expect(cfg.PriorityLevels).To(Equal(3))
			g.Expect(cfg.DefaultPriority).To(Equal(2))
			// Fields the user left out carry the CRD defaults.
			g.Expect(cfg.Retention).To(Equal(24 * time.Hour))
			g.Expect(cfg.StickyEnabled).To(BeTrue())
		}).Should(Succeed())
		Eventually(getQueue(ctx, q)).Should(And(
			HaveField("Finalizers", ContainElement(QueueConfigFinalizer)),
			HaveField("Status.ObservedGeneration", BeEquivalentTo(1)),
			HaveField("Status.RateLimit", v1alpha1.RateLimitOpen),
			haveQueueCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonConfigApplied),
			haveQueueCondition(v1alpha1.ConditionTaskTypesConsistent, metav1.ConditionTrue, ReasonNoPollers),
		))

		By("changing the rate")
		updateSpec(ctx, q, func() { q.Spec.RateLimit.TasksPerSecond = resource.MustParse("500m") })
		Eventually(func() float64 { cfg, _ := registry.Config(key); return cfg.RateLimit }).Should(Equal(0.5))

		By("deleting the queue")
		Expect(k8sClient.Delete(ctx, q)).To(Succeed())
		Eventually(func() bool { _, ok := registry.Config(key); return ok }).Should(BeFalse())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(q), &v1alpha1.TaskQueue{}))
		}).Should(BeTrue(), "the finalizer is removed after the configuration")
	})

	It("reports statistics and a task-type mismatch between workers", func() {
		q := &v1alpha1.TaskQueue{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "media"}}
		Expect(k8sClient.Create(ctx, q)).To(Succeed())
		Eventually(getQueue(ctx, q)).Should(haveQueueCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonConfigApplied))

		now := time.Now()
		registry.SetStats(queueconfig.Key{Namespace: ns, Name: "media"}, queueconfig.Stats{
			Backlog: []queueconfig.Backlog{
				{Kind: queueconfig.KindActivity, Priority: 3, Count: 7, OldestAge: 90 * time.Second},
				{Kind: queueconfig.KindActivity, Priority: 5, Count: 1, OldestAge: 2 * time.Second},
			},
			AddRate: 12.25, DispatchRate: 10,
			Pollers: []queueconfig.Poller{
				{Identity: "media-7f9-a", Pool: "media", Version: "v1", LastAccess: now, TaskTypes: []string{"transcode", "thumbnail"}},
				{Identity: "media-7f9-b", Pool: "media", Version: "v1", LastAccess: now, TaskTypes: []string{"thumbnail", "transcode"}},
				{Identity: "media-old-c", Pool: "media-old", Version: "v0", LastAccess: now, TaskTypes: []string{"transcode"}},
			},
			RateLimitState: queueconfig.RateLimitUnlimited,
		})
		touch(ctx, q)

		Eventually(getQueue(ctx, q)).Should(And(
			HaveField("Status.BacklogCount", BeEquivalentTo(8)),
			HaveField("Status.OldestBacklogAge.Duration", 90*time.Second),
			HaveField("Status.Backlog", HaveLen(2)),
			HaveField("Status.PollerCount", BeEquivalentTo(3)),
			HaveField("Status.Pollers", HaveLen(3)),
			HaveField("Status.RegisteredTaskTypes", Equal([]string{"thumbnail", "transcode"})),
			HaveField("Status.AddRate", HaveValue(Equal(resource.MustParse("12250m")))),
			HaveField("Status.RateLimit", v1alpha1.RateLimitUnlimited),
			haveQueueCondition(v1alpha1.ConditionTaskTypesConsistent, metav1.ConditionFalse, ReasonTaskTypeMismatch),
		))
		cond := meta.FindStatusCondition(getQueue(ctx, q)().Status.Conditions, v1alpha1.ConditionTaskTypesConsistent)
		Expect(cond.Message).To(And(ContainSubstring("media-old-c register [transcode]"), ContainSubstring("media-7f9-a, media-7f9-b register [thumbnail,transcode]")))

		By("the old worker going away")
		registry.SetStats(queueconfig.Key{Namespace: ns, Name: "media"}, queueconfig.Stats{Pollers: []queueconfig.Poller{
			{Identity: "media-7f9-a", TaskTypes: []string{"transcode", "thumbnail"}},
		}})
		touch(ctx, q)
		Eventually(getQueue(ctx, q)).Should(And(
			HaveField("Status.BacklogCount", BeEquivalentTo(0)),
			haveQueueCondition(v1alpha1.ConditionTaskTypesConsistent, metav1.ConditionTrue, ReasonTaskTypesMatch),
		))
	})

	It("refreshes statistics with a bounded periodic requeue, and writes status only on change", func() {
		q := &v1alpha1.TaskQueue{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "periodic"}}
		Expect(k8sClient.Create(ctx, q)).To(Succeed())
		Eventually(getQueue(ctx, q)).Should(HaveField("Status.ObservedGeneration", BeEquivalentTo(1)))

		// A second reconciler, called directly, against the same API server.
		r := &TaskQueueReconciler{Client: k8sClient, Recorder: &events.FakeRecorder{},
			Options: Options{Registry: registry, StatsRefreshInterval: 7 * time.Second}}
		req := ctrl.Request{NamespacedName: client.ObjectKeyFromObject(q)}
		rv := getQueue(ctx, q)().ResourceVersion
		res, err := r.Reconcile(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(res.RequeueAfter).To(Equal(7 * time.Second))
		Expect(getQueue(ctx, q)().ResourceVersion).To(Equal(rv), "an unchanged status is not written")

		registry.SetStats(queueconfig.Key{Namespace: ns, Name: "periodic"}, queueconfig.Stats{Backlog: []queueconfig.Backlog{{Kind: queueconfig.KindWorkflow, Priority: 3, Count: 3}}})
		_, err = r.Reconcile(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(getQueue(ctx, q)().Status.BacklogCount).To(BeEquivalentTo(3))
	})
})
