package certs

import (
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/internal/testutil"
)

var (
	cluster    *testutil.Cluster
	restConfig *rest.Config
	k8sClient  client.Client
)

func TestMain(m *testing.M) {
	testutil.RunMain(m, func(c *testutil.Cluster) error {
		cluster, restConfig, k8sClient = c, c.Config, c.Client
		return nil
	})
}
