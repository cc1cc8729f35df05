package testutil

import (
	"context"
	"fmt"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Cluster is a running envtest control plane with its clients, for suites built on the
// standard testing package (Ginkgo suites use NewEnvironment and Start in BeforeSuite).
type Cluster struct {
	Env    *envtest.Environment
	Config *rest.Config
	Client client.Client        // controller-runtime client with taskroute's scheme
	Kube   kubernetes.Interface // client-go clientset
}

// RunMain is the body of a TestMain: it starts envtest, hands it to setup (which keeps
// what the package's tests need), runs the tests, stops envtest and exits with the tests'
// status.
func RunMain(m *testing.M, setup func(*Cluster) error) {
	os.Exit(runMain(m, setup))
}

func runMain(m *testing.M, setup func(*Cluster) error) int {
	env, err := NewEnvironment()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := Start(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	c := &Cluster{Env: env, Config: cfg}
	if c.Client, err = client.New(cfg, client.Options{Scheme: Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if c.Kube, err = kubernetes.NewForConfig(cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := setup(c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// NewNamespace creates a namespace with a unique name that starts with prefix.
func (c *Cluster) NewNamespace(t testing.TB, prefix string) string {
	t.Helper()
	ns, err := c.Kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}
