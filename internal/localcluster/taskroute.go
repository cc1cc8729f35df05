package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ManagerProcessName is the name StartProcess gives the manager (logs/manager.log).
const ManagerProcessName = "manager"

// TaskrouteOptions configure InstallTaskroute.
type TaskrouteOptions struct {
	// RepoRoot is the checkout: the chart is RepoRoot/charts/taskroute and the manager is
	// built from RepoRoot/cmd/manager.
	RepoRoot string
	// Helm is the helm binary; empty means TASKROUTE_HELM_BIN.
	Helm string
	// Namespace of the release; empty means taskroute-system.
	Namespace string
	// ManagerArgs are added to the manager's flags.
	ManagerArgs []string
}

// Taskroute is an installed release with its manager running as a local process.
type Taskroute struct {
	Namespace string
	// ServiceAccount is the chart's manager ServiceAccount, which the local manager
	// impersonates so that it runs with exactly the chart's RBAC.
	ServiceAccount string
	// MatchingAddress is the loopback address of the embedded matching service.
	MatchingAddress string
	// HealthAddress serves /healthz and /readyz; MetricsAddress serves /metrics.
	HealthAddress, MetricsAddress string
	// ManagerBinary is the manager that was built.
	ManagerBinary string
}

// InstallTaskroute installs the Helm chart with its manager Deployment scaled to 0 (the
// CRDs, RBAC and Services are what the release provides here), builds the manager, and
// runs it as a local process that impersonates the chart's ServiceAccount. Kwok pods run
// no containers, so the manager cannot run as a pod; running it as the ServiceAccount still
// proves the chart's RBAC is enough.
func (c *Cluster) InstallTaskroute(ctx context.Context, o TaskrouteOptions) (*Taskroute, error) {
	if o.Namespace == "" {
		o.Namespace = "taskroute-system"
	}
	const release = "taskroute"
	if _, err := c.HelmInstall(ctx, HelmRelease{
		Helm: o.Helm, Name: release, Chart: filepath.Join(o.RepoRoot, "charts", "taskroute"), Namespace: o.Namespace,
		Set: []string{"replicaCount=0", "persistence.enabled=false", "leaderElection.enabled=false"},
	}); err != nil {
		return nil, err
	}
	if err := c.WaitForCRDs(ctx, time.Minute, "taskqueues.taskroute.dev", "workerpools.taskroute.dev"); err != nil {
		return nil, err
	}
	t := &Taskroute{Namespace: o.Namespace, ServiceAccount: release + "-manager"}
	if _, err := c.Client.CoreV1().ServiceAccounts(o.Namespace).Get(ctx, t.ServiceAccount, metav1.GetOptions{}); err != nil {
		return nil, fmt.Errorf("the chart's manager ServiceAccount %s/%s: %w", o.Namespace, t.ServiceAccount, err)
	}

	var err error
	if t.ManagerBinary, err = c.GoBuild(ctx, o.RepoRoot, "./cmd/manager", "manager"); err != nil {
		return nil, fmt.Errorf("building the manager: %w", err)
	}

	kubeconfig := filepath.Join(c.WorkDir, "manager.kubeconfig")
	user := "system:serviceaccount:" + o.Namespace + ":" + t.ServiceAccount
	if err := c.WriteKubeconfigAs(kubeconfig, user, ServiceAccountGroups(o.Namespace)); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	t.HealthAddress, t.MetricsAddress, t.MatchingAddress = hostPort(ports[0]), hostPort(ports[1]), hostPort(ports[2])
	dataDir := filepath.Join(c.WorkDir, "manager-data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	args := []string{
		"--leader-elect=false",
		"--health-probe-bind-address=" + t.HealthAddress,
		"--metrics-bind-address=" + t.MetricsAddress,
		// Worker pods are kwok pods; workers in tests are local processes on loopback.
		"--matching-address=" + t.MatchingAddress,
	}
	// The embedded matching service's flags (the chart passes them too); a manager built
	// without the matching service does not have them yet.
	flags, err := managerFlags(ctx, t.ManagerBinary)
	if err != nil {
		return nil, err
	}
	for flag, value := range map[string]string{"matching-bind-address": t.MatchingAddress, "data-dir": dataDir} {
		if flags[flag] {
			args = append(args, "--"+flag+"="+value)
		}
	}
	args = append(args, o.ManagerArgs...)
	env := []string{"KUBECONFIG=" + kubeconfig, "POD_NAMESPACE=" + o.Namespace}
	if err := c.StartProcess(ManagerProcessName, env, t.ManagerBinary, args...); err != nil {
		return nil, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.waitFor(waitCtx, "the manager's /readyz on "+t.HealthAddress, func(ctx context.Context) (bool, error) {
		return httpOK(ctx, "http://"+t.HealthAddress+"/readyz"), nil
	}); err != nil {
		return nil, err
	}
	return t, nil
}

// CreateNamespace creates a namespace and waits for its default ServiceAccount, which the
// ServiceAccount admission plugin requires before it admits pods there.
func (c *Cluster) CreateNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return c.waitFor(waitCtx, "ServiceAccount "+name+"/default", func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

// managerFlags returns the names of the flags the manager binary accepts, from its -help.
func managerFlags(ctx context.Context, bin string) (map[string]bool, error) {
	out, _ := exec.CommandContext(ctx, bin, "-help").CombinedOutput() // flag exits 0 or 2
	flags := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "-") {
			flags[strings.TrimLeft(f[0], "-")] = true
		}
	}
	if !flags["matching-address"] {
		return nil, fmt.Errorf("%s -help lists no --matching-address flag:\n%s", bin, out)
	}
	return flags, nil
}
