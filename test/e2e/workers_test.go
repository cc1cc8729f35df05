package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/localcluster"
	"github.com/taskroute/taskroute/internal/testutil"
	taskclient "github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/credentials"
)

// Kwok pods run no containers, so each worker pod is played by a local testworker process
// with the pod's rendered env, a token bound to the pod and the CA bundle the manager
// published: authentication, authorization and TLS are the real ones.
var _ = Describe("Worker processes impersonating pods take tasks through the matching service", Ordered, func() {
	const (
		ns       = "e2e-workers"
		otherNS  = "e2e-workers-other"
		queue    = "jobs"
		pool     = "cpu-workers"
		producer = "producer"
		tasks    = 30
	)
	var (
		workerBin string
		workers   = map[string]*localcluster.Worker{} // by pod name
		pods      []corev1.Pod
		caller    *taskclient.Client
	)

	startWorker := func(ctx context.Context, pod *corev1.Pod, types string) *localcluster.Worker {
		w, err := cluster.StartWorkerForPod(ctx, pod, localcluster.WorkerOptions{
			Binary:          workerBin,
			MatchingAddress: taskroute.MatchingAddress,
			Env: []string{
				"TESTWORKER_TYPES=" + types,
				"TESTWORKER_LOG=" + filepath.Join(cluster.WorkDir, "workers", pod.Namespace, pod.Name, "executions-"+types+".log"),
				"TESTWORKER_SHUTDOWN=1s",
			},
		})
		Expect(err).NotTo(HaveOccurred(), "starting a worker for pod %s", pod.Name)
		workers[pod.Name] = w
		return w
	}
	stopWorker := func(w *localcluster.Worker) {
		Expect(cluster.StopProcess(w.Name, 3*time.Second)).To(Succeed())
		// The whole process group is gone: nothing the worker started outlives it.
		Expect(syscall.Kill(-w.PID, 0)).To(MatchError(syscall.ESRCH), "process group of %s (pid %d) still exists", w.Name, w.PID)
		delete(workers, w.Pod)
	}

	BeforeAll(func(ctx SpecContext) {
		var err error
		workerBin, err = cluster.GoBuild(ctx, testutil.RepoRoot(), "./test/matching/testworker", "testworker")
		Expect(err).NotTo(HaveOccurred())

		Expect(cluster.CreateNamespace(ctx, ns)).To(Succeed())
		Expect(k8s.Create(ctx, &v1alpha1.TaskQueue{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: queue}})).To(Succeed())
		Expect(k8s.Create(ctx, workerPool(ns, pool, queue, 2, withCPUClass))).To(Succeed())
		Expect(k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: producer}})).To(Succeed())

		DeferCleanup(func() {
			for _, w := range workers {
				stopWorker(w)
			}
		})
	})

	// Worker logs are in the suite's component-log dump of the first failure; later
	// failures of this container print them here.
	AfterEach(func() {
		if !CurrentSpecReport().Failed() {
			return
		}
		for _, w := range workers {
			log, _ := os.ReadFile(w.LogFile)
			GinkgoWriter.Printf("----- worker %s on %s (%s) -----\n%s\n", w.Pod, w.Node, w.LogFile, tail(log, 4000))
		}
	})

	It("runs every task on the pool's pods, and reports the workers in the pool's and queue's status", func(ctx SpecContext) {
		pods = runningPods(ctx, ns, pool, 2)
		for _, p := range pods {
			Expect(localcluster.CPUNodeNames).To(ContainElement(p.Spec.NodeName), "pod %s of a class=cpu pool", p.Name)
		}
		for i := range pods {
			w := startWorker(ctx, &pods[i], "sleep")
			GinkgoWriter.Printf("worker process %d plays pod %s on node %s\n", w.PID, w.Pod, w.Node)
		}

		// Both workers poll before any task exists, so neither can take them all: each has
		// 10 slots and a task sleeps long enough to hold one.
		Eventually(func(g Gomega) {
			var p v1alpha1.WorkerPool
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: pool}, &p)).To(Succeed())
			g.Expect(p.Status.ConnectedWorkers).To(BeEquivalentTo(2), "WorkerPool status.connectedWorkers")
			var q v1alpha1.TaskQueue
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: queue}, &q)).To(Succeed())
			g.Expect(q.Status.PollerCount).To(BeNumerically(">=", 2), "TaskQueue status.pollerCount")
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())

		caller = dialAs(ctx, ns, producer)
		DeferCleanup(func() { _ = caller.Close() })
		batch := make([]taskclient.Task, tasks)
		for i := range batch {
			batch[i] = taskclient.Task{ID: fmt.Sprintf("job-%02d", i), Queue: queue, Type: "sleep", Payload: []byte("300ms")}
		}
		added, err := caller.AddTasks(ctx, batch)
		Expect(err).NotTo(HaveOccurred())
		Expect(added).To(HaveLen(tasks))

		for _, a := range added {
			waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
			info, err := caller.WaitForResult(waitCtx, a.ID)
			cancel()
			Expect(err).NotTo(HaveOccurred(), "waiting for task %s", a.ID)
			Expect(info.State).To(Equal(taskclient.StateCompleted), "task %s: %+v", a.ID, info.Failure)
			Expect(string(info.Result)).To(Equal("slept"), "result of task %s", a.ID)
		}

		// Every task ran exactly once, on one of the two pods; both pods took work.
		ranOn := map[string]string{}
		perPod := map[string]int{}
		for _, p := range pods {
			for _, id := range executions(filepath.Join(cluster.WorkDir, "workers", ns, p.Name, "executions-sleep.log")) {
				Expect(ranOn).NotTo(HaveKey(id), "task %s ran on %s and %s", id, ranOn[id], p.Name)
				ranOn[id] = p.Name
				perPod[p.Name]++
			}
		}
		for _, a := range added {
			Expect(ranOn).To(HaveKey(a.ID), "no worker log records task %s", a.ID)
		}
		for _, p := range pods {
			Expect(perPod[p.Name]).To(BeNumerically(">", 0), "pod %s on %s ran no task: %v", p.Name, p.Spec.NodeName, perPod)
			GinkgoWriter.Printf("pod %s on node %s ran %d tasks\n", p.Name, p.Spec.NodeName, perPod[p.Name])
		}
	})

	It("refuses a worker of another namespace, with its own pod's token, polling this namespace's queue", func(ctx SpecContext) {
		Expect(cluster.CreateNamespace(ctx, otherNS)).To(Succeed())
		Expect(k8s.Create(ctx, workerPool(otherNS, "intruder", queue, 1, withCPUClass))).To(Succeed())
		intruder := runningPods(ctx, otherNS, "intruder", 1)[0]

		token, err := cluster.PodToken(ctx, &intruder, "", 10*time.Minute)
		Expect(err).NotTo(HaveOccurred())
		c := dialWithToken(ctx, otherNS, token)
		defer c.Close()
		poll := func(namespace string) error {
			callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_, err := c.Service().PollTasks(callCtx, &matchingv1.PollTasksRequest{
				Namespace: namespace, Queue: queue, WorkerIdentity: intruder.Name, Pool: "intruder", Version: "1.0",
				MaxTasks: 1, TaskTypes: []string{"sleep"},
			})
			return err
		}
		// The token works: its own namespace's queue answers (empty when the poll ends).
		Expect(status.Code(poll(otherNS))).To(BeElementOf(codes.OK, codes.DeadlineExceeded), "polling its own namespace")
		err = poll(ns)
		Expect(status.Code(err)).To(Equal(codes.PermissionDenied), "polling %s with a token of %s: %v", ns, otherNS, err)
		Expect(status.Convert(err).Message()).To(ContainSubstring(ns))
	})

	It("marks the queue's task types inconsistent when its workers register different types", func(ctx SpecContext) {
		Expect(pods).To(HaveLen(2), "the first spec found the pods")
		typesCondition := func(g Gomega) *metav1.Condition {
			var q v1alpha1.TaskQueue
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: queue}, &q)).To(Succeed())
			c := meta.FindStatusCondition(q.Status.Conditions, v1alpha1.ConditionTaskTypesConsistent)
			g.Expect(c).NotTo(BeNil(), "TaskTypesConsistent condition")
			return c
		}
		Eventually(func(g Gomega) {
			c := typesCondition(g)
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "%s: %s", c.Reason, c.Message)
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		// The second pod's worker is redeployed with other task types: the first still
		// registers "sleep", the second "echo".
		stopWorker(workers[pods[1].Name])
		startWorker(ctx, &pods[1], "echo")
		Eventually(func(g Gomega) {
			c := typesCondition(g)
			g.Expect(c.Status).To(Equal(metav1.ConditionFalse), "%s: %s", c.Reason, c.Message)
			g.Expect(c.Reason).To(Equal("TaskTypeMismatch"))
			// The message names the workers (pods) and what each registers.
			g.Expect(c.Message).To(SatisfyAll(
				ContainSubstring(pods[0].Name), ContainSubstring("[sleep]"),
				ContainSubstring(pods[1].Name), ContainSubstring("[echo]"),
			))
			GinkgoWriter.Printf("TaskTypesConsistent=False: %s\n", c.Message)
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
	})
})

// withCPUClass adds a capability that the CPU nodes realize through their class label, so
// the pool's pods are routed to them (and hold no GPU another spec counts on).
func withCPUClass(p *v1alpha1.WorkerPool) {
	p.Spec.Capabilities = append(p.Spec.Capabilities, v1alpha1.Capability{
		Name: "class", Value: "cpu", NodeSelector: map[string]string{"node.taskroute.dev/class": "cpu"},
	})
}

// dialAs connects to the matching service as a ServiceAccount of namespace, with a token
// from the TokenRequest API, as a caller outside the cluster (CLI, service) does.
func dialAs(ctx context.Context, namespace, serviceAccount string) *taskclient.Client {
	token, err := cluster.ServiceAccountToken(ctx, namespace, serviceAccount, "", 10*time.Minute)
	Expect(err).NotTo(HaveOccurred())
	return dialWithToken(ctx, namespace, token)
}

// dialWithToken connects with token and TLS verified against the CA bundle the manager
// published in namespace.
func dialWithToken(ctx context.Context, namespace, token string) *taskclient.Client {
	dir := GinkgoT().TempDir()
	tokenFile, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "ca.crt")
	Expect(os.WriteFile(tokenFile, []byte(token), 0o600)).To(Succeed())
	Expect(cluster.WriteCABundle(ctx, namespace, caFile)).To(Succeed())
	tc, err := credentials.NewCAFileTLS(caFile, credentials.CAFileOptions{})
	Expect(err).NotTo(HaveOccurred())
	tok, err := credentials.NewTokenFile(tokenFile, credentials.TokenFileOptions{})
	Expect(err).NotTo(HaveOccurred())
	c, err := taskclient.Dial(ctx, taskroute.MatchingAddress, taskclient.WithNamespace(namespace),
		taskclient.WithDialOptions(grpc.WithTransportCredentials(tc), grpc.WithPerRPCCredentials(tok)))
	Expect(err).NotTo(HaveOccurred())
	return c
}

// executions returns the task ids a testworker's execution log records (a missing log
// means it ran nothing).
func executions(path string) []string {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	var ids []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text()) // "<unix-nanos> <id> <attempt>"
		Expect(fields).To(HaveLen(3), "line %q of %s", s.Text(), path)
		ids = append(ids, fields[1])
	}
	Expect(s.Err()).NotTo(HaveOccurred())
	return ids
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
