package client_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/certs"
	"github.com/taskroute/taskroute/pkg/client"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

// describeRecorder answers DescribeQueue with the bearer token it received as the queue.
type describeRecorder struct {
	matchingv1.UnimplementedMatchingServiceServer
}

func (describeRecorder) DescribeQueue(ctx context.Context, req *matchingv1.DescribeQueueRequest) (*matchingv1.DescribeQueueResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	tok := "none"
	if v := md.Get("authorization"); len(v) == 1 {
		tok = v[0]
	}
	return &matchingv1.DescribeQueueResponse{Queue: tok}, nil
}

func serve(t *testing.T, opts ...grpc.ServerOption) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	matchingv1.RegisterMatchingServiceServer(srv, describeRecorder{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func TestFromEnvironmentSendsTokenAndVerifiesServer(t *testing.T) {
	ca, err := certs.NewCA("test-ca", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := certs.IssueServing(ca, nil, []net.IP{net.ParseIP("127.0.0.1")}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := pair.TLSCertificate()
	tlsAddr := serve(t, grpc.Creds(grpccreds.NewTLS(&tls.Config{Certificates: []tls.Certificate{*cert}})))
	plainAddr := serve(t)

	dir := t.TempDir()
	tokenFile, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "ca.crt")
	_ = os.WriteFile(tokenFile, []byte("secret-token\n"), 0o600)
	_ = os.WriteFile(caFile, ca.CertPEM, 0o600)
	t.Setenv(workerenv.Namespace, "team-a")
	t.Setenv(workerenv.TokenFile, tokenFile)
	t.Setenv(workerenv.CAFile, caFile)
	t.Setenv(workerenv.Insecure, "")
	os.Unsetenv(workerenv.Insecure)
	t.Setenv(workerenv.InsecureToken, "")

	describe := func(addr string) (string, error) {
		t.Helper()
		t.Setenv(workerenv.Address, addr)
		c, err := client.FromEnvironment(context.Background(), client.WithCallTimeout(5*time.Second))
		if err != nil {
			return "", err
		}
		defer c.Close()
		d, err := c.DescribeQueue(context.Background(), "q")
		if err != nil {
			return "", err
		}
		return d.Queue, nil
	}
	if got, err := describe(tlsAddr); err != nil || got != "Bearer secret-token" {
		t.Fatalf("over verified TLS: %q, %v; want the token sent", got, err)
	}
	// A plaintext server is refused: the SDK insists on TLS unless told otherwise.
	if _, err := describe(plainAddr); err == nil {
		t.Fatal("FromEnvironment talked plaintext without TASKROUTE_INSECURE")
	}
	// A client that does not trust the server's CA is refused.
	other, _ := certs.NewCA("other-ca", time.Now(), time.Hour)
	_ = os.WriteFile(caFile, other.CertPEM, 0o600)
	if _, err := describe(tlsAddr); err == nil {
		t.Fatal("a server signed by an untrusted CA was accepted")
	}
	// Development: plaintext only when asked for by name, and then no token travels in
	// clear, although a token file is configured.
	t.Setenv(workerenv.Insecure, "true")
	if got, err := describe(plainAddr); err != nil || got != "none" {
		t.Fatalf("with TASKROUTE_INSECURE=true: %q, %v; want no token", got, err)
	}
	// The token goes over plaintext only when that is asked for by name too.
	t.Setenv(workerenv.InsecureToken, "true")
	if got, err := describe(plainAddr); err != nil || got != "Bearer secret-token" {
		t.Fatalf("with TASKROUTE_INSECURE_TOKEN=true: %q, %v", got, err)
	}
	// A configured but missing token file is then an error at dial time, not a silent
	// anonymous client.
	t.Setenv(workerenv.TokenFile, filepath.Join(dir, "missing"))
	if _, err := describe(plainAddr); err == nil {
		t.Fatal("a missing token file was accepted")
	}
}

func TestFromEnvironmentNeedsAddress(t *testing.T) {
	t.Setenv(workerenv.Address, "")
	if _, err := client.FromEnvironment(context.Background()); err == nil {
		t.Fatal("no address accepted")
	}
}
