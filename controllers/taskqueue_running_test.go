package controllers

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/pkg/client"
)

var _ = Describe("TaskQueue running tasks and unknown task types, against the real matching service", func() {
	It("shows the attempts running now and the task types workers did not register", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		svc := startMatching()
		c, err := client.Dial(ctx, svc.Addr(), client.WithNamespace(ns))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(c.Close)

		q := &v1alpha1.TaskQueue{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "jobs"}}
		Expect(k8sClient.Create(ctx, q)).To(Succeed())
		Eventually(getQueue(ctx, q)).Should(HaveField("Status.ObservedGeneration", BeEquivalentTo(1)))
		r := &TaskQueueReconciler{Client: k8sClient, Recorder: &events.FakeRecorder{},
			Options: Options{Registry: svc.Engine(), StatsRefreshInterval: time.Minute}}
		reconcile := func() *v1alpha1.TaskQueue {
			_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: ctrlclient.ObjectKeyFromObject(q)})
			Expect(err).NotTo(HaveOccurred())
			return getQueue(ctx, q)()
		}

		By("a worker starting three tasks, one of a type it did not register")
		_, err = c.AddTasks(ctx, []client.Task{{ID: "a", Queue: "jobs", Type: "embed"}, {ID: "b", Queue: "jobs", Type: "embed"},
			{ID: "g", Queue: "jobs", Type: "ghost"}})
		Expect(err).NotTo(HaveOccurred())
		var started []*matchingv1.Task
		for len(started) < 3 {
			started = append(started, pollOnce(ctx, c, "jobs", "worker-1", nil)...)
		}
		got := reconcile()
		Expect(got.Status.RunningTasks).To(BeEquivalentTo(3))
		Expect(got.Status.UnknownTaskTypes).To(BeEmpty())

		By("the worker failing the unknown type's attempt and completing one task")
		for _, tk := range started {
			switch tk.TaskType {
			case "ghost":
				_, err = c.Service().FailTask(ctx, &matchingv1.FailTaskRequest{Namespace: ns, TaskId: tk.TaskId, LeaseId: tk.LeaseId, WorkerIdentity: "worker-1",
					Failure: &matchingv1.Failure{Message: "not registered", ErrorType: "UnknownTaskType"}})
			case "embed":
				if tk.TaskId == "a" {
					_, err = c.Service().CompleteTask(ctx, &matchingv1.CompleteTaskRequest{Namespace: ns, TaskId: tk.TaskId, LeaseId: tk.LeaseId})
				}
			}
			Expect(err).NotTo(HaveOccurred())
		}
		got = reconcile()
		Expect(got.Status.RunningTasks).To(BeEquivalentTo(1))
		Expect(got.Status.UnknownTaskTypes).To(ConsistOf(And(
			HaveField("TaskType", "ghost"), HaveField("Failures", BeEquivalentTo(1)),
			HaveField("LastWorkerIdentity", "worker-1"), HaveField("LastSeenTime", Not(BeNil())))))
	})
})
