package metricsauth

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/taskroute/taskroute/internal/testutil"
)

var cluster *testutil.Cluster

func TestMain(m *testing.M) {
	testutil.RunMain(m, func(c *testutil.Cluster) error {
		cluster = c
		return nil
	})
}

// TestSecureMetricsNeedTokenAndRBAC serves /metrics as the manager does with
// --metrics-secure and asks it as three callers: no token (401), a real ServiceAccount
// token without RBAC (403), and one bound to the ClusterRole the installs ship (200).
func TestSecureMetricsNeedTokenAndRBAC(t *testing.T) {
	addr := startMetricsServer(t, true)
	url := "https://" + addr + "/metrics"
	ns := cluster.NewNamespace(t, "metrics")

	if code, _ := scrape(t, url, ""); code != http.StatusUnauthorized {
		t.Errorf("without a token: status %d, want 401", code)
	}

	stranger := serviceAccountToken(t, ns, "stranger")
	if code, _ := scrape(t, url, stranger); code != http.StatusForbidden {
		t.Errorf("token without RBAC: status %d, want 403", code)
	}

	// A different ServiceAccount for the allowed case: the filter caches denials (30 s).
	reader := serviceAccountToken(t, ns, "prometheus")
	bindMetricsReader(t, ns, "prometheus")
	code, body := scrape(t, url, reader)
	if code != http.StatusOK || !strings.Contains(body, "# HELP") {
		t.Errorf("token bound to the metrics reader role: status %d, body %.200q; want 200 with metrics", code, body)
	}
}

// TestPlainMetricsWithoutKubernetesChecks: --metrics-secure=false serves plain HTTP to
// anyone, as documented.
func TestPlainMetricsWithoutKubernetesChecks(t *testing.T) {
	addr := startMetricsServer(t, false)
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("plain /metrics status = %d, want 200", resp.StatusCode)
	}
}

// startMetricsServer runs controller-runtime's metrics server with ServerOptions on a
// free loopback port until the test ends, and returns its address once it answers.
func startMetricsServer(t *testing.T, secure bool) string {
	t.Helper()
	addr := freeAddr(t)
	httpClient, err := rest.HTTPClientFor(cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := metricsserver.NewServer(ServerOptions(addr, secure), cluster.Config, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitListening(t, addr, done)
	return addr
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitListening polls until addr accepts connections, with a deadline.
func waitListening(t *testing.T, addr string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("metrics server stopped: %v", err)
		default:
		}
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics server on %s did not listen within 10s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scrape GETs url as a scraper does: HTTPS without verifying the generated certificate,
// the token (if any) as a bearer token.
func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the endpoint's certificate is generated at start
	}}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// serviceAccountToken creates ServiceAccount ns/name and mints a token for it with the
// TokenRequest API (the kube-apiserver's own audience, as a scraper's projected token).
func serviceAccountToken(t *testing.T, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cluster.Kube.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := cluster.Kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// bindMetricsReader creates the ClusterRole of config/rbac/metrics_reader_role.yaml (the
// one the installs ship, once) and binds it to ServiceAccount ns/name.
func bindMetricsReader(t *testing.T, ns, name string) {
	t.Helper()
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "config", "rbac", "metrics_reader_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := sigsyaml.UnmarshalStrict(data, role); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.Kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.Kube.RbacV1().ClusterRoles().Delete(ctx, role.Name, metav1.DeleteOptions{}) })
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%s-metrics", ns, name)},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
	}
	if _, err := cluster.Kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAllowed(t, "system:serviceaccount:"+ns+":"+name)
}

// waitAllowed polls the kube-apiserver's authorizer, with a deadline, until user may get
// /metrics: RBAC bindings reach it through an informer, and the filter would cache an
// early denial for 30 s.
func waitAllowed(t *testing.T, user string) {
	t.Helper()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:                  user,
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"},
	}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := cluster.Kube.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Status.Allowed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("RBAC did not allow %s to get /metrics within 10s", user)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
