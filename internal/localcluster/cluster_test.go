package localcluster_test

import (
	"context"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taskroute/taskroute/internal/localcluster"
)

// TestStartStop starts the whole cluster and checks the fake nodes; it runs with the
// end-to-end tests (TASKROUTE_E2E=1) because it needs the control-plane binaries.
func TestStartStop(t *testing.T) {
	if os.Getenv("TASKROUTE_E2E") == "" {
		t.Skip("set TASKROUTE_E2E=1 (and eval \"$(hack/testbin-env.sh)\") to start a local cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	c, err := localcluster.Start(ctx, localcluster.Options{Progress: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	dir := c.WorkDir
	t.Logf("cluster started in %s", time.Since(start).Round(time.Millisecond))
	nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		c.Stop()
		t.Fatal(err)
	}
	if got, want := len(nodes.Items), len(localcluster.DefaultNodes()); got != want {
		t.Errorf("nodes: got %d, want %d", got, want)
	}
	for _, n := range nodes.Items {
		gpu := n.Status.Allocatable[localcluster.GPUResource]
		if n.Labels[localcluster.GPULabel] == localcluster.GPUModel && gpu.Value() != 4 {
			t.Errorf("GPU node %s allocatable %s, want 4 GPUs", n.Name, gpu.String())
		}
	}
	c.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("work dir %s still exists after Stop", dir)
	}
	if err := c.Healthy(); err == nil {
		t.Error("components still reported alive after Stop")
	}
}
