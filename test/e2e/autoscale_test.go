package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/controllers"
	"github.com/taskroute/taskroute/internal/localcluster"
	"github.com/taskroute/taskroute/internal/testutil"
	taskclient "github.com/taskroute/taskroute/pkg/client"
)

// The autoscaling issue's end-to-end criterion: 1,000 tasks added to a queue whose pool
// is at zero bring the pool up (the manager's real matching engine wakes the reconciler),
// worker processes started for the pods drain the queue, and the pool returns to zero
// after scaleDownDelay. Several rounds, with the times logged for docs/benchmarks.md.
var _ = Describe("Autoscaling a pool from zero on the backlog and back", Ordered, func() {
	const (
		ns       = "e2e-autoscale"
		queue    = "thumbnails"
		producer = "producer"
		tasks    = 1000
		rounds   = 3
		maxPods  = 4
		delay    = 10 * time.Second
	)
	var (
		pool = workerPool(ns, "thumbs", queue, 0, withCPUClass, func(p *v1alpha1.WorkerPool) {
			p.Spec.Autoscaling = &v1alpha1.Autoscaling{Mode: v1alpha1.AutoscalingBacklog, MinReplicas: ptr.To[int32](0),
				MaxReplicas: maxPods, TargetBacklogPerWorker: 100, ScaleDownDelay: &metav1.Duration{Duration: delay}}
		})
		workerBin string
		caller    *taskclient.Client
		workers   []*localcluster.Worker
	)

	BeforeAll(func(ctx SpecContext) {
		var err error
		workerBin, err = cluster.GoBuild(ctx, testutil.RepoRoot(), "./test/matching/testworker", "testworker")
		Expect(err).NotTo(HaveOccurred())
		Expect(cluster.CreateNamespace(ctx, ns)).To(Succeed())
		Expect(k8s.Create(ctx, &v1alpha1.TaskQueue{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: queue}})).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: producer}})).To(Succeed())
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		caller = dialAs(ctx, ns, producer)
		DeferCleanup(func(ctx SpecContext) {
			_ = caller.Close()
			stopWorkers(&workers)
			Expect(client.IgnoreNotFound(k8s.Delete(ctx, pool))).To(Succeed())
		}, NodeTimeout(time.Minute))
	})

	AfterEach(func() {
		if !CurrentSpecReport().Failed() {
			return
		}
		for _, w := range workers {
			log, _ := os.ReadFile(w.LogFile)
			GinkgoWriter.Printf("----- worker %s on %s (%s) -----\n%s\n", w.Pod, w.Node, w.LogFile, tail(log, 3000))
		}
	})

	It("scales up on the first task, drains with workers on the right nodes, and returns to zero after the delay", func(ctx SpecContext) {
		Eventually(deploymentReplicasOf(ctx, ns, pool.Name)).WithContext(ctx).Should(BeEquivalentTo(0))
		var up, down []time.Duration
		for round := range rounds {
			ids := taskIDs(fmt.Sprintf("r%d", round), tasks)
			start := time.Now()
			addTasks(ctx, caller, queue, ids, nil)
			Eventually(deploymentReplicasOf(ctx, ns, pool.Name)).WithContext(ctx).WithTimeout(10 * time.Second).
				WithPolling(20 * time.Millisecond).Should(BeNumerically(">", 0))
			up = append(up, time.Since(start))

			pods := runningPods(ctx, ns, pool.Name, maxPods)
			for _, p := range pods {
				Expect(localcluster.CPUNodeNames).To(ContainElement(p.Spec.NodeName), "pod %s", p.Name)
			}
			for i := range pods {
				w, err := cluster.StartWorkerForPod(ctx, &pods[i], localcluster.WorkerOptions{Binary: workerBin, MatchingAddress: taskroute.MatchingAddress,
					Env: []string{"TESTWORKER_LOG=" + executionLog(&pods[i]), "TESTWORKER_SHUTDOWN=1s"}})
				Expect(err).NotTo(HaveOccurred(), "starting a worker for pod %s", pods[i].Name)
				workers = append(workers, w)
			}
			Eventually(func(g Gomega) {
				g.Expect(countIn(listTaskStates(ctx, g, caller, queue), ids, taskclient.StateCompleted)).To(Equal(tasks))
			}).WithContext(ctx).Should(Succeed())
			drained := time.Now()

			Eventually(deploymentReplicasOf(ctx, ns, pool.Name)).WithContext(ctx).WithTimeout(delay + time.Minute).
				WithPolling(100 * time.Millisecond).Should(BeEquivalentTo(0))
			down = append(down, time.Since(drained))
			Eventually(func() []corev1.Pod { return poolPods(ctx, ns, pool.Name) }).WithContext(ctx).Should(BeEmpty())
			stopWorkers(&workers)
			GinkgoWriter.Printf("round %d: first task to replicas raised %s; queue drained to replicas 0 %s\n", round, up[round], down[round])
		}
		GinkgoWriter.Printf("first task to replica change: %s; drained to zero (scaleDownDelay %s): %s\n", minMedMax(up), delay, minMedMax(down))
		Expect(slices.Max(up)).To(BeNumerically("<", 2*time.Second), "first task to replica change, worst run")
		Expect(slices.Min(down)).To(BeNumerically(">=", delay-2*time.Second), "shrank before scaleDownDelay (its start is truncated to seconds)")
	})
})

func deploymentReplicasOf(ctx context.Context, namespace, pool string) func() int32 {
	return func() int32 {
		ds := poolDeployments(ctx, namespace, pool)
		if len(ds) != 1 || ds[0].Spec.Replicas == nil {
			return -1
		}
		return *ds[0].Spec.Replicas
	}
}

func stopWorkers(workers *[]*localcluster.Worker) {
	for _, w := range *workers {
		Expect(cluster.StopProcess(w.Name, 3*time.Second)).To(Succeed())
	}
	*workers = nil
}

func minMedMax(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("min %s median %s max %s", s[0].Round(time.Millisecond), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}

// The busy/idle criterion: a scale-down with some workers busy and some idle removes only
// idle ones, because the operator keeps each pod's deletion cost at its live load and the
// real ReplicaSet controller deletes the cheapest pods first.
var _ = Describe("Autoscaling down with busy and idle workers", Ordered, func() {
	const (
		ns       = "e2e-autoscale-busy"
		queue    = "renders"
		producer = "producer"
	)
	var (
		pool = workerPool(ns, "renderers", queue, 0, withCPUClass, func(p *v1alpha1.WorkerPool) {
			p.Spec.Limits = &v1alpha1.WorkerLimits{Slots: 1}
			p.Spec.Autoscaling = &v1alpha1.Autoscaling{Mode: v1alpha1.AutoscalingBacklog, MinReplicas: ptr.To[int32](0),
				MaxReplicas: 4, TargetBacklogPerWorker: 1, ScaleDownDelay: &metav1.Duration{Duration: 5 * time.Second}}
		})
		workerBin string
		caller    *taskclient.Client
		workers   []*localcluster.Worker
	)

	BeforeAll(func(ctx SpecContext) {
		var err error
		workerBin, err = cluster.GoBuild(ctx, testutil.RepoRoot(), "./test/matching/testworker", "testworker")
		Expect(err).NotTo(HaveOccurred())
		Expect(cluster.CreateNamespace(ctx, ns)).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: producer}})).To(Succeed())
		Expect(k8s.Create(ctx, pool)).To(Succeed())
		caller = dialAs(ctx, ns, producer)
		DeferCleanup(func(ctx SpecContext) {
			_ = caller.Close()
			stopWorkers(&workers)
			Expect(client.IgnoreNotFound(k8s.Delete(ctx, pool))).To(Succeed())
		}, NodeTimeout(time.Minute))
	})

	It("removes only the idle workers", func(ctx SpecContext) {
		// Two tasks that keep a worker busy for two minutes, two that end at once: four
		// one-slot workers, of which two stay busy.
		batch := []taskclient.Task{
			{ID: "long-0", Queue: queue, Type: "sleep", Payload: []byte("2m")},
			{ID: "long-1", Queue: queue, Type: "sleep", Payload: []byte("2m")},
			{ID: "short-0", Queue: queue, Type: "sleep", Payload: []byte("1ms")},
			{ID: "short-1", Queue: queue, Type: "sleep", Payload: []byte("1ms")},
		}
		_, err := caller.AddTasks(ctx, batch)
		Expect(err).NotTo(HaveOccurred())
		pods := runningPods(ctx, ns, pool.Name, 4)
		for i := range pods {
			w, err := cluster.StartWorkerForPod(ctx, &pods[i], localcluster.WorkerOptions{Binary: workerBin, MatchingAddress: taskroute.MatchingAddress,
				Env: []string{"TESTWORKER_TYPES=sleep", "TESTWORKER_LOG=" + executionLog(&pods[i]), "TESTWORKER_SHUTDOWN=1s"}})
			Expect(err).NotTo(HaveOccurred(), "starting a worker for pod %s", pods[i].Name)
			workers = append(workers, w)
		}
		// The pods that run the long tasks, from the workers' own execution logs.
		var busy []string
		Eventually(func(g Gomega) {
			busy = nil
			for i := range pods {
				log, _ := os.ReadFile(executionLog(&pods[i]))
				if strings.Contains(string(log), " long-") {
					busy = append(busy, pods[i].Name)
				}
			}
			g.Expect(busy).To(HaveLen(2))
		}).WithContext(ctx).Should(Succeed())

		Eventually(deploymentReplicasOf(ctx, ns, pool.Name)).WithContext(ctx).Should(BeEquivalentTo(2))
		Eventually(func() []string {
			var names []string
			for _, p := range poolPods(ctx, ns, pool.Name) {
				names = append(names, p.Name)
			}
			slices.Sort(names)
			return names
		}).WithContext(ctx).Should(ConsistOf(busy))
		for _, p := range poolPods(ctx, ns, pool.Name) {
			Expect(p.Annotations).To(HaveKeyWithValue(controllers.AnnotationPodDeletionCost, "1"), "busy pod %s", p.Name)
		}
	})
})
