package localcluster

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/taskroute/taskroute/internal/render"
)

func TestPKISignsServingAndClientCertificates(t *testing.T) {
	p, err := newPKI(t.TempDir(), net.ParseIP("10.96.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.caCert)

	serving := readCert(t, p.servingCertFile)
	if _, err := serving.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("serving cert for 127.0.0.1: %v", err)
	}
	if _, err := serving.Verify(x509.VerifyOptions{Roots: roots, DNSName: "kubernetes.default.svc"}); err != nil {
		t.Errorf("serving cert for kubernetes.default.svc: %v", err)
	}
	if !slices.ContainsFunc(serving.IPAddresses, func(ip net.IP) bool { return ip.Equal(net.ParseIP("10.96.0.1")) }) {
		t.Errorf("serving cert lacks the kubernetes Service IP: %v", serving.IPAddresses)
	}

	cc, err := p.clientCertificate("alice", "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(cc.certPEM)
	client, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client cert: %v", err)
	}
	if client.Subject.CommonName != "alice" || !slices.Equal(client.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("client subject = %v, want CN alice, O system:masters", client.Subject)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := readBounded(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaultNodesMatchWhatGPUPoolsRequire(t *testing.T) {
	gpu, cpu := 0, 0
	for _, s := range DefaultNodes() {
		n := nodeObject(s)
		if n.Labels[render.HostnameLabel] != n.Name {
			t.Errorf("%s: hostname label %q", n.Name, n.Labels[render.HostnameLabel])
		}
		if n.Annotations[KwokNodeAnnotation] != "fake" {
			t.Errorf("%s: not marked for kwok", n.Name)
		}
		q := n.Status.Allocatable[render.NvidiaGPU]
		switch {
		case slices.Contains(GPUNodeNames, n.Name):
			gpu++
			// The label the builder derives for capability gpu=a100.
			if got := n.Labels[render.CapabilityLabelKey(render.GPUCapability)]; got != GPUModel {
				t.Errorf("%s: capability label = %q", n.Name, got)
			}
			if q.Value() != 4 || len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != string(render.NvidiaGPU) || n.Spec.Taints[0].Effect != corev1.TaintEffectNoSchedule {
				t.Errorf("%s: gpus %s taints %v", n.Name, q.String(), n.Spec.Taints)
			}
		case slices.Contains(CPUNodeNames, n.Name):
			cpu++
			if !q.IsZero() || len(n.Spec.Taints) != 0 {
				t.Errorf("%s: CPU node with gpus %s taints %v", n.Name, q.String(), n.Spec.Taints)
			}
		default:
			t.Errorf("unexpected node %s", n.Name)
		}
	}
	if gpu != len(GPUNodeNames) || cpu != len(CPUNodeNames) {
		t.Errorf("got %d GPU and %d CPU nodes", gpu, cpu)
	}
}

func TestWriteKubeconfigAsImpersonates(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(filepath.Join(dir, "pki"), net.ParseIP("10.96.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := p.clientCertificate(AdminUser, "system:masters")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{WorkDir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig")}
	if err := writeKubeconfig(c.Kubeconfig, "https://127.0.0.1:1", p.caCertPEM, admin); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sa.kubeconfig")
	user := "system:serviceaccount:ns:sa"
	if err := c.WriteKubeconfigAs(path, user, ServiceAccountGroups("ns")); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Impersonate.UserName != user || !slices.Contains(cfg.Impersonate.Groups, "system:serviceaccounts:ns") {
		t.Errorf("impersonation = %+v", cfg.Impersonate)
	}
	if len(cfg.CertData) == 0 || len(cfg.CAData) == 0 {
		t.Error("impersonating kubeconfig lost the admin credentials")
	}
}

func TestFreePortsAreDistinct(t *testing.T) {
	ports, err := freePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ports)
	if len(slices.Compact(ports)) != 5 {
		t.Errorf("ports not distinct: %v", ports)
	}
}
