package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	rbacv1 "k8s.io/api/rbac/v1"

	esv1 "github.com/taskroute/taskroute/api/externalscaler/v1alpha1"
	"github.com/taskroute/taskroute/internal/certs"
)

// echoScaler answers every KEDA RPC; IsActive reports whether the guard left a caller.
type echoScaler struct {
	esv1.UnimplementedExternalScalerServer
}

func (echoScaler) IsActive(ctx context.Context, _ *esv1.ScaledObjectRef) (*esv1.IsActiveResponse, error) {
	_, ok := CallerFrom(ctx)
	return &esv1.IsActiveResponse{Result: ok}, nil
}
func (echoScaler) StreamIsActive(_ *esv1.ScaledObjectRef, s grpc.ServerStreamingServer[esv1.IsActiveResponse]) error {
	return s.Send(&esv1.IsActiveResponse{Result: true})
}
func (echoScaler) GetMetricSpec(context.Context, *esv1.ScaledObjectRef) (*esv1.GetMetricSpecResponse, error) {
	return &esv1.GetMetricSpecResponse{}, nil
}
func (echoScaler) GetMetrics(context.Context, *esv1.GetMetricsRequest) (*esv1.GetMetricsResponse, error) {
	return &esv1.GetMetricsResponse{}, nil
}

// everyScalerRPC calls each method of KEDA's ExternalScaler once for namespace ns.
var everyScalerRPC = []struct {
	name string
	call func(ctx context.Context, c esv1.ExternalScalerClient, ns string) error
}{
	{"IsActive", func(ctx context.Context, c esv1.ExternalScalerClient, ns string) error {
		_, err := c.IsActive(ctx, scaledObject(ns))
		return err
	}},
	{"StreamIsActive", func(ctx context.Context, c esv1.ExternalScalerClient, ns string) error {
		s, err := c.StreamIsActive(ctx, scaledObject(ns))
		if err == nil {
			_, err = s.Recv()
		}
		return err
	}},
	{"GetMetricSpec", func(ctx context.Context, c esv1.ExternalScalerClient, ns string) error {
		_, err := c.GetMetricSpec(ctx, scaledObject(ns))
		return err
	}},
	{"GetMetrics", func(ctx context.Context, c esv1.ExternalScalerClient, ns string) error {
		_, err := c.GetMetrics(ctx, &esv1.GetMetricsRequest{ScaledObjectRef: scaledObject(ns), MetricName: "taskroute-backlog"})
		return err
	}},
}

func scaledObject(ns string) *esv1.ScaledObjectRef {
	return &esv1.ScaledObjectRef{Name: "workers", Namespace: ns, ScalerMetadata: map[string]string{"queue": "q"}}
}

func TestEveryScalerRPCHasAVerbAndATestCase(t *testing.T) {
	var names []string
	for _, m := range esv1.ExternalScaler_ServiceDesc.Methods {
		names = append(names, m.MethodName)
	}
	for _, s := range esv1.ExternalScaler_ServiceDesc.Streams {
		names = append(names, s.StreamName)
	}
	if len(names) != len(everyScalerRPC) {
		t.Fatalf("ExternalScaler has %d methods, the test covers %d", len(names), len(everyScalerRPC))
	}
	for _, n := range names {
		if v := VerbFor("/" + esv1.ExternalScaler_ServiceDesc.ServiceName + "/" + n); v != VerbGet {
			t.Errorf("%s needs verb %q, want %q", n, v, VerbGet)
		}
	}
}

// tlsScaler serves echoScaler behind g over TLS that accepts client certificates of
// clientCA, as the manager does with --matching-client-ca-file.
func tlsScaler(t *testing.T, g *Guard, clientCA *certs.KeyPair) (addr string, serverCA *certs.KeyPair) {
	t.Helper()
	now := time.Now()
	serverCA, err := certs.NewCA("matching-ca", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	serving, err := certs.IssueServing(serverCA, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := serving.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.Cert)
	cfg := certs.WithClientCAs(&tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*pair}, NextProtos: []string{"h2"}}, pool)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(grpccreds.NewTLS(cfg)),
		grpc.ChainUnaryInterceptor(g.UnaryServerInterceptor()), grpc.ChainStreamInterceptor(g.StreamServerInterceptor()))
	esv1.RegisterExternalScalerServer(srv, echoScaler{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String(), serverCA
}

// kedaClient dials like KEDA's external scaler with enableTLS and TriggerAuthentication
// caCert, tlsClientCert and tlsClientKey (client may be nil: no certificate).
func kedaClient(t *testing.T, addr string, serverCA, client *certs.KeyPair) esv1.ExternalScalerClient {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.Cert)
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots}
	if client != nil {
		pair, err := client.TLSCertificate()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{*pair}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(grpccreds.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return esv1.NewExternalScalerClient(conn)
}

func TestKEDAAuthenticatesWithAClientCertificate(t *testing.T) {
	apps, other := cluster.NewNamespace(t, "keda-apps"), cluster.NewNamespace(t, "keda-other")
	now := time.Now()
	clientCA, err := certs.NewCA("keda-clients", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	strangerCA, err := certs.NewCA("stranger", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	kedaCert, err := certs.IssueClient(clientCA, "keda-operator", []string{"keda"}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := certs.IssueClient(strangerCA, "keda-operator", []string{"keda"}, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	grantQueues(t, apps, []string{VerbGet}, nil, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "keda-operator"})
	addr, serverCA := tlsScaler(t, enforcingGuard(t), clientCA)

	keda := kedaClient(t, addr, serverCA, kedaCert)
	eventually(t, func() error { return everyScalerRPC[0].call(context.Background(), keda, apps) })
	for _, r := range everyScalerRPC {
		if err := r.call(context.Background(), keda, apps); err != nil {
			t.Fatalf("%s in the granted namespace: %v", r.name, err)
		}
		wantCode(t, r.call(context.Background(), keda, other), codes.PermissionDenied, "keda-operator")
		wantCode(t, r.call(context.Background(), kedaClient(t, addr, serverCA, nil), apps), codes.Unauthenticated, "missing")
		if err := r.call(context.Background(), kedaClient(t, addr, serverCA, forged), apps); err == nil {
			t.Fatalf("%s with a certificate of an unknown CA succeeded", r.name)
		}
	}
}

func TestKEDAAuthenticatesWithAServiceAccountToken(t *testing.T) {
	a, b := cluster.NewNamespace(t, "keda-a"), cluster.NewNamespace(t, "keda-b")
	newServiceAccount(t, a, "scaler")
	token := requestToken(t, a, "scaler", DefaultAudience, nil)
	clientCA, err := certs.NewCA("keda-clients", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	addr, serverCA := tlsScaler(t, enforcingGuard(t), clientCA)
	c := kedaClient(t, addr, serverCA, nil)
	for _, r := range everyScalerRPC {
		if err := r.call(withToken(token), c, a); err != nil {
			t.Fatalf("%s in the token's namespace: %v", r.name, err)
		}
		wantCode(t, r.call(withToken(token), c, b), codes.PermissionDenied, b)
	}
}
