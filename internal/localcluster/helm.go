package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HelmRelease describes a `helm upgrade --install` into the cluster.
type HelmRelease struct {
	// Helm is the helm binary (TASKROUTE_HELM_BIN).
	Helm      string
	Name      string
	Chart     string // a chart directory
	Namespace string
	// Set are --set values, e.g. "replicaCount=0".
	Set []string
}

// HelmInstall installs or upgrades a release with the cluster's admin kubeconfig, and
// returns helm's output. Helm's own state (cache, config) stays in the work directory.
func (c *Cluster) HelmInstall(ctx context.Context, r HelmRelease) (string, error) {
	if r.Helm == "" {
		r.Helm = os.Getenv("TASKROUTE_HELM_BIN")
	}
	if r.Helm == "" {
		return "", fmt.Errorf("no helm binary: set TASKROUTE_HELM_BIN (hack/testbin.sh helm, then eval \"$(hack/testbin-env.sh)\")")
	}
	args := []string{"upgrade", "--install", r.Name, r.Chart,
		"--namespace", r.Namespace, "--create-namespace",
		"--kubeconfig", c.Kubeconfig, "--timeout", "2m"}
	for _, s := range r.Set {
		args = append(args, "--set", s)
	}
	cmd := exec.CommandContext(ctx, r.Helm, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+c.WorkDir+"/helm/cache",
		"HELM_CONFIG_HOME="+c.WorkDir+"/helm/config",
		"HELM_DATA_HOME="+c.WorkDir+"/helm/data",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %v: %w\n%s", args, err, out)
	}
	return string(out), nil
}

// WaitForCRDs waits until each named CustomResourceDefinition is Established, so that
// objects of its kinds can be applied.
func (c *Cluster) WaitForCRDs(ctx context.Context, timeout time.Duration, names ...string) error {
	cs, err := apiextensionsclient.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, name := range names {
		err := c.waitFor(ctx, "CRD "+name+" to be established", func(ctx context.Context) (bool, error) {
			crd, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
