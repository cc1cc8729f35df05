package client

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/taskroute/taskroute/internal/matching/server"
)

// TestDialUsesTheProtocolCodec: a Client from Dial sends its calls to the real matching
// service with the connection's own codec (content-subtype "proto", protocodec), not
// gRPC's default codec, and the service answers them.
func TestDialUsesTheProtocolCodec(t *testing.T) {
	contentTypes := make(chan string, 10)
	record := grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		contentTypes <- md.Get("content-type")[0]
		return handler(ctx, req)
	})
	svc, err := server.Open(server.Config{Address: "127.0.0.1:0", DataDir: t.TempDir(), ServerOptions: []grpc.ServerOption{record}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = svc.Start(t.Context()) }()
	t.Cleanup(svc.Stop)

	c, err := Dial(t.Context(), svc.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.AddTask(t.Context(), Task{ID: "t1", Queue: "q", Type: "send", Payload: []byte("x")})
	if err != nil || !res.Created {
		t.Fatalf("AddTask: %+v, %v", res, err)
	}
	if got := <-contentTypes; got != "application/grpc+proto" {
		t.Fatalf("content-type %q, want application/grpc+proto (the connection's forced codec)", got)
	}
}
