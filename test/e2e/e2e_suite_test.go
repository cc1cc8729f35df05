// Package e2e runs taskroute end to end on a local cluster of real Kubernetes components
// with kwok fake nodes (internal/localcluster): the chart installs CRDs and RBAC, the
// manager runs as a local process, and the real scheduler places the worker pods. Worker
// processes (test/matching/testworker) play the kwok pods, with the pods' env and
// pod-bound tokens, and take tasks through the embedded matching service.
//
// It needs the control-plane binaries and is skipped unless TASKROUTE_E2E is set:
//
//	hack/testbin.sh all && eval "$(hack/testbin-env.sh)"
//	TASKROUTE_E2E=1 go test ./test/e2e/... -v -timeout 20m
//
// TASKROUTE_E2E_KEEP=1 keeps the cluster's work directory (logs, kubeconfig) afterwards.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/internal/localcluster"
	"github.com/taskroute/taskroute/internal/testutil"
)

var (
	cluster   *localcluster.Cluster
	taskroute *localcluster.Taskroute
	k8s       client.Client
	anyFailed bool
)

func TestE2E(t *testing.T) {
	if os.Getenv("TASKROUTE_E2E") == "" {
		t.Skip("end-to-end suite: set TASKROUTE_E2E=1 after hack/testbin.sh all and eval \"$(hack/testbin-env.sh)\"")
	}
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(2 * time.Minute)
	SetDefaultEventuallyPollingInterval(250 * time.Millisecond)
	// Spec contexts have no deadline; without this an Eventually given one would wait
	// until the whole suite times out.
	EnforceDefaultTimeoutsWhenUsingContexts()
	RunSpecs(t, "taskroute end-to-end")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	start := time.Now()
	cluster, err = localcluster.Start(ctx, localcluster.Options{
		Progress:    GinkgoWriter,
		KeepWorkDir: os.Getenv("TASKROUTE_E2E_KEEP") != "",
	})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(stopCluster)
	GinkgoWriter.Printf("cluster ready in %s; work dir %s\n", time.Since(start).Round(time.Millisecond), cluster.WorkDir)

	taskroute, err = cluster.InstallTaskroute(ctx, localcluster.TaskrouteOptions{
		RepoRoot: testutil.RepoRoot(),
		// Status specs wait for queue statistics; the default 15 s refresh would dominate.
		ManagerArgs: []string{"--stats-refresh-interval=2s"},
	})
	Expect(err).NotTo(HaveOccurred(), func() string { return "installing taskroute; logs:\n" + cluster.LogTails(3000) })
	GinkgoWriter.Printf("taskroute installed (chart + local manager) in %s\n", time.Since(start).Round(time.Millisecond))

	k8s, err = client.New(cluster.Config, client.Options{Scheme: testutil.Scheme()})
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(10*time.Minute))

// stopCluster stops everything; the logs were printed by the first failed spec.
func stopCluster() {
	if cluster != nil {
		cluster.Stop()
	}
}

// After the first failed spec: where the worker pods are, and every component's log tail
// (the full logs are in the work directory; TASKROUTE_E2E_KEEP=1 keeps it).
var _ = AfterEach(func() {
	if !CurrentSpecReport().Failed() || anyFailed || cluster == nil {
		return
	}
	anyFailed = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ps, err := cluster.WorkerPlacements(ctx, ""); err == nil {
		GinkgoWriter.Println("worker pods at failure:")
		localcluster.WritePlacements(GinkgoWriter, ps)
	}
	if err := cluster.Healthy(); err != nil {
		GinkgoWriter.Printf("cluster unhealthy: %v\n", err)
	}
	fmt.Fprintf(GinkgoWriter, "\ncomponent logs (full logs in %s/logs):\n", cluster.WorkDir)
	cluster.WriteLogTails(GinkgoWriter, 3000)
})
