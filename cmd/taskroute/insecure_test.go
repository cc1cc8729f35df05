package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

// authRecorder is a plaintext server that records the authorization metadata it gets.
type authRecorder struct {
	matchingv1.UnimplementedMatchingServiceServer
	mu    sync.Mutex
	calls int
	auth  []string
}

func (r *authRecorder) DescribeQueue(ctx context.Context, req *matchingv1.DescribeQueueRequest) (*matchingv1.DescribeQueueResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	r.calls++
	r.auth = append(r.auth, md.Get("authorization")...)
	r.mu.Unlock()
	return &matchingv1.DescribeQueueResponse{Namespace: req.GetNamespace(), Queue: req.GetQueue()}, nil
}

// TestInsecureSendsNoToken: --insecure is plaintext and no token, even when a token file is
// named by flag or by TASKROUTE_TOKEN_FILE.
func TestInsecureSendsNoToken(t *testing.T) {
	rec := &authRecorder{}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	matchingv1.RegisterMatchingServiceServer(srv, rec)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The CLI copies its flags into the environment; t.Setenv restores it afterwards.
	t.Setenv(workerenv.TokenFile, token)
	t.Setenv(workerenv.CAFile, "")
	t.Setenv(workerenv.Insecure, "")
	t.Setenv(workerenv.InsecureToken, "")

	for _, args := range [][]string{
		{"describe", "queue", "q"},
		{"--token-file", token, "describe", "queue", "q"},
	} {
		if _, _, err := runCLI(t, lis.Addr().String(), args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.calls != 2 || len(rec.auth) != 0 {
		t.Fatalf("server saw %d calls with authorization %q; want 2 calls and no token", rec.calls, rec.auth)
	}
}
