package localcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The steps of start, in the order it takes them.

// prepareWorkDir makes the work directory (a temporary one unless WorkDir is set) and its
// logs directory.
func (c *Cluster) prepareWorkDir() error {
	if c.WorkDir == "" {
		dir, err := os.MkdirTemp("", "taskroute-cluster-")
		if err != nil {
			return err
		}
		c.WorkDir = dir
	} else if err := os.RemoveAll(filepath.Join(c.WorkDir, "etcd")); err != nil {
		// A kept directory of an earlier cluster: etcd must not find that cluster's data.
		return err
	}
	return os.MkdirAll(c.logDir(), 0o700)
}

func (c *Cluster) logDir() string { return filepath.Join(c.WorkDir, "logs") }

// writeAdminCredentials makes the cluster's PKI, writes the admin kubeconfig for the
// apiserver on apiPort, and sets Kubeconfig, Config and Client.
func (c *Cluster) writeAdminCredentials(apiPort int) (*pki, error) {
	_, svcNet, _ := net.ParseCIDR(serviceCIDR)
	kubernetesServiceIP := append(net.IP(nil), svcNet.IP.To4()...)
	kubernetesServiceIP[3]++
	keys, err := newPKI(filepath.Join(c.WorkDir, "pki"), kubernetesServiceIP)
	if err != nil {
		return nil, err
	}
	admin, err := keys.clientCertificate(AdminUser, "system:masters")
	if err != nil {
		return nil, err
	}
	server := "https://" + hostPort(apiPort)
	c.Kubeconfig = filepath.Join(c.WorkDir, "kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, server, keys.caCertPEM, admin); err != nil {
		return nil, err
	}
	c.Config = &rest.Config{
		Host:            server,
		TLSClientConfig: rest.TLSClientConfig{CAData: keys.caCertPEM, CertData: admin.certPEM, KeyData: admin.keyPEM},
		QPS:             100,
		Burst:           200,
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	return keys, nil
}

// startEtcd starts etcd and waits until it is healthy; it returns its client URL.
func (c *Cluster) startEtcd(ctx context.Context, bin string, port, peerPort int) (string, error) {
	etcdURL := "http://" + hostPort(port)
	peerURL := "http://" + hostPort(peerPort)
	if err := c.start("etcd", c.logDir(), bin,
		"--name=default",
		"--data-dir="+filepath.Join(c.WorkDir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		// Test data: durability across power loss is not worth fsync on a small disk.
		"--unsafe-no-fsync=true",
	); err != nil {
		return "", err
	}
	return etcdURL, c.waitFor(ctx, "etcd to be healthy", func(ctx context.Context) (bool, error) {
		return httpOK(ctx, etcdURL+"/health"), nil
	})
}

// startAPIServer starts kube-apiserver on port and waits until /readyz answers ok.
func (c *Cluster) startAPIServer(ctx context.Context, bin, etcdURL string, port int, keys *pki) error {
	if err := c.start("kube-apiserver", c.logDir(), bin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--cert-dir="+filepath.Join(c.WorkDir, "apiserver-certs"),
		"--tls-cert-file="+keys.servingCertFile, "--tls-private-key-file="+keys.servingKeyFile,
		"--client-ca-file="+keys.caFile,
		"--service-account-issuer="+serviceAccountIssuer,
		"--service-account-key-file="+keys.saPublicFile,
		"--service-account-signing-key-file="+keys.saPrivateFile,
		"--service-cluster-ip-range="+serviceCIDR,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--profiling=false",
	); err != nil {
		return err
	}
	return c.waitFor(ctx, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && strings.TrimSpace(string(body)) == "ok", nil
	})
}

// startNodeComponents starts kube-controller-manager, kube-scheduler and kwok (the
// kubelet of the fake nodes); createNodes waits for what they do.
func (c *Cluster) startNodeComponents(b Binaries, keys *pki) error {
	if err := c.start("kube-controller-manager", c.logDir(), b.ControllerManager,
		"--kubeconfig="+c.Kubeconfig,
		// The token controller needs the signing key and writes legacy Secrets; pods get
		// projected tokens from the TokenRequest API instead, as in a current cluster.
		"--controllers=*,-serviceaccount-token",
		"--leader-elect=false", "--secure-port=0",
		"--root-ca-file="+keys.caFile,
		"--service-cluster-ip-range="+serviceCIDR,
		"--cluster-name=taskroute-local",
	); err != nil {
		return err
	}
	if err := c.start("kube-scheduler", c.logDir(), b.Scheduler,
		"--kubeconfig="+c.Kubeconfig,
		"--leader-elect=false", "--secure-port=0",
	); err != nil {
		return err
	}
	return c.start("kwok", c.logDir(), b.Kwok,
		"--kubeconfig="+c.Kubeconfig,
		"--config="+b.KwokStages,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+KwokNodeAnnotation+"=fake",
		"--cidr="+podCIDR,
	)
}

// createNodes creates the fake nodes and waits until the controller-manager made the
// default ServiceAccount and every node is Ready and untainted.
func (c *Cluster) createNodes(ctx context.Context) error {
	for _, n := range c.Nodes {
		if _, err := c.Client.CoreV1().Nodes().Create(ctx, nodeObject(n), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating node %s: %w", n.Name, err)
		}
	}
	if err := c.waitFor(ctx, "the default ServiceAccount (kube-controller-manager)", func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return err
	}
	return c.waitFor(ctx, "every fake node Ready and untainted (kwok, node lifecycle controller)", func(ctx context.Context) (bool, error) {
		return c.nodesReady(ctx)
	})
}
