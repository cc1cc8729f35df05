// Package security tests the matching service's security end to end: the real kube-apiserver
// (envtest) answers TokenReviews and SubjectAccessReviews for real ServiceAccount tokens
// from the TokenRequest API, and the real matching server serves gRPC over TLS on
// 127.0.0.1 with the auth Guard and a certificate from the self-signed CA manager.
package security

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/auth"
	"github.com/taskroute/taskroute/internal/certs"
	"github.com/taskroute/taskroute/internal/matching/server"
	"github.com/taskroute/taskroute/internal/testutil"
	"github.com/taskroute/taskroute/pkg/credentials"
)

const managerNamespace = "taskroute-system"

var (
	cluster *testutil.Cluster
	cfg     *rest.Config
	kube    kubernetes.Interface
)

func TestMain(m *testing.M) {
	testutil.RunMain(m, func(c *testutil.Cluster) error {
		cluster, cfg, kube = c, c.Config, c.Kube
		_, err := kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: managerNamespace}}, metav1.CreateOptions{})
		return err
	})
}

// fakeClock drives certificate renewals.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time       { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Step(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// matchingServer is the real matching service with the manager's security wiring.
type matchingServer struct {
	addr   string
	caFile string // the CA bundle, as the manager publishes it
	ca     *certs.SelfSigned
	clock  *fakeClock
}

// startServer starts the service as cmd/manager wires it: the Guard (TokenReview and
// SubjectAccessReview against envtest) and TLS from the self-signed CA manager, whose
// Secret lives in envtest. Each call gets its own CA Secret.
func startServer(t *testing.T) *matchingServer {
	t.Helper()
	return startServerWithClientCAs(t, nil)
}

// startServerWithClientCAs is startServer with --matching-client-ca-file's pool (nil: none).
func startServerWithClientCAs(t *testing.T, clientCAs *x509.CertPool) *matchingServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := ctrlclient.New(cfg, ctrlclient.Options{Scheme: testutil.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	// Certificates are issued 45 minutes in the past, so a test can make the hour-long
	// serving certificate due for renewal (at 2/3) by moving the clock to the present.
	clock := &fakeClock{now: time.Now().Add(-45 * time.Minute)}
	ca, err := certs.NewSelfSigned(c, c, certs.SelfSignedOptions{
		Namespace: managerNamespace, SecretName: "ca-" + randomSuffix(),
		DNSNames: []string{"taskroute-matching"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ServingValidity: time.Hour, CAValidity: 24 * time.Hour, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	log := logr.Discard()
	guard, err := auth.NewGuard(auth.Enforce,
		// A short TTL so a revoked token stops working within the test.
		auth.NewAuthenticator(kube.AuthenticationV1().TokenReviews(), auth.AuthenticatorOptions{TTL: time.Second, NegativeTTL: time.Second, Log: log}),
		auth.NewAuthorizer(kube.AuthorizationV1().SubjectAccessReviews(), auth.AuthorizerOptions{Log: log}), log)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := server.Open(server.Config{
		Address: "127.0.0.1:0", DataDir: t.TempDir(), Logger: log, ShutdownTimeout: 2 * time.Second,
		ServerOptions: []grpc.ServerOption{
			grpc.Creds(grpccreds.NewTLS(certs.WithClientCAs(certs.ServerTLSConfig(ca), clientCAs))),
			grpc.ChainUnaryInterceptor(guard.UnaryServerInterceptor()),
			grpc.ChainStreamInterceptor(guard.StreamServerInterceptor()),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, ca.CABundle(), 0o644); err != nil {
		t.Fatal(err)
	}
	return &matchingServer{addr: svc.Addr(), caFile: caFile, ca: ca, clock: clock}
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// newServiceAccount creates a ServiceAccount.
func newServiceAccount(t *testing.T, ns, name string) {
	t.Helper()
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(context.Background(), &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// requestToken mints a token with the TokenRequest API, as the kubelet does for the
// projected volume; bound, when secret is set, to that Secret (deleting it revokes the
// token).
func requestToken(t *testing.T, ns, sa, audience string, secret *corev1.Secret) string {
	t.Helper()
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences: []string{audience}, ExpirationSeconds: ptr.To[int64](3600),
	}}
	if secret != nil {
		tr.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: secret.Name, UID: secret.UID}
	}
	res, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), sa, tr, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", ns, sa, err)
	}
	return res.Status.Token
}

// dial returns a raw matching client that trusts caFile and sends token ("" sends none).
func dial(t *testing.T, addr, caFile, token string) matchingv1.MatchingServiceClient {
	t.Helper()
	tc, err := credentials.NewCAFileTLS(caFile, credentials.CAFileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(tc)}
	if token != "" {
		file := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(file, []byte(token), 0o600); err != nil {
			t.Fatal(err)
		}
		tf, err := credentials.NewTokenFile(file, credentials.TokenFileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(tf))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return matchingv1.NewMatchingServiceClient(conn)
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
