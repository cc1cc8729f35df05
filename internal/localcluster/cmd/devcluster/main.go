// Command devcluster is `make dev`: it starts the local cluster (real control plane, kwok
// fake GPU and CPU nodes), installs taskroute with the Helm chart, runs the manager as a
// local process, applies config/samples, prints where the worker pods landed, and keeps
// everything running until interrupted. hack/dev.sh builds the binaries and runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/localcluster"
	"github.com/taskroute/taskroute/internal/render"
	"github.com/taskroute/taskroute/internal/testutil"
)

func main() {
	root, _ := os.Getwd()
	repo := flag.String("repo-root", root, "The taskroute checkout (chart, ./cmd/manager, samples).")
	samples := flag.String("samples", "config/samples", "Directory whose YAML files are applied (relative to --repo-root).")
	namespace := flag.String("namespace", "default", "Namespace for sample objects that name none.")
	workDir := flag.String("work-dir", filepath.Join(os.TempDir(), "taskroute-dev"), "The cluster's directory (kubeconfig, logs); emptied at start, removed at exit.")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *repo, *samples, *namespace, *workDir); err != nil {
		fmt.Fprintf(os.Stderr, "\nmake dev failed: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, repo, samples, namespace, workDir string) error {
	// A previous run that was killed leaves its directory (its processes died with it).
	if err := os.RemoveAll(workDir); err != nil {
		return err
	}
	start := time.Now()
	c, err := localcluster.Start(ctx, localcluster.Options{WorkDir: workDir, Progress: os.Stdout})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("\nStopping the manager and the cluster ...")
		c.Stop()
		fmt.Println("Stopped; removed", workDir)
	}()
	fail := func(err error) error {
		fmt.Fprintf(os.Stderr, "\ncomponent logs (full logs in %s/logs):\n", workDir)
		c.WriteLogTails(os.Stderr, 3000)
		return err
	}

	fmt.Println("[dev] installing the chart (manager Deployment at 0 replicas) and running the manager locally")
	tr, err := c.InstallTaskroute(ctx, localcluster.TaskrouteOptions{RepoRoot: repo})
	if err != nil {
		return fail(err)
	}
	dir := samples
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(repo, dir)
	}
	fmt.Println("[dev] applying", dir)
	objs, err := c.ApplyDir(ctx, dir, namespace)
	if err != nil {
		return fail(err)
	}
	for _, o := range objs {
		fmt.Printf("  %s/%s %s applied\n", o.GetKind(), o.GetName(), o.GetNamespace())
	}

	k8s, err := client.New(c.Config, client.Options{Scheme: testutil.Scheme()})
	if err != nil {
		return fail(err)
	}
	waitForWorkers(ctx, c, k8s, 90*time.Second)
	fmt.Printf("\nWhere the worker pods landed (%s after start):\n", time.Since(start).Round(time.Second))
	if ps, err := c.WorkerPlacements(ctx, ""); err == nil {
		localcluster.WritePlacements(os.Stdout, ps)
	}
	printPools(ctx, k8s)

	fmt.Printf(`
The cluster is up. In another shell:

  export KUBECONFIG=%[1]s
  hack/testbin.sh kubectl        # builds kubectl once, into the tool cache
  eval "$(hack/testbin-env.sh)"; kubectl=$TASKROUTE_KUBE_BIN_DIR/kubectl
  $kubectl get workerpools,taskqueues
  $kubectl get pods -o wide      # nodes kwok-node-gpu-* are GPU nodes, kwok-node-cpu-* CPU-only
  $kubectl get nodes -L capabilities.taskroute.dev/gpu

Matching service: %[2]s   Manager health: http://%[3]s/readyz
Metrics (HTTPS, for tokens allowed to get /metrics):
  $kubectl create clusterrolebinding default-metrics --clusterrole=taskroute-metrics-reader --serviceaccount=default:default
  curl -k -H "Authorization: Bearer $($kubectl create token default)" https://%[4]s/metrics
Logs of every component (and the manager): %[5]s/logs
Press Ctrl-C to stop and clean up.
`, c.Kubeconfig, tr.MatchingAddress, tr.HealthAddress, tr.MetricsAddress, workDir)

	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := c.Healthy(); err != nil {
				return fail(err)
			}
		}
	}
}

// waitForWorkers waits until every worker pod is Running or the scheduler has said why
// it cannot place it, so the summary shows settled placements.
func waitForWorkers(ctx context.Context, c *localcluster.Cluster, k8s client.Client, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		var pools v1alpha1.WorkerPoolList
		var pods corev1.PodList
		if k8s.List(ctx, &pools) == nil && k8s.List(ctx, &pods, client.HasLabels{render.LabelPool}) == nil {
			want := int32(0)
			for _, p := range pools.Items {
				if p.Spec.Replicas != nil {
					want += *p.Spec.Replicas
				}
			}
			settled := 0
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning || unschedulable(p) {
					settled++
				}
			}
			if int32(settled) >= want && len(pods.Items) > 0 {
				return
			}
		}
		select {
		case <-ctx.Done():
			if !errors.Is(ctx.Err(), context.Canceled) {
				fmt.Println("[dev] worker pods did not all settle within", timeout)
			}
			return
		case <-time.After(time.Second):
		}
	}
}

func unschedulable(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return true
		}
	}
	return false
}

func printPools(ctx context.Context, k8s client.Client) {
	var pools v1alpha1.WorkerPoolList
	if err := k8s.List(ctx, &pools); err != nil {
		return
	}
	fmt.Println("\nWorkerPools:")
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tQUEUE\tREADY\tDESIRED\tSTATUS")
	for _, p := range pools.Items {
		status := "-"
		for _, cond := range p.Status.Conditions {
			if cond.Type == v1alpha1.ConditionReady {
				status = string(cond.Status) + " (" + cond.Reason + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", p.Namespace, p.Name, p.Spec.Queue, p.Status.ReadyReplicas, p.Status.DesiredReplicas, status)
	}
	_ = tw.Flush()
}
