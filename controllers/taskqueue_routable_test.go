package controllers

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/matching/server"
	"github.com/taskroute/taskroute/pkg/client"
)

// startMatching runs the real matching service (Pebble in a temp dir, plaintext gRPC on a
// loopback port) for one test.
func startMatching() *server.Service {
	svc, err := server.Open(server.Config{Address: "127.0.0.1:0", DataDir: GinkgoT().TempDir()})
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = svc.Start(ctx) }()
	DeferCleanup(func() { cancel(); svc.Stop() })
	return svc
}

// pollOnce polls the queue once as a worker with the given capabilities and returns the
// tasks it got (the poll is what makes the worker a live poller of the queue).
func pollOnce(ctx context.Context, c *client.Client, queue, identity string, caps client.Capabilities) []*matchingv1.Task {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := c.Service().PollTasks(pctx, &matchingv1.PollTasksRequest{
		Namespace: c.Namespace(), Queue: queue, WorkerIdentity: identity, MaxTasks: 1, Capabilities: caps.Proto(),
	})
	Expect(err).NotTo(HaveOccurred())
	return resp.GetTasks()
}

var _ = Describe("TaskQueue Routable condition, against the real matching service", func() {
	It("is False naming the missing capability and the task count until a capable worker polls", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		svc := startMatching()
		c, err := client.Dial(ctx, svc.Addr(), client.WithNamespace(ns))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(c.Close)

		q := &v1alpha1.TaskQueue{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "embeddings"}}
		Expect(k8sClient.Create(ctx, q)).To(Succeed())
		// The suite's manager (whose registry is in memory) reconciles the new object
		// once; after that only the reconciler below, backed by the real engine, writes.
		Eventually(getQueue(ctx, q)).Should(HaveField("Status.ObservedGeneration", BeEquivalentTo(1)))
		r := &TaskQueueReconciler{Client: k8sClient, Recorder: &events.FakeRecorder{},
			Options: Options{Registry: svc.Engine(), StatsRefreshInterval: time.Minute}}
		reconcile := func() *v1alpha1.TaskQueue {
			_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: ctrlclient.ObjectKeyFromObject(q)})
			Expect(err).NotTo(HaveOccurred())
			return getQueue(ctx, q)()
		}

		By("adding 42 tasks that require gpu=a100 and one that requires nothing")
		tasks := []client.Task{{ID: "plain", Queue: "embeddings", Type: "embed"}}
		for i := range 42 {
			tasks = append(tasks, client.Task{ID: fmt.Sprintf("gpu-%02d", i), Queue: "embeddings", Type: "embed",
				Requires: client.Capabilities{"gpu": "a100"}})
		}
		_, err = c.AddTasks(ctx, tasks)
		Expect(err).NotTo(HaveOccurred())

		By("a CPU worker polling: it takes the plain task, not the GPU tasks")
		Expect(pollOnce(ctx, c, "embeddings", "cpu-worker", client.Capabilities{"arch": "amd64"})).To(
			ConsistOf(HaveField("TaskId", "plain")))
		got := reconcile()
		Expect(got.Status.BacklogCount).To(BeEquivalentTo(42))
		Expect(got).To(haveQueueCondition(v1alpha1.ConditionRoutable, metav1.ConditionFalse, v1alpha1.ReasonNoCapableWorkers))
		Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionRoutable).Message).To(
			Equal("42 tasks require gpu=a100: no connected worker has gpu=a100"))

		By("a GPU worker polling: it takes one task, and the other 41 can go to it")
		Expect(pollOnce(ctx, c, "embeddings", "gpu-worker", client.Capabilities{"gpu": "a100", "arch": "amd64"})).To(HaveLen(1))
		got = reconcile()
		Expect(got.Status.BacklogCount).To(BeEquivalentTo(41))
		Expect(got).To(haveQueueCondition(v1alpha1.ConditionRoutable, metav1.ConditionTrue, v1alpha1.ReasonTasksRoutable))
	})
})
