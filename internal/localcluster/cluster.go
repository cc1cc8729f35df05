// Package localcluster starts a local Kubernetes cluster made of the real components
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) and kwok, which plays
// the kubelet of fake nodes: pods are scheduled by the real scheduler by affinity, taints
// and extended resources, and kwok marks them Running without running containers.
// The end-to-end suite and `make dev` use it. See docs/local-cluster.md.
package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	// serviceCIDR is the Service IP range; its first address is the kubernetes Service.
	serviceCIDR = "10.96.0.0/16"
	// podCIDR is where kwok takes fake pod IPs from (room for thousands of pods).
	podCIDR = "10.244.0.0/16"
	// serviceAccountIssuer is what a real cluster uses.
	serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	// AdminUser is the identity of the admin kubeconfig (group system:masters).
	AdminUser = "taskroute-admin"
)

// Cluster is a running local cluster.
type Cluster struct {
	// WorkDir holds data, certificates, the kubeconfig and logs/<component>.log.
	WorkDir string
	// Kubeconfig is the path of an admin kubeconfig (user in system:masters).
	Kubeconfig string
	// Config is the admin client configuration.
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// Nodes are the fake nodes that were created.
	Nodes []NodeSpec

	keepWorkDir bool
	procs       []*process
	stopOnce    sync.Once
}

// Start starts the cluster and returns once every component works: the apiserver is
// ready, the controller-manager created the default ServiceAccount and cleared the
// not-ready taint of every fake node, and kwok reports every node Ready. On error
// everything started so far is stopped and the error carries the components' log tails.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	// Ports are chosen free, then bound by another process a moment later; another
	// program can take one in between. That is worth a fresh attempt, nothing else is.
	for attempt := 1; ; attempt++ {
		c, err := start(ctx, opts)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == 3 {
			return c, err
		}
		first, _, _ := strings.Cut(err.Error(), "\n")
		fmt.Fprintf(opts.Progress, "[localcluster] a port was taken meanwhile; starting again (%s)\n", first)
	}
}

func start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	c := &Cluster{WorkDir: opts.WorkDir, keepWorkDir: opts.KeepWorkDir, Nodes: opts.Nodes}
	if err := c.prepareWorkDir(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.LogTails(3000))
			// Keep the directory of a failed start when asked, so its logs can be read.
			c.Stop()
		}
	}()
	progress := func(format string, a ...any) { fmt.Fprintf(opts.Progress, "[localcluster] "+format+"\n", a...) }
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdPort, etcdPeerPort, apiPort := ports[0], ports[1], ports[2]
	keys, err := c.writeAdminCredentials(apiPort)
	if err != nil {
		return nil, err
	}
	b := opts.Binaries

	progress("starting etcd on %s", hostPort(etcdPort))
	etcdURL, err := c.startEtcd(ctx, b.Etcd, etcdPort, etcdPeerPort)
	if err != nil {
		return nil, err
	}
	progress("starting kube-apiserver on %s", c.Config.Host)
	if err := c.startAPIServer(ctx, b.APIServer, etcdURL, apiPort, keys); err != nil {
		return nil, err
	}
	progress("starting kube-controller-manager, kube-scheduler and kwok")
	if err := c.startNodeComponents(b, keys); err != nil {
		return nil, err
	}
	progress("creating %d fake nodes", len(opts.Nodes))
	if err := c.createNodes(ctx); err != nil {
		return nil, err
	}
	progress("cluster ready; kubeconfig %s", c.Kubeconfig)
	return c, nil
}

func (c *Cluster) start(name, logDir, bin string, args ...string) error {
	p, err := startProcess(name, logDir, bin, args...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// nodesReady reports whether every fake node is Ready and no longer carries the
// not-ready taint that admission puts on new nodes.
func (c *Cluster) nodesReady(ctx context.Context) (bool, error) {
	for _, s := range c.Nodes {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		ready := false
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready = true
			}
		}
		if !ready {
			return false, nil
		}
		for _, t := range n.Spec.Taints {
			if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
				return false, nil
			}
		}
	}
	return true, nil
}

// waitFor polls cond until it holds, the context ends, or a component exits.
func (c *Cluster) waitFor(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := c.checkAlive(); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		pollCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := cond(pollCtx)
		cancel()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// checkAlive returns an error naming the first component that has exited.
func (c *Cluster) checkAlive() error {
	for _, p := range c.procs {
		if gone, err := p.exited(); gone {
			if strings.Contains(p.tail(4096), "address already in use") {
				err = fmt.Errorf("%w: %v", errPortTaken, err)
			}
			return fmt.Errorf("%s exited (%w); see %s", p.name, err, p.logFile)
		}
	}
	return nil
}

// errPortTaken marks a component that could not bind the port chosen for it.
var errPortTaken = errors.New("port already in use")

// LogFile returns the log file of a component or of a process started with
// StartProcess, e.g. LogFile("manager").
func (c *Cluster) LogFile(name string) string {
	return filepath.Join(c.WorkDir, "logs", name+".log")
}

// Healthy returns an error if any component has exited, for long-running callers.
func (c *Cluster) Healthy() error { return c.checkAlive() }

// LogTails returns the last n bytes of each component's log, for failure reports.
func (c *Cluster) LogTails(n int64) string {
	var b strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&b, "----- %s (%s) -----\n%s\n", p.name, p.logFile, p.tail(n))
	}
	return b.String()
}

// WriteLogTails writes LogTails to w.
func (c *Cluster) WriteLogTails(w io.Writer, n int64) { _, _ = io.WriteString(w, c.LogTails(n)) }

// Stop stops every component (newest first, SIGTERM then SIGKILL to each process group)
// and removes the work directory unless it was to be kept. It is safe to call twice.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].stop(10 * time.Second)
		}
		if !c.keepWorkDir && c.WorkDir != "" {
			_ = os.RemoveAll(c.WorkDir)
		}
	})
}

func httpOK(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK
}
