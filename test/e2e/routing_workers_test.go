package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/localcluster"
	"github.com/taskroute/taskroute/internal/testutil"
	taskclient "github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

// The routing issue's end-to-end criterion: one queue served by a GPU and a CPU pool that
// the real scheduler placed, worker processes configured only by the env the operator
// rendered into their pods, and half of 1,000 tasks requiring a GPU. GPU tasks are added
// first while only the CPU workers run: the CPU tasks behind them must still drain.
var _ = Describe("Capability routing end to end with GPU and CPU pools of one queue", Ordered, func() {
	const (
		ns       = "e2e-routing-workers"
		queue    = "render"
		producer = "producer"
		perKind  = 500
	)
	var (
		gpuPool   = workerPool(ns, "gpu", queue, 2, withGPU)
		cpuPool   = workerPool(ns, "cpu", queue, 2, withCPUClass)
		workerBin string
		workers   []*localcluster.Worker
		gpuPods   []corev1.Pod
		cpuPods   []corev1.Pod
		caller    *taskclient.Client
		gpuIDs    = taskIDs("gpu", perKind)
		cpuIDs    = taskIDs("cpu", perKind)
	)

	startWorkers := func(ctx context.Context, pods []corev1.Pod) {
		for i := range pods {
			pod := &pods[i]
			w, err := cluster.StartWorkerForPod(ctx, pod, localcluster.WorkerOptions{
				Binary:          workerBin,
				MatchingAddress: taskroute.MatchingAddress,
				// Observation only: where each task ran. Queue, capabilities and slots come
				// from the pod's env; the task type is the testworker's default (echo).
				Env: []string{
					"TESTWORKER_LOG=" + executionLog(pod),
					"TESTWORKER_SHUTDOWN=1s",
				},
			})
			Expect(err).NotTo(HaveOccurred(), "starting a worker for pod %s", pod.Name)
			workers = append(workers, w)
		}
	}

	BeforeAll(func(ctx SpecContext) {
		var err error
		workerBin, err = cluster.GoBuild(ctx, testutil.RepoRoot(), "./test/matching/testworker", "testworker")
		Expect(err).NotTo(HaveOccurred())

		Expect(cluster.CreateNamespace(ctx, ns)).To(Succeed())
		Expect(k8s.Create(ctx, &v1alpha1.TaskQueue{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: queue}})).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: producer}})).To(Succeed())
		Expect(k8s.Create(ctx, gpuPool)).To(Succeed())
		Expect(k8s.Create(ctx, cpuPool)).To(Succeed())
		caller = dialAs(ctx, ns, producer)

		// Stopped workers and deleted pools give the GPUs back, so specs that count free
		// GPUs see the same nodes whatever order the containers run in.
		DeferCleanup(func(ctx SpecContext) {
			_ = caller.Close()
			for _, w := range workers {
				Expect(cluster.StopProcess(w.Name, 3*time.Second)).To(Succeed())
			}
			for _, p := range []*v1alpha1.WorkerPool{gpuPool, cpuPool} {
				Expect(client.IgnoreNotFound(k8s.Delete(ctx, p))).To(Succeed())
			}
			Eventually(func(g Gomega) {
				g.Expect(poolPods(ctx, ns, gpuPool.Name)).To(BeEmpty())
				g.Expect(poolPods(ctx, ns, cpuPool.Name)).To(BeEmpty())
			}).WithContext(ctx).Should(Succeed())
		}, NodeTimeout(3*time.Minute))
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

	It("places the pools and renders their capabilities into the pods' env", func(ctx SpecContext) {
		gpuPods = runningPods(ctx, ns, gpuPool.Name, 2)
		cpuPods = runningPods(ctx, ns, cpuPool.Name, 2)
		for _, p := range gpuPods {
			Expect(localcluster.GPUNodeNames).To(ContainElement(p.Spec.NodeName), "GPU pod %s", p.Name)
			Expect(containerEnv(p, workerenv.Capabilities)).To(Equal("gpu=a100"), "capabilities of GPU pod %s", p.Name)
			Expect(containerEnv(p, workerenv.Queue)).To(Equal(queue))
		}
		for _, p := range cpuPods {
			Expect(localcluster.CPUNodeNames).To(ContainElement(p.Spec.NodeName), "CPU pod %s", p.Name)
			Expect(containerEnv(p, workerenv.Capabilities)).To(Equal("class=cpu"), "capabilities of CPU pod %s", p.Name)
			Expect(containerEnv(p, workerenv.Queue)).To(Equal(queue))
		}
	})

	It("drains CPU tasks added behind waiting GPU tasks, and marks the queue not Routable", func(ctx SpecContext) {
		Expect(cpuPods).To(HaveLen(2), "the first spec found the pods")
		startWorkers(ctx, cpuPods)

		addTasks(ctx, caller, queue, gpuIDs, taskclient.Capabilities{"gpu": ""})
		start := time.Now()
		addTasks(ctx, caller, queue, cpuIDs, nil)

		Eventually(func(g Gomega) {
			states := listTaskStates(ctx, g, caller, queue)
			g.Expect(countIn(states, cpuIDs, taskclient.StateCompleted)).To(Equal(perKind), "CPU tasks completed")
			g.Expect(countIn(states, gpuIDs, taskclient.StateScheduled)).To(Equal(perKind), "GPU tasks waiting")
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
		cpuDrain := time.Since(start)
		GinkgoWriter.Printf("MEASURED cpu drain while GPU tasks wait: %d tasks in %s\n", perKind, cpuDrain.Round(time.Millisecond))
		AddReportEntry("cpu drain while GPU tasks wait", cpuDrain.Round(time.Millisecond).String())

		Eventually(func(g Gomega) {
			c := routableCondition(ctx, g, ns, queue)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse), "%s: %s", c.Reason, c.Message)
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonNoCapableWorkers))
			g.Expect(c.Message).To(ContainSubstring("gpu"))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		// Still nothing took a GPU task: no connected worker has a GPU.
		states := listTaskStates(ctx, Default, caller, queue)
		Expect(countIn(states, gpuIDs, taskclient.StateScheduled)).To(Equal(perKind), "GPU tasks waiting")
	})

	It("drains the GPU tasks on the GPU workers once they run, and turns Routable True", func(ctx SpecContext) {
		Expect(gpuPods).To(HaveLen(2), "the first spec found the pods")
		Expect(listTaskStates(ctx, Default, caller, queue)).To(HaveLen(2*perKind), "the previous spec added the tasks")
		start := time.Now()
		startWorkers(ctx, gpuPods)
		Eventually(func(g Gomega) {
			states := listTaskStates(ctx, g, caller, queue)
			g.Expect(countIn(states, gpuIDs, taskclient.StateCompleted)).To(Equal(perKind), "GPU tasks completed")
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
		gpuDrain := time.Since(start)
		GinkgoWriter.Printf("MEASURED gpu drain after the GPU workers started: %d tasks in %s\n", perKind, gpuDrain.Round(time.Millisecond))
		AddReportEntry("gpu drain", gpuDrain.Round(time.Millisecond).String())

		Eventually(func(g Gomega) {
			c := routableCondition(ctx, g, ns, queue)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "%s: %s", c.Reason, c.Message)
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonTasksRoutable))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	})

	It("ran every task exactly once, and no GPU task on a worker without a GPU", func(ctx SpecContext) {
		states := listTaskStates(ctx, Default, caller, queue)
		Expect(states).To(HaveLen(2 * perKind))
		for id, t := range states {
			Expect(t.State).To(Equal(taskclient.StateCompleted), "task %s", id)
			Expect(t.Attempt).To(Equal(1), "attempts of task %s", id)
		}

		gpuPodNames := map[string]bool{}
		for _, p := range gpuPods {
			gpuPodNames[p.Name] = true
		}
		ranOn := map[string]string{}
		for _, p := range append(append([]corev1.Pod{}, gpuPods...), cpuPods...) {
			for _, id := range executions(executionLog(&p)) {
				Expect(ranOn).NotTo(HaveKey(id), "task %s ran on %s and %s", id, ranOn[id], p.Name)
				ranOn[id] = p.Name
			}
		}
		Expect(ranOn).To(HaveLen(2*perKind), "executions recorded")
		for _, id := range gpuIDs {
			Expect(gpuPodNames).To(HaveKey(ranOn[id]), "GPU task %s ran on %q", id, ranOn[id])
		}
		for _, id := range cpuIDs {
			Expect(gpuPodNames).NotTo(HaveKey(ranOn[id]), "CPU task %s ran on %q before a GPU worker existed", id, ranOn[id])
		}
	})
})

func taskIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	return ids
}

// addTasks adds echo tasks with ids (in one batch, in order), requiring requires.
func addTasks(ctx context.Context, c *taskclient.Client, queue string, ids []string, requires taskclient.Capabilities) {
	batch := make([]taskclient.Task, len(ids))
	for i, id := range ids {
		batch[i] = taskclient.Task{ID: id, Queue: queue, Type: "echo", Payload: []byte(id), Requires: requires}
	}
	added, err := c.AddTasks(ctx, batch)
	Expect(err).NotTo(HaveOccurred())
	Expect(added).To(HaveLen(len(ids)))
}

// listTaskStates lists every task of queue, following the pages.
func listTaskStates(ctx context.Context, g Gomega, c *taskclient.Client, queue string) map[string]*taskclient.TaskInfo {
	out := map[string]*taskclient.TaskInfo{}
	opts := taskclient.ListTasksOptions{PageSize: 1000}
	for {
		page, err := c.ListTasks(ctx, queue, opts)
		g.Expect(err).NotTo(HaveOccurred())
		for _, t := range page.Tasks {
			out[t.ID] = t
		}
		if page.NextPageToken == "" {
			return out
		}
		opts.PageToken = page.NextPageToken
	}
}

func countIn(states map[string]*taskclient.TaskInfo, ids []string, state taskclient.State) int {
	n := 0
	for _, id := range ids {
		if t, ok := states[id]; ok && t.State == state {
			n++
		}
	}
	return n
}

func routableCondition(ctx context.Context, g Gomega, namespace, queue string) *metav1.Condition {
	var q v1alpha1.TaskQueue
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: queue}, &q)).To(Succeed())
	c := meta.FindStatusCondition(q.Status.Conditions, v1alpha1.ConditionRoutable)
	g.Expect(c).NotTo(BeNil(), "Routable condition")
	return c
}

// containerEnv is the literal value of the first container's env var name ("" if unset).
func containerEnv(p corev1.Pod, name string) string {
	for _, v := range p.Spec.Containers[0].Env {
		if v.Name == name {
			return v.Value
		}
	}
	return ""
}

func executionLog(pod *corev1.Pod) string {
	return filepath.Join(cluster.WorkDir, "workers", pod.Namespace, pod.Name, "executions.log")
}
