package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/certs"
	"github.com/taskroute/taskroute/internal/testutil"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestManagerRunsAndStops runs the manager as main does (flags parsed, real API server)
// and checks probes, metrics behind authentication, one reconciled pool and a graceful stop.
func TestManagerRunsAndStops(t *testing.T) {
	env, err := testutil.NewEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := testutil.Start(env)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()

	probe, metrics, matching := freeAddr(t), freeAddr(t), freeAddr(t)
	opts := &options{}
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	opts.bind(fs)
	if err := fs.Parse([]string{
		"--health-probe-bind-address=" + probe, "--metrics-bind-address=" + metrics,
		"--matching-address=matching.example.svc:7233", "--graceful-shutdown-timeout=5s",
	}); err != nil {
		t.Fatal(err)
	}

	// Defaults: auth enforced, self-signed TLS with the CA Secret in this namespace. The
	// matching service gets a free port and a temporary store, not :7233 and /var/lib.
	opts.security.namespace = "default"
	opts.matching.bindAddress, opts.matching.dataDir = matching, t.TempDir()
	opts.reuseControllerNames = true // -count=2 runs this test twice in one process

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, opts) }()

	for _, path := range []string{"/healthz", "/readyz"} {
		waitFor(t, path, 20*time.Second, func() bool {
			select {
			case err := <-done: // a manager that failed to start will never answer
				t.Fatalf("manager stopped before %s answered: %v", path, err)
			default:
			}
			resp, err := http.Get(fmt.Sprintf("http://%s%s", probe, path))
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}

	c, err := client.New(cfg, client.Options{Scheme: testutil.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	pool := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "smoke"},
		Spec: v1alpha1.WorkerPoolSpec{Queue: "smoke", Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "worker", Image: "example.com/worker:1"}},
		}}},
	}
	if err := c.Create(ctx, pool); err != nil {
		t.Fatal(err)
	}
	d := &appsv1.Deployment{}
	waitFor(t, "the pool's Deployment", 20*time.Second, func() bool {
		return c.Get(ctx, types.NamespacedName{Namespace: "default", Name: "smoke"}, d) == nil
	})
	if got := d.Spec.Template.Spec.Containers[0].Env[0]; got.Name != "TASKROUTE_ADDRESS" || got.Value != "matching.example.svc:7233" {
		t.Errorf("first env = %+v, want TASKROUTE_ADDRESS from --matching-address", got)
	}

	// Self-signed TLS: the CA Secret in the manager namespace, its bundle published to the
	// pool's namespace for the workers.
	waitFor(t, "the CA Secret", 20*time.Second, func() bool {
		return c.Get(ctx, types.NamespacedName{Namespace: "default", Name: certs.DefaultCASecretName}, &corev1.Secret{}) == nil
	})
	bundle := &corev1.ConfigMap{}
	waitFor(t, "the CA bundle ConfigMap", 20*time.Second, func() bool {
		return c.Get(ctx, types.NamespacedName{Namespace: "default", Name: certs.DefaultBundleConfigMapName}, bundle) == nil
	})
	if !strings.Contains(bundle.Data[certs.BundleKey], "BEGIN CERTIFICATE") {
		t.Errorf("CA bundle ConfigMap has no certificate: %v", bundle.Data)
	}

	// Metrics are secure by default: HTTPS, and a caller without a token is refused
	// (internal/metricsauth tests the tokens and RBAC that get through).
	insecureTLS := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // generated certificate
	resp, err := insecureTLS.Get(fmt.Sprintf("https://%s/metrics", metrics))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: status %d, want 401", resp.StatusCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v after shutdown, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("manager did not stop within 15s of shutdown")
	}

	// The manager is gone and the pool is still there, as after an uninstall.
	checkUninstallLeftovers(t, c, "default", "default")
}
