package credentials

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/certs"
	"github.com/taskroute/taskroute/internal/testutil"
)

// fakeClock is a settable time source.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time       { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Step(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestTokenFileFollowsKubeletSymlinkSwap(t *testing.T) {
	vol := &testutil.ProjectedVolume{Dir: t.TempDir()}
	vol.Write(t, map[string]string{"token": "token-1\n"})
	clock := &fakeClock{now: time.Now()}
	tf, err := NewTokenFile(filepath.Join(vol.Dir, "token"), TokenFileOptions{CheckInterval: 5 * time.Second, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	md, err := tf.GetRequestMetadata(context.Background())
	if err != nil || md["authorization"] != "Bearer token-1" {
		t.Fatalf("metadata %v, %v", md, err)
	}

	vol.Write(t, map[string]string{"token": "token-2"})
	// Within the check interval the token in memory is reused: no file access per call.
	if tok, _ := tf.Token(); tok != "token-1" {
		t.Fatalf("re-read before the check interval: %q", tok)
	}
	clock.Step(6 * time.Second)
	if tok, _ := tf.Token(); tok != "token-2" {
		t.Fatalf("rotation not picked up: %q", tok)
	}

	// An in-place rewrite that keeps size and modification time is caught by MaxAge.
	path := filepath.Join(vol.Dir, "..data", "token")
	info, _ := os.Stat(path)
	if err := os.WriteFile(path, []byte("token-3"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(path, info.ModTime(), info.ModTime())
	clock.Step(6 * time.Second)
	if tok, _ := tf.Token(); tok != "token-2" {
		t.Fatalf("want the unchanged-looking file not re-read yet, got %q", tok)
	}
	clock.Step(time.Minute)
	if tok, _ := tf.Token(); tok != "token-3" {
		t.Fatalf("MaxAge did not force a re-read: %q", tok)
	}

	// A broken update (file gone mid-rotation) keeps the last good token.
	_ = os.Remove(path)
	clock.Step(time.Minute)
	if tok, _ := tf.Token(); tok != "token-3" {
		t.Fatalf("lost the token on a read error: %q", tok)
	}
}

func TestTokenFileRejectsMissingOrEmpty(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewTokenFile(filepath.Join(dir, "none"), TokenFileOptions{}); err == nil {
		t.Fatal("missing token file accepted")
	}
	_ = os.WriteFile(filepath.Join(dir, "empty"), []byte(" \n"), 0o600)
	if _, err := NewTokenFile(filepath.Join(dir, "empty"), TokenFileOptions{}); err == nil {
		t.Fatal("empty token file accepted")
	}
}

func TestTokenNeedsTransportSecurity(t *testing.T) {
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "token"), []byte("t"), 0o600)
	tf, _ := NewTokenFile(filepath.Join(dir, "token"), TokenFileOptions{})
	if _, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(tf)); err == nil {
		t.Fatal("token credentials allowed over plaintext")
	}
	tf, _ = NewTokenFile(filepath.Join(dir, "token"), TokenFileOptions{AllowInsecure: true})
	if _, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(tf)); err != nil {
		t.Fatalf("explicitly allowed plaintext refused: %v", err)
	}
}

// tokenRecorder is a MatchingService that reports the bearer token it received.
type tokenRecorder struct {
	matchingv1.UnimplementedMatchingServiceServer
}

func (tokenRecorder) GetTask(ctx context.Context, _ *matchingv1.GetTaskRequest) (*matchingv1.GetTaskResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return &matchingv1.GetTaskResponse{Task: &matchingv1.TaskInfo{TaskId: md.Get("authorization")[0]}}, nil
}

func serveTLS(t *testing.T, src certs.Source) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(grpccreds.NewTLS(certs.ServerTLSConfig(src))))
	matchingv1.RegisterMatchingServiceServer(srv, tokenRecorder{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// staticSource serves one certificate.
type staticSource struct {
	mu     sync.Mutex
	cert   *tls.Certificate
	bundle []byte
}

func (s *staticSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cert, nil
}
func (s *staticSource) CABundle() []byte { return s.bundle }

func (s *staticSource) issue(t *testing.T, ca *certs.KeyPair) {
	t.Helper()
	kp, err := certs.IssueServing(ca, []string{"taskroute-matching"}, []net.IP{net.ParseIP("127.0.0.1")}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := kp.TLSCertificate()
	s.mu.Lock()
	s.cert = c
	s.mu.Unlock()
}

func TestEndToEndTokenRotationAndCARotation(t *testing.T) {
	ca1, _ := certs.NewCA("ca-1", time.Now(), time.Hour)
	ca2, _ := certs.NewCA("ca-2", time.Now(), time.Hour)
	src := &staticSource{}
	src.issue(t, ca1)
	addr := serveTLS(t, src)

	vol := &testutil.ProjectedVolume{Dir: t.TempDir()}
	vol.Write(t, map[string]string{"token": "token-1", "ca.crt": string(ca1.CertPEM)})
	t.Setenv(EnvTokenFile, filepath.Join(vol.Dir, "token"))
	t.Setenv(EnvCAFile, filepath.Join(vol.Dir, "ca.crt"))
	opts, err := DialOptions()
	if err != nil {
		t.Fatal(err)
	}
	// Short check intervals stand in for the time a real rotation takes.
	tc, _ := NewCAFileTLS(filepath.Join(vol.Dir, "ca.crt"), CAFileOptions{CheckInterval: time.Millisecond, ServerName: "taskroute-matching"})
	tf, _ := NewTokenFile(filepath.Join(vol.Dir, "token"), TokenFileOptions{CheckInterval: time.Millisecond})
	call := func(opts ...grpc.DialOption) (string, error) {
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, err := matchingv1.NewMatchingServiceClient(conn).GetTask(ctx, &matchingv1.GetTaskRequest{Namespace: "a", TaskId: "t"})
		if err != nil {
			return "", err
		}
		return res.Task.TaskId, nil
	}

	if got, err := call(opts...); err != nil || got != "Bearer token-1" {
		t.Fatalf("DialOptions from the environment: %q, %v", got, err)
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(tc), grpc.WithPerRPCCredentials(tf))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := matchingv1.NewMatchingServiceClient(conn)
	get := func() string {
		res, err := client.GetTask(context.Background(), &matchingv1.GetTaskRequest{Namespace: "a", TaskId: "t"})
		if err != nil {
			t.Fatal(err)
		}
		return res.Task.TaskId
	}
	if got := get(); got != "Bearer token-1" {
		t.Fatal(got)
	}
	vol.Write(t, map[string]string{"token": "token-2", "ca.crt": string(ca1.CertPEM) + string(ca2.CertPEM)})
	time.Sleep(5 * time.Millisecond)
	if got := get(); got != "Bearer token-2" {
		t.Fatalf("rotated token not sent on the same connection: %q", got)
	}

	// The server moves to a certificate of ca-2; new connections verify it with the
	// re-read bundle, without rebuilding the client's credentials.
	src.issue(t, ca2)
	if got, err := call(grpc.WithTransportCredentials(tc), grpc.WithPerRPCCredentials(tf)); err != nil || got != "Bearer token-2" {
		t.Fatalf("after CA rotation: %q, %v", got, err)
	}
	// A client that trusts only the system roots is refused.
	t.Setenv(EnvCAFile, "")
	os.Unsetenv(EnvCAFile)
	sys, err := DialOptions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := call(sys...); err == nil {
		t.Fatal("a client without the CA was accepted")
	}
}

func TestDialOptionsErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvTokenFile, filepath.Join(dir, "missing"))
	t.Setenv(EnvInsecure, "true")
	t.Setenv(EnvInsecureToken, "true")
	if _, err := DialOptions(); err == nil {
		t.Fatal("an explicitly configured but missing token file was accepted")
	}
	t.Setenv(EnvInsecureToken, "yes please")
	if _, err := DialOptions(); err == nil {
		t.Fatal("a bad TASKROUTE_INSECURE_TOKEN was accepted")
	}
	t.Setenv(EnvInsecureToken, "")
	t.Setenv(EnvInsecure, "maybe")
	if _, err := DialOptions(); err == nil {
		t.Fatal("a bad TASKROUTE_INSECURE was accepted")
	}
	t.Setenv(EnvInsecure, "false")
	_ = os.WriteFile(filepath.Join(dir, "token"), []byte("t"), 0o600)
	t.Setenv(EnvTokenFile, filepath.Join(dir, "token"))
	t.Setenv(EnvCAFile, filepath.Join(dir, "no-ca"))
	if _, err := DialOptions(); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
}
